package positions

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

func TestAWorkerOverKafkaPlacesOneOrderPerIntentEvenWhenEveryRecordIsProducedTwice(t *testing.T) {
	e := startSim(t, nil)
	b := testkit.Broker(t, prefix)
	topic := topics.Positions.Name(prefix)

	var recs []*kgo.Record
	const perAccount = 4
	for _, a := range e.accounts {
		for i := range perAccount {
			in := intent(a.ID, fmt.Sprintf("kraite-%s-%d", a.ID, i))
			if i%2 == 1 {
				in.Side = "SELL"
			}
			v := allowed(t, in)
			for range 2 {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(a.ID), Value: v})
			}
		}
		transition := []byte(`{"kind":"order_transition","account":"` + a.ID + `","to_status":"FILLED","at":1}`)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(a.ID), Value: transition})
	}
	bad := intent(e.accounts[0].ID, "")
	recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(bad.Account), Value: allowed(t, bad)})

	cl, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	w, err := worker.New(worker.Config{Kafka: kclient.ForBrokers(b.Addr()), Prefix: prefix, Queue: topics.Positions,
		Handler: e.handler, MaxAttempts: 2, Backoff: backoff.Policy{Base: 10 * time.Millisecond, Cap: 40 * time.Millisecond}},
		testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker Run: %v", err)
			}
		}
	}
	defer stop()

	testkit.Eventually(t, 20*time.Second, "every record handled or parked", func() bool {
		return w.Stats.Handled.Load()+w.Stats.Parked.Load() == int64(len(recs))
	})
	stop()

	for _, a := range e.accounts {
		orders := e.sim.Orders(a.ID)
		if len(orders) != perAccount {
			t.Errorf("account %s has %d orders, want %d", a.ID, len(orders), perAccount)
		}
		seen := map[string]bool{}
		for _, o := range orders {
			if seen[o.ClientOrderID] {
				t.Errorf("account %s: client id %s placed twice", a.ID, o.ClientOrderID)
			}
			seen[o.ClientOrderID] = true
			if o.Type != "MARKET" || o.Status != "FILLED" {
				t.Errorf("order %+v, want a filled MARKET order", o)
			}
		}
	}
	if got := w.Stats.Parked.Load(); got != 1 {
		t.Errorf("%d records parked, want 1 (the intent without a client id)", got)
	}
	q := testkit.NewReader(t, b.Addr(), topics.Quarantine.Name(prefix))
	testkit.Eventually(t, 20*time.Second, "the bad intent on quarantine", func() bool { return len(q.Poll(t)) == 1 })
}
