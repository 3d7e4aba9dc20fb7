package markprice_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/simulator"
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
	pub, err := publisher.New(publisher.Config{Brokers: []string{b.Addr()}}, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := markprice.New(markprice.Config{WSBase: "ws" + strings.TrimPrefix(srv.URL, "http"),
		Backoff: wsconn.Backoff{Base: 10 * time.Millisecond, Cap: 100 * time.Millisecond}}, pub, nil, log)
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
