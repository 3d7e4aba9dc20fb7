// Package worker runs a queue: a consumer group on one queue topic whose
// partitions carry the concurrency. A worker process is one group member;
// adding a member rebalances (cooperative-sticky) and moves partitions.
//
// # Delivery
//
// Each polled batch is split by partition and the partitions are handled
// concurrently, each strictly in order. A record that fails is retried with
// backoff up to MaxAttempts, then parked on the quarantine topic with its
// error, so one bad job never blocks its partition. Offsets are committed
// only for records that were handled or parked, and rebalances are held off
// while a batch is in flight (kgo.BlockRebalanceOnPoll), so a partition
// never moves to another member between finishing a job and committing it:
// no lost and no doubled job across a rebalance. A crash between the two
// redelivers the job; handlers are idempotent (scheduled jobs carry an ID
// and the Jobs adapter drops repeats).
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/wsconn"
	"github.com/kraite/stream/topics"
)

// Handler handles one record; an error means "retry, then park".
type Handler func(ctx context.Context, rec *kgo.Record) error

// ErrPermanent marks an error that no retry can fix (a malformed job, an
// unknown type): such a record is parked after MaxAttempts without waiting
// out RetryFor. Wrap it (fmt.Errorf("...: %w", worker.ErrPermanent)).
var ErrPermanent = errors.New("permanent job error")

// Config configures a worker.
type Config struct {
	Brokers []string
	Prefix  string      // default topics.DefaultPrefix
	Queue   topics.Spec // the queue topic
	// Group is the consumer group (default <prefix>worker.<queue suffix>).
	Group   string
	Handler Handler
	// MaxAttempts before a record is parked (default 3).
	MaxAttempts int
	// Backoff between attempts (default 100ms doubling to 2s).
	Backoff wsconn.Backoff
	// RetryFor keeps a record that fails with a transient error (anything
	// not ErrPermanent: the database restarting, the exchange timing out)
	// retrying for at least this long before it is parked, so an outage of
	// a dependency does not send every job in flight to quarantine. The
	// partition waits meanwhile, never forever. 0: MaxAttempts alone.
	RetryFor time.Duration
	// ClientID names this member (default the group).
	ClientID string
	// Hooks are franz-go hooks for the client (kprom metrics); optional.
	Hooks []kgo.Hook
}

// Validate names the problem.
func (c Config) Validate() error {
	switch {
	case len(c.Brokers) == 0:
		return errors.New("worker: no brokers")
	case c.Queue.Suffix == "":
		return errors.New("worker: no queue topic")
	case c.Handler == nil:
		return errors.New("worker: no handler")
	case c.MaxAttempts < 0:
		return fmt.Errorf("worker: max attempts %d is negative", c.MaxAttempts)
	case c.RetryFor < 0:
		return fmt.Errorf("worker: retry-for %s is negative", c.RetryFor)
	}
	return nil
}

// Stats counts what a worker did.
type Stats struct {
	Handled, Retried, Parked atomic.Int64
}

// Worker is one member of a queue's group.
type Worker struct {
	cfg   Config
	log   *slog.Logger
	topic string
	Stats Stats
}

// New validates cfg.
func New(cfg Config, log *slog.Logger) (*Worker, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = topics.DefaultPrefix
	}
	if cfg.Group == "" {
		cfg.Group = cfg.Prefix + "worker." + cfg.Queue.Suffix
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff = wsconn.Backoff{Base: 100 * time.Millisecond, Cap: 2 * time.Second}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cfg.Group
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, log: log, topic: cfg.Queue.Name(cfg.Prefix)}, nil
}

// Run consumes until ctx ends, then commits what it finished and leaves the group.
func (w *Worker) Run(ctx context.Context) error {
	cl, err := kgo.NewClient(append(kclient.ProducerOpts(w.cfg.Brokers, nil),
		kgo.ClientID(w.cfg.ClientID),
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.SessionTimeout(kclient.GroupSessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(w.topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				w.log.Warn("committing before a rebalance", "err", err)
			}
		}),
		kgo.WithHooks(w.cfg.Hooks...),
	)...)
	if err != nil {
		return fmt.Errorf("creating worker client for %s: %w", w.cfg.Group, err)
	}
	// Close would wait for a rebalance this loop blocks after its last poll.
	defer cl.CloseAllowingRebalance()
	for {
		fs := cl.PollRecords(ctx, 500)
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			w.log.Warn("fetching queue", "topic", t, "partition", p, "err", err)
		})
		var wg sync.WaitGroup
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for _, rec := range p.Records {
					if !w.handle(ctx, cl, rec) {
						return // ctx ended: leave the rest uncommitted
					}
					cl.MarkCommitRecords(rec)
				}
			}()
		})
		wg.Wait()
		cl.AllowRebalance()
	}
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(cctx); err != nil {
		return fmt.Errorf("committing on shutdown: %w", err)
	}
	return nil
}

// handle runs the handler with retries; it parks the record after
// MaxAttempts failures and, unless the error is permanent, RetryFor. It
// returns false only when ctx ended before the record was done.
func (w *Worker) handle(ctx context.Context, cl *kgo.Client, rec *kgo.Record) bool {
	var err error
	start := time.Now()
	attempt := 0
	for ; ; attempt++ {
		if err = w.call(ctx, rec); err == nil {
			w.Stats.Handled.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		if attempt+1 >= w.cfg.MaxAttempts && (errors.Is(err, ErrPermanent) || time.Since(start) >= w.cfg.RetryFor) {
			break
		}
		w.Stats.Retried.Add(1)
		if !w.cfg.Backoff.Sleep(ctx, min(attempt, 30)) {
			return false
		}
	}
	w.log.Error("job failed; parked on quarantine", "topic", rec.Topic, "partition", rec.Partition,
		"offset", rec.Offset, "attempts", attempt+1, "err", err)
	return w.park(ctx, cl, rec, err)
}

// call runs the handler, turning a panic into an error (a job bug must not
// take the whole worker down).
func (w *Worker) call(ctx context.Context, rec *kgo.Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panicked: %v", p)
		}
	}()
	return w.cfg.Handler(ctx, rec)
}

func (w *Worker) park(ctx context.Context, cl *kgo.Client, rec *kgo.Record, cause error) bool {
	src := topics.QuarantineSource{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset,
		Key: rec.Key, Value: rec.Value}
	for _, h := range rec.Headers {
		src.Headers = append(src.Headers, [2]string{h.Key, string(h.Value)})
	}
	v, _ := json.Marshal(topics.NewQuarantineRecord(src, w.cfg.Group, cause, time.Now().UnixMilli()))
	q := &kgo.Record{Topic: topics.Quarantine.Name(w.cfg.Prefix), Key: topics.QuarantineKey(rec.Key), Value: v}
	for attempt := 0; ; attempt++ {
		err := cl.ProduceSync(ctx, q).FirstErr()
		if err == nil {
			w.Stats.Parked.Add(1)
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		w.log.Warn("parking on quarantine failed; retrying", "err", err)
		if !w.cfg.Backoff.Sleep(ctx, attempt) {
			return false
		}
	}
}
