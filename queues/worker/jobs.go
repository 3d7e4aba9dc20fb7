package worker

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/queues/scheduler"
	"github.com/kraite/stream/topics"
)

// JobHandler handles one decoded job.
type JobHandler func(ctx context.Context, job topics.Job) error

// Jobs adapts per-type job handlers to a Handler: it decodes topics.Job,
// drops the repeat of a scheduled job a new scheduler leader re-fired, and
// dispatches on the job type. An undecodable record or an unknown type is a
// permanent error (parked at once).
func Jobs(handlers map[string]JobHandler) Handler {
	dedupe := scheduler.NewDeduper()
	return func(ctx context.Context, rec *kgo.Record) error {
		var j topics.Job
		if err := json.Unmarshal(rec.Value, &j); err != nil {
			return fmt.Errorf("decoding job: %w (%w)", err, ErrPermanent)
		}
		h, ok := handlers[j.Type]
		if !ok {
			return fmt.Errorf("no handler for job type %q: %w", j.Type, ErrPermanent)
		}
		if j.ScheduledMs > 0 && dedupe.Duplicate(j) {
			return nil
		}
		return h(ctx, j)
	}
}
