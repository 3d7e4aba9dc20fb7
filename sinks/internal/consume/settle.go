package consume

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Item is a decoded value with the record it came from.
type Item[V any] struct {
	Val V
	Rec *kgo.Record
}

// Settled is what a sink's handler hands Settle: the polled batch, when its
// handling started, the values to write and the records already refused.
type Settled[V any] struct {
	Recs     []*kgo.Record
	Start    time.Time
	Items    []Item[V]
	Rejected []Rejected
}

// Settle is the tail every sink's handler shares: it writes b.Items with
// write (which returns the rows it wrote), bisecting (Isolate) to find the
// values the database refuses; quarantines those and b.Rejected in one
// produce; and counts the quarantined records, the batch and the rows. what
// names a value in the log and in the quarantine cause ("audit row"). Only
// an outage (database or broker) returns an error.
func Settle[V any](ctx context.Context, l *Loop, m *Metrics, log *slog.Logger, prefix, group, what string,
	b Settled[V], write func(context.Context, []V) (int, error)) error {
	rows := 0
	bad, err := Isolate(ctx, b.Items, func(ctx context.Context, part []Item[V]) error {
		vals := make([]V, len(part))
		for i, it := range part {
			vals[i] = it.Val
		}
		n, err := write(ctx, vals)
		if err == nil {
			rows += n
		}
		return err
	})
	if err != nil {
		return err
	}
	rejected := b.Rejected
	for _, f := range bad {
		log.Warn(what+" refused by the database; record quarantined", "topic", f.Item.Rec.Topic,
			"partition", f.Item.Rec.Partition, "offset", f.Item.Rec.Offset, "err", f.Err)
		rejected = append(rejected, Rejected{Rec: f.Item.Rec, Cause: fmt.Errorf("%s refused by the database: %w", what, f.Err)})
	}
	if err := QuarantineAll(ctx, l.Client(), prefix, group, rejected); err != nil {
		return err
	}
	for range rejected {
		m.Quarantined()
	}
	m.Batch(len(b.Recs), time.Since(b.Start))
	m.Rows(rows)
	return nil
}
