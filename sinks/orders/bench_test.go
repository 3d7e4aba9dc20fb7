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
// batched (one transaction of multi-row guarded upserts per 1,000 events)
// against one statement and one commit per event, in the same run.
func BenchmarkOrdersUpsert(b *testing.B) {
	tr := history(5, 10, 400) // ~10k events
	events := tr.events[:min(len(tr.events), 10_000)]
	ctx := context.Background()
	perEvent := func(d *db.DB) time.Duration {
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
		start := time.Now()
		for i := 0; i < len(events); i += 1000 {
			if _, err := Write(ctx, d, events[i:min(i+1000, len(events))]); err != nil {
				b.Fatal(err)
			}
		}
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
