package app

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
)

// NewCLIProducer is a franz-go producer for one-shot commands
// (kclient.ProducerOpts); the command's ctx bounds how long it retries.
func NewCLIProducer(c Common) (*kgo.Client, error) {
	cl, err := kgo.NewClient(kclient.ProducerOpts(c.Brokers, nil)...)
	if err != nil {
		return nil, fmt.Errorf("creating producer: %w", err)
	}
	if err := kclient.Check(context.Background(), cl, kclient.DefaultSecurity()); err != nil {
		cl.Close()
		return nil, err
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
func ReadLatest(ctx context.Context, c Common, topic string, tail int64) (map[string][]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	admCl, err := KafkaClient(ctx, c.Brokers)
	if err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	defer admCl.Close()
	adm := kadm.NewClient(admCl)
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	from := map[string]map[int32]kgo.Offset{topic: {}}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset <= 0 {
			return
		}
		start := int64(0)
		if s, ok := starts.Lookup(topic, o.Partition); ok && s.Err == nil {
			start = s.Offset
		}
		if tail > 0 {
			start = max(start, o.Offset-tail)
		}
		if start >= o.Offset {
			return
		}
		from[topic][o.Partition] = kgo.NewOffset().At(start)
		want[o.Partition] = o.Offset
	})
	out := map[string][]byte{}
	if len(want) == 0 {
		return out, nil
	}
	cl, err := kgo.NewClient(append(kclient.BaseOpts(c.Brokers), kgo.ConsumePartitions(from))...)
	if err != nil {
		return nil, fmt.Errorf("creating consumer: %w", err)
	}
	defer cl.Close()
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("reading %s: %w", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			out[string(r.Key)] = r.Value
			if r.Offset+1 >= want[r.Partition] {
				delete(want, r.Partition)
			}
		})
	}
	return out, nil
}
