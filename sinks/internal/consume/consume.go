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
// flight (kgo.BlockRebalanceOnPoll). A batch's offsets are committed only
// after the handler returned, that is after its database commit, and
// asynchronously (see committer): the loop polls and writes the next batch
// while the commit travels, commits only move forward, a failed commit is
// retried or superseded by the next, and a partition that is revoked (or
// the loop that stops) gets a final synchronous commit first, so a
// partition moves to another member only with its offsets committed. A
// crash between the database commit and the offset commit replays the
// batches since the last commit, which the sinks' idempotent writes absorb.
// Config.SyncCycle is the previous cycle: a synchronous commit after each
// batch, before the next poll.
//
// # Linger
//
// When the loop comes back from a batch and records are already waiting
// (the sink is busy), it waits up to Config.Linger for more before writing,
// so batches grow under load; when nothing is waiting it blocks for the
// next record and writes it at once, so an idle sink adds no latency.
//
// # One configuration for the sinks
//
// The sinks on the loop share their Kafka, naming, batch, backoff, linger
// and cycle settings: SinkConfig holds them once, embedded in each sink's
// Config, and SinkConfig.Loop and NewLoop turn it into this loop's Config
// for a sink named by a SinkSpec (its topic and default group), so
// defaults and checks live here and each sink keeps only its own fields.
package consume

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
)

// Config configures one consumer group loop.
type Config struct {
	// Kafka builds the client (seeds, security, metrics).
	Kafka *kclient.Factory
	Topic string
	Group string
	// MaxBatch is the most records handed to the sink at once (default 1000).
	MaxBatch int
	// MinBackoff and MaxBackoff bound the retry delay after a failed batch
	// (defaults 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// ClientID names the client in broker logs (default the group).
	ClientID string
	// Linger is how long a busy loop waits for more records to fill a
	// batch (default DefaultLinger, at most MaxLinger; negative: never).
	// It applies only when records were already waiting, never to a
	// record that finds the loop idle.
	Linger time.Duration
	// SyncCycle runs the previous cycle: poll, write, commit the offsets
	// synchronously (then AfterCommit), poll again; no linger. It is the
	// baseline of the benchmarks and of kraite bench e2e.
	SyncCycle bool
	// CommitRetry is how soon a failed asynchronous commit is retried
	// when no new batch supersedes it first (default 1 s).
	CommitRetry time.Duration
}

// DefaultLinger and MaxLinger bound Config.Linger.
const (
	DefaultLinger = 3 * time.Millisecond
	MaxLinger     = time.Second
)

// Validate names the bad field.
func (c Config) Validate() error {
	switch {
	case c.Kafka.Validate() != nil:
		return fmt.Errorf("kafka: %w", c.Kafka.Validate())
	case c.Topic == "":
		return errors.New("topic: required")
	case c.Group == "":
		return errors.New("group: required")
	case c.MaxBatch < 0:
		return fmt.Errorf("max batch: %d is negative", c.MaxBatch)
	case c.MinBackoff < 0 || c.MaxBackoff < 0:
		return errors.New("backoff: durations must not be negative")
	case c.Linger > MaxLinger:
		return fmt.Errorf("linger: %s is above the bound of %s", c.Linger, MaxLinger)
	case c.CommitRetry < 0:
		return fmt.Errorf("commit retry: %s is negative", c.CommitRetry)
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
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.CommitRetry == 0 {
		c.CommitRetry = time.Second
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
	commit  *committer // nil with SyncCycle
	crashed atomic.Bool
	stats   struct{ polls, batches, records, lingers atomic.Int64 }
	// AfterCommit, when set, runs after each batch's offsets are committed
	// with SyncCycle (the orders sink publishes its observer events there
	// in that cycle).
	AfterCommit func(ctx context.Context, recs []*kgo.Record)
	// BeforeClose, when set, runs when Run ends, after the final offset
	// commit and before the client closes (the orders sink stops and
	// drains its publisher there); crashed says the test crash hook
	// fired (no final commit was made).
	BeforeClose func(crashed bool)
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
	opts := []kgo.Opt{
		kgo.ClientID(cfg.ClientID),
		kgo.ConsumerGroup(cfg.Group),
		kgo.SessionTimeout(kclient.GroupSessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(cfg.Topic),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(200 * time.Millisecond),
	}
	l := &Loop{cfg: cfg, log: log}
	if !cfg.SyncCycle {
		opts = append(opts,
			kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, parts map[string][]int32) {
				if l.crashed.Load() {
					l.commit.lost(parts) // a kill -9 commits nothing
					return
				}
				l.commit.revoked(ctx, parts)
			}),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, parts map[string][]int32) { l.commit.lost(parts) }),
		)
	}
	kf := cfg.Kafka
	if log != nil {
		kf = kf.WithLog(log)
	}
	cl, err := kf.Producer(append(opts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("creating kafka client for %s: %w", cfg.Group, err)
	}
	l.cl = cl
	if !cfg.SyncCycle {
		l.commit = newCommitter(cl, log, cfg.Group, cfg.CommitRetry)
	}
	l.healthy.Store(true)
	return l, nil
}

// Stats counts what the loop did: polls of the client, batches handed to
// the handler (and their records), and lingers (waits for a batch to fill).
type Stats struct {
	Polls, Batches, Records, Lingers int64
	// Commits and CommitFailures count asynchronous offset commits.
	Commits, CommitFailures int64
}

// Stats returns the counters so far.
func (l *Loop) Stats() Stats {
	s := Stats{Polls: l.stats.polls.Load(), Batches: l.stats.batches.Load(), Records: l.stats.records.Load(), Lingers: l.stats.lingers.Load()}
	if l.commit != nil {
		s.Commits, s.CommitFailures = l.commit.commits.Load(), l.commit.failures.Load()
	}
	return s
}

// SyncCycle reports whether the loop runs the previous, synchronous cycle.
func (l *Loop) SyncCycle() bool { return l.cfg.SyncCycle }

// Client is the underlying client (for producing quarantine and observer
// records from the handler).
func (l *Loop) Client() *kgo.Client { return l.cl }

// Healthy is false from a failed batch until a batch succeeds again.
func (l *Loop) Healthy() bool { return l.healthy.Load() }

// SetTestCrashAfterWrite installs the kill -9 stand-in; tests only.
func (l *Loop) SetTestCrashAfterWrite(f func() bool) { l.testCrashAfterWrite = f }

// ErrCrashed is returned by Run when the test crash hook fired.
var ErrCrashed = errors.New("crashed after the database write (test hook)")

// Run polls, writes and commits until ctx ends, then commits what was
// written (a final synchronous commit) and closes the client; nothing
// unwritten is committed. It returns nil on cancellation.
func (l *Loop) Run(ctx context.Context, handle Handler) error {
	var stopCommitter func()
	if l.commit != nil {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		go func() { defer close(done); l.commit.run(cctx) }()
		stopCommitter = func() { cancel(); <-done }
	}
	defer func() {
		if stopCommitter != nil {
			stopCommitter()
			if !l.crashed.Load() {
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalCommitTimeout)
				if err := l.commit.commit(fctx, nil); err != nil {
					l.log.Warn("final offset commit; the batches since the last commit are replayed", "group", l.cfg.Group, "err", err)
				}
				cancel()
			}
		}
		if l.BeforeClose != nil {
			l.BeforeClose(l.crashed.Load())
		}
		// Leaving the group is a rebalance; it would wait forever for a
		// poll we never finish.
		l.cl.AllowRebalance()
		l.cl.Close()
	}()
	for {
		recs, closed := l.poll(ctx)
		if ctx.Err() != nil || closed {
			return nil
		}
		if len(recs) == 0 {
			l.cl.AllowRebalance()
			continue
		}
		l.stats.batches.Add(1)
		l.stats.records.Add(int64(len(recs)))
		if err := l.writeUntilDone(ctx, handle, recs); err != nil {
			return nil // ctx ended while retrying: nothing committed, replayed later
		}
		if l.testCrashAfterWrite != nil && l.testCrashAfterWrite() {
			l.crashed.Store(true)
			return ErrCrashed
		}
		if l.commit != nil {
			l.commit.mark(recs)
		} else if err := l.cl.CommitRecords(ctx, recs...); err != nil {
			// The rows are durable and idempotent; a lost commit only means
			// this batch is replayed (e.g. after a rebalance we missed).
			l.log.Warn("committing offsets", "group", l.cfg.Group, "batch_size", len(recs), "err", err)
		} else if l.AfterCommit != nil {
			l.AfterCommit(ctx, recs)
		}
		l.cl.AllowRebalance()
	}
}

// finalCommitTimeout bounds the synchronous commit when Run ends.
const finalCommitTimeout = 10 * time.Second

// poll returns the next batch. With SyncCycle it is one blocking poll. In
// the default cycle it first takes what is already buffered without
// waiting: nothing means the loop is idle, and it blocks for the next
// records and returns them at once; something means records queued while
// the last batch was written, and it lingers up to Config.Linger for more,
// until the batch is full. closed is true when the client was closed.
func (l *Loop) poll(ctx context.Context) (recs []*kgo.Record, closed bool) {
	max := l.cfg.MaxBatch
	take := func(pctx context.Context, n int) bool {
		l.stats.polls.Add(1)
		f := l.cl.PollRecords(pctx, n)
		if f.IsClientClosed() {
			return false
		}
		f.EachError(func(topic string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				l.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
			}
		})
		recs = append(recs, f.Records()...)
		return true
	}
	if l.cfg.SyncCycle || l.cfg.Linger < 0 {
		return recs, !take(ctx, max)
	}
	if !take(nil, max) { //nolint:staticcheck // a nil context polls only what is buffered
		return nil, true
	}
	if len(recs) == 0 { // idle: wait for the next records, write them at once
		return recs, !take(ctx, max)
	}
	if len(recs) >= max {
		return recs, false
	}
	l.stats.lingers.Add(1)
	deadline := time.Now().Add(l.cfg.Linger)
	for len(recs) < max && ctx.Err() == nil {
		wait := time.Until(deadline)
		if wait <= 0 {
			break
		}
		lctx, cancel := context.WithTimeout(ctx, wait)
		ok := take(lctx, max-len(recs))
		cancel()
		if !ok {
			return recs, true
		}
	}
	return recs, false
}

// writeUntilDone retries handle on the same batch with capped exponential
// backoff (MinBackoff doubling to MaxBackoff, no jitter) until it succeeds or
// ctx ends.
func (l *Loop) writeUntilDone(ctx context.Context, handle Handler, recs []*kgo.Record) error {
	policy := backoff.Policy{Base: l.cfg.MinBackoff, Cap: l.cfg.MaxBackoff}
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
		if !policy.Sleep(ctx, attempt-1) {
			return ctx.Err()
		}
	}
}
