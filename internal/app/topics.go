package app

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
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

// ListTopics writes the catalog under prefix as a table to w.
func ListTopics(w io.Writer, prefix string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRETENTION\tKEY\tVALUE")
	for _, s := range Catalog() {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Name(prefix), s.Partitions, s.RetentionString(), s.Key, s.Value)
	}
	return tw.Flush()
}

// ApplyTopics is EnsureTopics that writes what it did per topic to w.
func ApplyTopics(ctx context.Context, c Common, w io.Writer) error {
	results, err := EnsureTopics(ctx, c)
	for _, r := range results {
		fmt.Fprintf(w, "%-32s %s", r.Topic, r.Action)
		for _, ch := range r.Changes {
			fmt.Fprintf(w, "; %s", ch)
		}
		fmt.Fprintln(w)
	}
	return err
}
