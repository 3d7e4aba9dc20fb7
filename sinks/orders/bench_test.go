package orders

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
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
