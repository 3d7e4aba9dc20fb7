// Package consume is the consumer loop the three sinks share: a franz-go
// consumer group that polls a batch, hands it to the sink until the sink has
// written it (retrying with capped backoff while the database or broker is
// down, never skipping), then commits exactly that batch's offsets.
//
// # Bad records are not retried
//
// A record that can never be written (it fails validation, or the database
// refuses its values) must not stall the loop: the handler quarantines it
// (Quarantine) and writes the rest, and returns an error only for an outage.
// IsBadRecord tells the two apart by the error, and Isolate finds the
// records behind a database data error in a batch (see classify.go).
//
// # Commit timing
//
// Auto-commit is off and rebalances are blocked while a polled batch is in
// flight (kgo.BlockRebalanceOnPoll), so a partition cannot move to another
// member between the database commit and the offset commit. A crash between
// the two replays the batch, which the sinks' idempotent writes absorb.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
)

// Config configures one consumer group loop.
type Config struct {
	Brokers []string
	Topic   string
	Group   string
	// MaxBatch is the most records handed to the sink at once (default 1000).
	MaxBatch int
	// MinBackoff and MaxBackoff bound the retry delay after a failed batch
	// (defaults 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// ClientID names the client in broker logs (default the group).
	ClientID string
	// Hooks are franz-go hooks for the client (kprom metrics); optional.
	Hooks []kgo.Hook
}

// Validate names the bad field.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0 || c.Brokers[0] == "":
		return errors.New("brokers: at least one broker is required")
	case c.Topic == "":
		return errors.New("topic: required")
	case c.Group == "":
		return errors.New("group: required")
	case c.MaxBatch < 0:
		return fmt.Errorf("max batch: %d is negative", c.MaxBatch)
	case c.MinBackoff < 0 || c.MaxBackoff < 0:
		return errors.New("backoff: durations must not be negative")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.MaxBatch == 0 {
		c.MaxBatch = 1000
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = 100 * time.Millisecond
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = 5 * time.Second
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.ClientID == "" {
		c.ClientID = c.Group
	}
	return c
}

// Handler writes one batch durably. It returns nil only when the batch is
// committed to the database (records it could not accept quarantined); an
// error makes the loop retry the same batch, so it must mean an outage,
// never a bad record (IsBadRecord).
type Handler func(ctx context.Context, recs []*kgo.Record) error

// Loop is one running consumer. Healthy reports false while batches fail.
type Loop struct {
	cfg     Config
	cl      *kgo.Client
	log     *slog.Logger
	healthy atomic.Bool
	// AfterCommit, when set, runs after each batch's offsets are committed
	// (the orders sink publishes its observer events there).
	AfterCommit func(ctx context.Context, recs []*kgo.Record)
	// OnRetry, when set, is told about every failed attempt (metrics).
	OnRetry func(err error)
	// testCrashAfterWrite, when it returns true, ends Run right after a
	// successful write and before the offset commit (a kill -9 stand-in).
	testCrashAfterWrite func() bool
}

// New builds the client (a producer too, for quarantine and observer
// records) and the loop. Close happens when Run returns.
func New(cfg Config, log *slog.Logger, extra ...kgo.Opt) (*Loop, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	opts := append(kclient.ProducerOpts(cfg.Brokers, log),
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.SessionTimeout(kclient.GroupSessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200*time.Millisecond),
	)
	if len(cfg.Hooks) > 0 {
		opts = append(opts, kgo.WithHooks(cfg.Hooks...))
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client for %s: %w", cfg.Group, err)
	}
	l := &Loop{cfg: cfg, cl: cl, log: log}
	l.healthy.Store(true)
	return l, nil
}

// Client is the underlying client (for producing quarantine and observer
// records from the handler).
func (l *Loop) Client() *kgo.Client { return l.cl }

// Healthy is false from a failed batch until a batch succeeds again.
func (l *Loop) Healthy() bool { return l.healthy.Load() }

// SetTestCrashAfterWrite installs the kill -9 stand-in; tests only.
func (l *Loop) SetTestCrashAfterWrite(f func() bool) { l.testCrashAfterWrite = f }

// ErrCrashed is returned by Run when the test crash hook fired.
var ErrCrashed = errors.New("crashed after the database write (test hook)")

// Run polls, writes and commits until ctx ends, then closes the client
// without committing anything unwritten. It returns nil on cancellation.
func (l *Loop) Run(ctx context.Context, handle Handler) error {
	defer func() {
		// Leaving the group is a rebalance; it would wait forever for a
		// poll we never finish. Nothing is committed on the way out.
		l.cl.AllowRebalance()
		l.cl.Close()
	}()
	for {
		fetches := l.cl.PollRecords(ctx, l.cfg.MaxBatch)
		if ctx.Err() != nil {
			return nil
		}
		if fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				l.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			l.cl.AllowRebalance()
			continue
		}
		if err := l.writeUntilDone(ctx, handle, recs); err != nil {
			return nil // ctx ended while retrying: nothing committed, replayed later
		}
		if l.testCrashAfterWrite != nil && l.testCrashAfterWrite() {
			return ErrCrashed
		}
		if err := l.cl.CommitRecords(ctx, recs...); err != nil {
			// The rows are durable and idempotent; a lost commit only means
			// this batch is replayed (e.g. after a rebalance we missed).
			l.log.Warn("committing offsets", "group", l.cfg.Group, "batch_size", len(recs), "err", err)
		} else if l.AfterCommit != nil {
			l.AfterCommit(ctx, recs)
		}
		l.cl.AllowRebalance()
	}
}

// writeUntilDone retries handle on the same batch with capped exponential
// backoff until it succeeds or ctx ends.
func (l *Loop) writeUntilDone(ctx context.Context, handle Handler, recs []*kgo.Record) error {
	delay := l.cfg.MinBackoff
	for attempt := 1; ; attempt++ {
		err := handle(ctx, recs)
		if err == nil {
			if !l.healthy.Swap(true) {
				l.log.Info("sink recovered", "group", l.cfg.Group, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if l.healthy.Swap(false) {
			l.log.Warn("writing batch failed, retrying", "group", l.cfg.Group, "batch_size", len(recs), "err", err)
		}
		if l.OnRetry != nil {
			l.OnRetry(err)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		delay = min(delay*2, l.cfg.MaxBackoff)
	}
}
