package consume

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// Quarantine publishes rec, which consumer could not decode, to the
// quarantine topic under prefix, and waits for the broker's ack (so the
// record's offset may be committed afterwards).
func Quarantine(ctx context.Context, cl *kgo.Client, prefix, consumer string, rec *kgo.Record, cause error) error {
	q := topics.QuarantineRecord{
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		Key:             string(rec.Key),
		Value:           string(rec.Value),
		Consumer:        consumer,
		Error:           cause.Error(),
		AtMs:            time.Now().UnixMilli(),
	}
	if len(rec.Headers) > 0 {
		q.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			q.Headers[h.Key] = string(h.Value)
		}
	}
	v, err := json.Marshal(q)
	if err != nil {
		return fmt.Errorf("encoding quarantine record: %w", err)
	}
	out := &kgo.Record{
		Topic: topics.Quarantine.Name(prefix), Key: rec.Key, Value: v,
		Headers: []kgo.RecordHeader{{Key: topics.HeaderSource, Value: []byte(rec.Topic)}},
	}
	if err := cl.ProduceSync(ctx, out).FirstErr(); err != nil {
		return fmt.Errorf("producing to quarantine: %w", err)
	}
	return nil
}
