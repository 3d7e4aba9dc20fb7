package app

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
)

// NewCLIProducer is a franz-go producer for one-shot commands
// (kclient.Factory.CheckedProducer); the command's ctx bounds how long it
// retries.
func NewCLIProducer(c Common) (*kgo.Client, error) {
	cl, err := kclient.ForBrokers(c.Brokers...).CheckedProducer(context.Background())
	if err != nil {
		return nil, fmt.Errorf("creating producer: %w", err)
	}
	return cl, nil
}

// ProduceOne writes one record and waits for the ack (bounded to 15 s).
func ProduceOne(ctx context.Context, c Common, r *kgo.Record) (*kgo.Record, error) {
	cl, err := NewCLIProducer(c)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		return nil, fmt.Errorf("producing to %s: %w", r.Topic, kclient.Explain(err, kclient.DefaultSecurity()))
	}
	return r, nil
}

// ReadLatest reads topic from max(start, end-tail) of every partition up to
// the end offsets seen when called, and returns the newest value per key
// (nil for a tombstone). tail <= 0 reads everything (a compacted topic).
// It opens one checked client; ReadLatestWith reuses one for several topics.
func ReadLatest(ctx context.Context, c Common, topic string, tail int64) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cl, err := kclient.ForBrokers(c.Brokers...).TailReader(ctx)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	return ReadLatestWith(ctx, cl, topic, tail)
}

// ReadLatestWith is ReadLatest on cl, a direct client (TailReader) that
// reads nothing else meanwhile; `regime status` reads the regime table and
// the overrides with one.
func ReadLatestWith(ctx context.Context, cl *kgo.Client, topic string, tail int64) (map[string][]byte, error) {
	out := map[string][]byte{}
	if err := kclient.ReadTail(ctx, cl, topic, tail, func(r *kgo.Record) { out[string(r.Key)] = r.Value }); err != nil {
		return nil, fmt.Errorf("reading %s: %w", topic, err)
	}
	return out, nil
}
