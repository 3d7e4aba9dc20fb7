package consume

import (
	"cmp"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// SinkConfig is the configuration every sink built on Loop shares (audit,
// orders, regime history): each embeds it in its own Config and adds only
// its own fields, so the loop's settings, their defaults and their checks
// are written once (Loop, Config.Validate, NewLoop). The mark-price sink
// does not run on Loop (it merges ticks instead of writing batches) and has
// a Config of its own.
type SinkConfig struct {
	// Kafka builds the consumer client.
	Kafka *kclient.Factory
	// Prefix is the topic prefix (default topics.DefaultPrefix).
	Prefix string
	// Group is the consumer group (default the sink's group under Prefix:
	// SinkSpec.Group).
	Group string
	// MaxBatch bounds records per database transaction (default 1000).
	MaxBatch int
	// MinBackoff and MaxBackoff bound retries after a database error.
	MinBackoff, MaxBackoff time.Duration
	// Registerer receives the metrics; nil disables them.
	Registerer prometheus.Registerer
	// Linger is how long a busy sink waits for more records to fill a
	// batch (default DefaultLinger; negative: never). A record that finds
	// the sink idle is written at once.
	Linger time.Duration
	// SyncCycle runs the previous cycle (offsets committed synchronously
	// after each batch, then Loop.AfterCommit, before the next poll; no
	// linger), the baseline of the benchmarks and of kraite bench e2e.
	SyncCycle bool
	// MaxAhead is how far a record's event time may lie ahead of this
	// process's clock (default topics.DefaultMaxAhead); each sink's
	// DecodeAt says which times it checks.
	MaxAhead time.Duration
}

// SinkSpec names one sink built on Loop: Name is its metrics label, log
// attribute and error prefix, Topic what it consumes and Group its default
// consumer group (both under SinkConfig.Prefix).
type SinkSpec struct {
	Name  string
	Topic topics.Spec
	Group topics.GroupSpec
}

// Loop is the consumer loop's configuration of sink s: its topic under
// Prefix, Group (default s.Group under Prefix) and the batch, backoff,
// linger and cycle settings, Prefix defaulting to topics.DefaultPrefix.
// Its Validate names a bad field of c.
func (c SinkConfig) Loop(s SinkSpec) Config {
	prefix := cmp.Or(c.Prefix, topics.DefaultPrefix)
	return Config{Kafka: c.Kafka, Topic: s.Topic.Name(prefix), Group: cmp.Or(c.Group, s.Group.Name(prefix)),
		MaxBatch: c.MaxBatch, MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff,
		Linger: c.Linger, SyncCycle: c.SyncCycle}
}

// NewLoop sets Prefix and Group to the names the loop uses (their defaults
// where empty), so that the sink quarantines under the same names, and
// builds the loop of sink s (NewSink). A sink calls it after its own
// Validate.
func (c *SinkConfig) NewLoop(s SinkSpec, log *slog.Logger) (*Loop, *Metrics, *slog.Logger, error) {
	c.Prefix = cmp.Or(c.Prefix, topics.DefaultPrefix)
	c.Group = c.Loop(s).Group
	return NewSink(s.Name, c.Loop(s), c.Registerer, log)
}

// NewSink builds the loop of the sink named name (its metrics label, log
// attribute and error prefix): the loop of cfg, logging with sink=name
// (log nil: discarded), its retries counted in the sink's metrics on reg
// (nil reg: none).
func NewSink(name string, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Loop, *Metrics, *slog.Logger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("sink", name)
	loop, err := New(cfg, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating %s sink: %w", name, err)
	}
	m := NewMetrics(reg, name)
	loop.OnRetry = m.Retry
	return loop, m, log, nil
}
