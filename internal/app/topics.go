package app

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

// Catalog is every topic kraite creates: the catalog and the regime's
// group table.
func Catalog() []topics.Spec { return append(topics.All(), regimestate.TableSpec()) }

// EnsureTopics applies the whole catalog to c's brokers (creates what is
// missing, converges what differs) and reports what it did per topic.
func EnsureTopics(ctx context.Context, c Common) ([]topics.Result, error) {
	cl, err := KafkaClient(ctx, c.Brokers, kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		return nil, fmt.Errorf("creating admin client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return topics.Apply(ctx, cl, c.TopicPrefix, Catalog(), int16(c.Replication))
}
