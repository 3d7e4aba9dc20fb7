package orders

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// produceHistory writes the history to the orders topic keyed by account,
// then replays every 5th event again (a duplicate) and appends the first
// event of every order at the end (a late REST backfill).
func produceHistory(t *testing.T, env *sinktest.Env, tr truth) int {
	topic := topics.Orders.Name(env.Prefix)
	var recs []*kgo.Record
	add := func(e *topics.OrderEvent) {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Account), Value: sinktest.JSON(t, e)})
	}
	for _, e := range tr.events {
		add(e)
	}
	for i, e := range tr.events {
		if i%5 == 0 {
			add(e)
		}
	}
	for _, e := range tr.events {
		if e.Status == "NEW" {
			c := *e
			c.Source = "backfill"
			add(&c)
		}
	}
	recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("acc-00"), Value: []byte(`{"exchange":"binance"`)})
	env.Produce(t, recs...)
	return len(recs)
}

func newSink(t *testing.T, env *sinktest.Env, d *db.DB, group string) *Sink {
	s, err := New(Config{SinkConfig: SinkConfig{Kafka: env.Kafka(), Prefix: env.Prefix, Group: group, MaxBatch: 97,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}}, d, sinktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func runUntilCommitted(t *testing.T, env *sinktest.Env, s *Sink, group string) {
	r := sinktest.Run(t, s.Run)
	env.WaitCommitted(t, group, topics.Orders.Name(env.Prefix), 30*time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestOrdersSinkContract(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) { runSinkSuite(t, f.Name, f.New) })
	}
}

func runSinkSuite(t *testing.T, dialect string, newDB func(testing.TB) *db.DB) {
	tr := history(11, 6, 30)

	t.Run("replaying the whole topic twice into empty databases gives identical tables equal to the ground truth", func(t *testing.T) {
		env := sinktest.Start(t)
		produceHistory(t, env, tr)
		var dumps [2][][]string
		for i := range 2 {
			d := newDB(t)
			group := fmt.Sprintf("orders-%d", i)
			runUntilCommitted(t, env, newSink(t, env, d, group), group)
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatalf("run %d: %v", i, err)
			}
			dumps[i] = append(dumpOrders(t, d, orderstatus.KindOrder), dumpOrders(t, d, orderstatus.KindAlgo)...)
			if n := outboxTransitions(t, d); n != tr.transitions {
				t.Errorf("run %d: %d transitions, want %d", i, n, tr.transitions)
			}
		}
		if err := equalTables(dumps[0], dumps[1]); err != nil {
			t.Fatalf("the two replays differ: %v", err)
		}
		if q := env.Consume(t, topics.Quarantine.Name(env.Prefix), 2, 5*time.Second); len(q) != 2 {
			t.Errorf("quarantine has %d records, want 2 (one per run)", len(q))
		}
		pos := env.Consume(t, topics.Positions.Name(env.Prefix), 2*tr.transitions, 10*time.Second)
		if len(pos) != 2*tr.transitions {
			t.Errorf("positions has %d records, want %d", len(pos), 2*tr.transitions)
		}
		var pe topics.PositionEvent
		if err := json.Unmarshal(pos[0].Value, &pe); err != nil || pe.Kind != "order_transition" || pe.Order == nil || pe.To == "" {
			t.Errorf("observer record %s: %v", pos[0].Value, err)
		}
	})

	t.Run("a crash between the database commit and the offset commit loses nothing and doubles nothing", func(t *testing.T) {
		env := sinktest.Start(t)
		produceHistory(t, env, tr)
		d := newDB(t)
		s := newSink(t, env, d, "orders")
		crashes := 0
		s.loop.SetTestCrashAfterWrite(func() bool { crashes++; return crashes == 3 })
		r := sinktest.Run(t, s.Run)
		if err := r.Wait(30 * time.Second); err == nil {
			t.Fatal("the sink did not crash")
		}
		runUntilCommitted(t, env, newSink(t, env, d, "orders"), "orders")
		if err := checkTruth(t, d, tr); err != nil {
			t.Fatal(err)
		}
		pos := env.Consume(t, topics.Positions.Name(env.Prefix), tr.transitions+1, 5*time.Second)
		if len(pos) != tr.transitions {
			t.Errorf("positions has %d records, want exactly %d", len(pos), tr.transitions)
		}
	})

	if dialect == "sqlite" {
		return
	}
	t.Run("a database outage mid-stream ends in the same state as no outage", func(t *testing.T) {
		env := sinktest.Start(t)
		d := newDB(t)
		pd, proxy := sinktest.DBBehindProxy(t, d)
		s := newSink(t, env, pd, "orders")
		r := sinktest.Run(t, s.Run)
		proxy.Down()
		produceHistory(t, env, tr)
		testkit.Eventually(t, 10*time.Second, "the sink to report unhealthy", func() error {
			if s.Healthy() {
				return errors.New("still healthy")
			}
			return nil
		})
		proxy.Up()
		env.WaitCommitted(t, "orders", topics.Orders.Name(env.Prefix), 30*time.Second)
		if !s.Healthy() {
			t.Error("not healthy after recovery")
		}
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := checkTruth(t, d, tr); err != nil {
			t.Fatal(err)
		}
		// The outage was retried, not quarantined: only the one garbage
		// record of the history is in quarantine.
		q := env.Quarantined(t, 2, 2*time.Second)
		for _, r := range q {
			if !strings.Contains(r.Error, "decoding order event") {
				t.Errorf("quarantined during the outage: %q", r.Error)
			}
		}
		if len(q) != 1 {
			t.Errorf("%d records quarantined, want the 1 garbage record", len(q))
		}
	})
}

// outboxTransitions counts the transitions recorded in order_outbox.
func outboxTransitions(t testing.TB, d *db.DB) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), "SELECT COALESCE(SUM(records), 0) FROM order_outbox").Scan(&n); err != nil {
		t.Fatalf("counting outbox transitions: %v", err)
	}
	return n
}
