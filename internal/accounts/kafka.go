package accounts

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// KafkaPublisher publishes kraite.accounts records with a franz-go client
// (kclient.Factory.Producer: all in-sync replicas acknowledge, the catalog's
// partitioner) and waits for each acknowledgement, bounded by Timeout.
type KafkaPublisher struct {
	Client  *kgo.Client
	Topic   string
	Timeout time.Duration // default 15 s
}

// Publish implements Publisher.
func (p KafkaPublisher) Publish(ctx context.Context, key, value []byte) error {
	t := p.Timeout
	if t <= 0 {
		t = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	if err := p.Client.ProduceSync(ctx, &kgo.Record{Topic: p.Topic, Key: key, Value: value}).FirstErr(); err != nil {
		return fmt.Errorf("producing to %s: %w", p.Topic, err)
	}
	return nil
}
