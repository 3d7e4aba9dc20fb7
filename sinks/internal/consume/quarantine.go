package consume

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// QuarantineRecord is rec's quarantine record (topics.NewQuarantine:
// bounded whatever rec holds), encoded, ready to produce.
func QuarantineRecord(prefix, consumer string, rec *kgo.Record, cause error) (*kgo.Record, error) {
	return topics.NewQuarantine(topics.QuarantineSourceOf(rec), consumer, cause, time.Now().UnixMilli()).Record(prefix)
}

// Quarantine publishes rec, which consumer could not accept, to the
// quarantine topic under prefix, and waits for the broker's ack (so the
// record's offset may be committed afterwards).
func Quarantine(ctx context.Context, cl *kgo.Client, prefix, consumer string, rec *kgo.Record, cause error) error {
	out, err := QuarantineRecord(prefix, consumer, rec, cause)
	if err != nil {
		return err
	}
	if err := cl.ProduceSync(ctx, out).FirstErr(); err != nil {
		return fmt.Errorf("producing to quarantine: %w", err)
	}
	return nil
}

// Rejected is a record a consumer could not accept, with the reason.
type Rejected struct {
	Rec   *kgo.Record
	Cause error
}

// QuarantineAll publishes the quarantine records of rejected in one
// produce and waits for every ack, so a batch with many bad records costs
// one round trip, not one per record.
func QuarantineAll(ctx context.Context, cl *kgo.Client, prefix, consumer string, rejected []Rejected) error {
	if len(rejected) == 0 {
		return nil
	}
	out := make([]*kgo.Record, 0, len(rejected))
	for _, r := range rejected {
		q, err := QuarantineRecord(prefix, consumer, r.Rec, r.Cause)
		if err != nil {
			return err
		}
		out = append(out, q)
	}
	if err := cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("producing %d records to quarantine: %w", len(out), err)
	}
	return nil
}
