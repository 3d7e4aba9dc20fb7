package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
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

// BenchmarkOrdersUpsert measures, on MariaDB, events per second written
// batched (one Write per 1,000 events: state read, guarded multi-row
// upserts, fills, outbox) against one upsert statement and one commit per
// event, in the same run. Both paths first write a warm-up history of other
// accounts, as a running sink would have: statements are then prepared and
// the tables are not empty.
func BenchmarkOrdersUpsert(b *testing.B) {
	tr := history(5, 10, 400) // ~10k events
	events := tr.events[:min(len(tr.events), 10_000)]
	warm := history(6, 2, 200)
	for _, e := range warm.events {
		e.Account = "warm-" + e.Account
	}
	ctx := context.Background()
	write := func(d *db.DB, evs []*topics.OrderEvent) {
		for i := 0; i < len(evs); i += 1000 {
			if _, err := Write(ctx, d, evs[i:min(i+1000, len(evs))]); err != nil {
				b.Fatal(err)
			}
		}
	}
	perEvent := func(d *db.DB) time.Duration {
		write(d, warm.events)
		start := time.Now()
		for _, e := range events[:2000] {
			err := d.InTx(ctx, func(tx *sql.Tx) error { return upsertRows(ctx, tx, d, []*topics.OrderEvent{e}) })
			if err != nil {
				b.Fatal(err)
			}
		}
		return time.Since(start) / 2000
	}
	batched := func(d *db.DB) time.Duration {
		write(d, warm.events)
		start := time.Now()
		write(d, events)
		return time.Since(start) / time.Duration(len(events))
	}
	var base, fast time.Duration
	for i := 0; i < b.N; i++ {
		base += perEvent(dbtest.MySQL(b))
		fast += batched(dbtest.MySQL(b))
	}
	b.ReportMetric(float64(base)/float64(fast), "x_faster")
	b.ReportMetric(float64(time.Second)/(float64(fast)/float64(b.N)), "events/s_batched")
	b.ReportMetric(float64(time.Second)/(float64(base)/float64(b.N)), "events/s_per_event")
}

// BenchmarkOrdersSinkCycle runs the whole orders sink (kfake broker over
// TCP, MariaDB) on a steady stream of events (KRAITE_BENCH_RATE a second,
// default 1,000, from 200 accounts) twice in the same run: with the
// previous cycle (Config.SyncCycle) and with the current one, twice each
// (sinktest.ABBA), each run on its own broker and database. It reports
// p50/p99 from an event's produce to its database commit (write) and to
// its transition on the positions topic (transition), and the ratios
// previous / current (above 1: the current cycle is faster). Each run
// first drains a warm-up stream of other accounts, so the group has
// joined and statements are prepared. Run it with -benchtime=1x.
func BenchmarkOrdersSinkCycle(b *testing.B) {
	rate := sinktest.BenchRate(b)
	tr := history(31, 200, 5)
	warm := history(32, 20, 5)
	for _, e := range warm.events {
		e.Account = "warm-" + e.Account
	}
	type result struct {
		write, transition sinktest.Latencies
		batches, records  int64
	}
	type ident struct {
		k  orderstatus.Key
		v  Version
		to string
	}
	run := func(syncCycle bool, res *result) {
		tb, end := sinktest.Scope(b)
		defer end()
		env := sinktest.Start(tb)
		d := dbtest.MySQL(tb)
		s, err := New(Config{SinkConfig: SinkConfig{Kafka: env.Kafka(), Prefix: env.Prefix, Group: "bench", SyncCycle: syncCycle}}, d, nil)
		if err != nil {
			b.Fatal(err)
		}
		r := sinktest.Run(tb, s.Run)
		w0, t0 := res.write.N(), res.transition.N()
		topic := topics.Orders.Name(env.Prefix)
		recsOf := func(evs []*topics.OrderEvent) []*kgo.Record {
			out := make([]*kgo.Record, len(evs))
			for i, e := range evs {
				out[i] = &kgo.Record{Topic: topic, Key: []byte(e.Account), Value: sinktest.JSON(b, e)}
			}
			return out
		}
		env.Pace(b, recsOf(warm.events), rate)
		env.WaitCommitted(tb, "bench", topic, time.Minute)
		before := s.loop.Stats()
		s.written = res.write.Written
		recs := recsOf(tr.events)
		env.Pace(b, recs, rate)
		env.WaitCommitted(b, "bench", topic, time.Minute)
		testkit.Eventually(b, time.Minute, "the outbox to be published", func() error {
			if n := dbtest.Count(b, d, "FROM order_outbox WHERE published_at IS NULL"); n > 0 {
				return fmt.Errorf("%d outbox rows unpublished", n)
			}
			return nil
		})
		if err := r.Stop(); err != nil {
			b.Fatal(err)
		}
		after := s.loop.Stats()
		res.batches += after.Batches - before.Batches
		res.records += after.Records - before.Records
		produced := map[ident]time.Time{}
		for i, e := range tr.events {
			produced[ident{orderstatus.KeyOf(e), VersionOf(e), e.Status}] = recs[i].Timestamp
		}
		for _, p := range env.Consume(b, topics.Positions.Name(env.Prefix), warm.transitions+tr.transitions, 30*time.Second) {
			var pe topics.PositionEvent
			if err := json.Unmarshal(p.Value, &pe); err != nil || pe.Order == nil {
				b.Fatalf("observer record %s: %v", p.Value, err)
			}
			if at, ok := produced[ident{orderstatus.KeyOf(pe.Order), VersionOf(pe.Order), pe.To}]; ok {
				res.transition.Add(p.Timestamp.Sub(at))
			}
		}
		if w, tn := res.write.N()-w0, res.transition.N()-t0; w != len(tr.events) || tn != tr.transitions {
			b.Fatalf("measured %d writes of %d events, %d of %d transitions", w, len(tr.events), tn, tr.transitions)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for i := 0; i < b.N; i++ {
		var prev, cur result
		sinktest.ABBA(func() { run(true, &prev) }, func() { run(false, &cur) })
		for _, m := range []struct {
			name string
			p, c *sinktest.Latencies
		}{{"write", &prev.write, &cur.write}, {"transition", &prev.transition, &cur.transition}} {
			b.ReportMetric(ms(m.c.Quantile(0.5)), m.name+"_p50_ms")
			b.ReportMetric(ms(m.c.Quantile(0.99)), m.name+"_p99_ms")
			b.ReportMetric(ms(m.p.Quantile(0.5)), m.name+"_p50_ms_sync")
			b.ReportMetric(ms(m.p.Quantile(0.99)), m.name+"_p99_ms_sync")
			b.ReportMetric(float64(m.p.Quantile(0.99))/float64(max(1, m.c.Quantile(0.99))), "x_"+m.name+"_p99")
		}
		b.ReportMetric(float64(cur.records)/float64(max(1, cur.batches)), "records/batch")
		b.ReportMetric(float64(prev.records)/float64(max(1, prev.batches)), "records/batch_sync")
		b.Logf("2 x %d events per cycle (order sync, current, current, sync) at %d/s from 200 accounts; load average %s", len(tr.events), rate, sinktest.LoadAvg())
	}
}
