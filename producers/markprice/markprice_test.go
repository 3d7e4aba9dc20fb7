package markprice_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/wsconn"
	"github.com/kraite/stream/producers/markprice"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/topics"
)

func TestMarkPriceFramesLandWholeAndSurviveADrop(t *testing.T) {
	sim, err := simulator.New(simulator.Config{Seed: 3, Accounts: 1, OrderInterval: -1, MarkPriceInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	b := testkit.Broker(t, "kraite.")
	log := testkit.Logger(t)
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(b.Addr())}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := markprice.New(markprice.Config{WSBase: "ws" + strings.TrimPrefix(srv.URL, "http"),
		Backoff: backoff.Policy{Base: 10 * time.Millisecond, Cap: 100 * time.Millisecond}}, pub, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sim.Run(ctx) }()
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	testkit.Eventually(t, 10*time.Second, "frames", func() bool { return p.Frames() >= 5 })
	sim.DropConnections("")
	before := p.Frames()
	testkit.Eventually(t, 10*time.Second, "frames after the drop", func() bool { return p.Frames() >= before+5 })
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := pub.Flush(fctx); err != nil {
		t.Fatal(err)
	}

	r := testkit.NewReader(t, b.Addr(), topics.MarkPrice.Name("kraite."))
	testkit.Eventually(t, 10*time.Second, "records", func() bool { return int64(len(r.Poll(t))) >= p.Frames()-1 })
	for _, rec := range r.Poll(t) {
		if string(rec.Key) != topics.ExchangeBinance {
			t.Fatalf("key %q", rec.Key)
		}
		env, err := binance.ParseEnvelope(rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		if !env.Array || env.Count < 500 || env.Event != binance.EventMarkPriceUpdate {
			t.Fatalf("frame is not the whole array: array=%v count=%d event=%q", env.Array, env.Count, env.Event)
		}
	}
}

// TestAnOversizedArrayIsCountedAndTheStreamGoesOn: an array too large for
// the topic is refused before producing and counted, one over the read
// limit drops and re-opens the connection; ticks keep landing either way
// and nothing oversized reaches the topic.
func TestAnOversizedArrayIsCountedAndTheStreamGoesOn(t *testing.T) {
	sim, err := simulator.New(simulator.Config{Seed: 5, Accounts: 1, OrderInterval: -1, MarkPriceInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	b := testkit.Broker(t, "kraite.")
	log := testkit.Logger(t)
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(b.Addr())}, log, publisher.NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	p, err := markprice.New(markprice.Config{WSBase: "ws" + strings.TrimPrefix(srv.URL, "http"),
		Backoff: backoff.Policy{Base: 10 * time.Millisecond, Cap: 100 * time.Millisecond}}, pub, publisher.NewMetrics(nil), log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sim.Run(ctx) }()
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	array := func(size int) []byte {
		el := `{"e":"markPriceUpdate","E":1780000000000,"s":"BTCUSDT","p":"1","i":"1","P":"1","r":"0","T":1}`
		var sb strings.Builder
		sb.WriteString("[")
		for sb.Len() < size {
			if sb.Len() > 1 {
				sb.WriteString(",")
			}
			sb.WriteString(el)
		}
		sb.WriteString("]")
		return []byte(sb.String())
	}
	testkit.Eventually(t, 10*time.Second, "frames", func() bool { return p.Frames() >= 5 })
	sim.InjectMalformed("", array(topics.FrameMaxBytes+1))
	testkit.Eventually(t, 10*time.Second, "the oversized array refused", func() bool { return p.Refused() == 1 })
	before := p.Frames()
	testkit.Eventually(t, 10*time.Second, "frames after the refused array", func() bool { return p.Frames() >= before+5 })

	sim.InjectMalformed("", array(wsconn.DefaultReadLimit+1))
	testkit.Eventually(t, 10*time.Second, "the array over the read limit counted", func() bool { return p.Refused() == 2 })
	before = p.Frames()
	testkit.Eventually(t, 10*time.Second, "frames after the reconnect", func() bool { return p.Frames() >= before+5 })
	if pub.Refused() != 1 || pub.Failed() != 0 {
		t.Fatalf("publisher refused %d, failed %d; want 1 and 0", pub.Refused(), pub.Failed())
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer fcancel()
	if err := pub.Flush(fctx); err != nil {
		t.Fatal(err)
	}
	r := testkit.NewReader(t, b.Addr(), topics.MarkPrice.Name("kraite."))
	testkit.Eventually(t, 10*time.Second, "records", func() bool { return len(r.Poll(t)) >= 15 })
	for _, rec := range r.Poll(t) {
		if len(rec.Value) > topics.FrameMaxBytes {
			t.Fatalf("a %d-byte array reached the topic", len(rec.Value))
		}
	}
}
