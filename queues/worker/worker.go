// Package worker runs a queue: a consumer group on one queue topic. A
// worker process is one group member; adding a member rebalances
// (cooperative-sticky) and moves partitions.
//
// # Lanes: one account never holds up another
//
// Records are handled per key (the account, for every account-scoped
// queue), not per fetch: each key has a lane that runs its records one at a
// time in offset order, and lanes run side by side, at most Concurrency
// handler calls at once. A job that retries for a minute, or an exchange
// endpoint that hangs for one account, holds up that account's later jobs
// and nothing else. Polling goes on while lanes work, up to MaxInFlight
// records taken and not yet done. (Waiting out a backoff holds no
// concurrency slot; a hanging handler call holds one.)
//
// # Delivery
//
// A record that fails is retried with backoff (at least an error's
// RetryAfter, as an exchange's 429 or 418 asks) up to MaxAttempts and for
// at least RetryFor, then parked on the quarantine topic with its error. An
// error wrapping ErrPermanent is parked at once: nothing retries what can
// never succeed. Offsets are committed only up to the first record of the
// partition that is not done: a record's offset is marked only when it and
// every earlier record of its partition were handled or parked, so a
// crash redelivers whatever was not finished, never skips it.
//
// When a partition is revoked, or the worker stops, it is drained before
// the commit: its lanes take no record beyond the last one started, and
// the records up to it are finished (retries included) for at most
// DrainTimeout, so the commit covers every record that was done and the
// next owner repeats none: no lost and no doubled job across a rebalance.
// Past DrainTimeout (a job retrying through an outage, a handler hanging)
// the partition is given up: waits and handler calls are cancelled, and
// the next owner repeats the records done beyond the commit. A lost
// partition is given up at once. A crash between finishing a job and
// committing it redelivers the job too; handlers are idempotent (scheduled
// jobs carry an ID and the Jobs adapter drops repeats, the positions worker
// asks the exchange before placing).
package worker

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
	"github.com/kraite/stream/topics"
)

// Handler handles one record; an error means "retry, then park", and a
// permanent one (see ErrPermanent) "park now".
type Handler func(ctx context.Context, rec *kgo.Record) error

// ErrPermanent marks an error that no retry can fix (a malformed job, an
// unknown type, an order the exchange refused on its merits): such a record
// is parked at once, without a retry. Wrap it (fmt.Errorf("...: %w",
// worker.ErrPermanent)). An error whose chain holds a Permanent() bool
// method saying true (binanceapi.APIError: -4003, -1121, a 401...) is
// permanent too, so no job handler retries what the exchange refused for
// good, whether or not it classifies the error itself.
var ErrPermanent = errors.New("permanent job error")

// IsPermanent reports an error the worker parks at once.
func IsPermanent(err error) bool {
	if errors.Is(err, ErrPermanent) {
		return true
	}
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// Config configures a worker.
type Config struct {
	// Kafka builds the client.
	Kafka  *kclient.Factory
	Prefix string      // default topics.DefaultPrefix
	Queue  topics.Spec // the queue topic
	// Group is the consumer group (default <prefix>worker.<queue suffix>).
	Group   string
	Handler Handler
	// MaxAttempts before a record is parked (default 3).
	MaxAttempts int
	// Backoff between attempts (default 100ms doubling to 2s).
	Backoff backoff.Policy
	// RetryFor keeps a record that fails with a transient error (anything
	// not permanent: the database restarting, the exchange timing out)
	// retrying for at least this long before it is parked, so an outage of
	// a dependency does not send every job in flight to quarantine. The
	// record's key (its account) waits meanwhile, never forever; other keys
	// go on. 0: MaxAttempts alone.
	RetryFor time.Duration
	// MaxRetryAfter caps the wait an error asks for through a
	// RetryAfter() time.Duration method (the exchange's Retry-After of a 429
	// or 418, the rest of an IP ban); default 1 minute.
	MaxRetryAfter time.Duration
	// Concurrency is how many handler calls run at once, across keys
	// (default 16). Records of one key always run one at a time, in order.
	Concurrency int
	// MaxInFlight bounds the records taken from the broker and not yet
	// done (default 4096); polling waits past it.
	MaxInFlight int
	// DrainTimeout bounds how long a partition that leaves (revoked, or the
	// worker stops) waits for the records started before it is given up
	// (default 5s; see Delivery).
	DrainTimeout time.Duration
	// ClientID names this member (default the group).
	ClientID string
}

// Validate names the problem.
func (c Config) Validate() error {
	switch {
	case c.Kafka.Validate() != nil:
		return fmt.Errorf("worker: %w", c.Kafka.Validate())
	case c.Queue.Suffix == "":
		return errors.New("worker: no queue topic")
	case c.Handler == nil:
		return errors.New("worker: no handler")
	case c.MaxAttempts < 0:
		return fmt.Errorf("worker: max attempts %d is negative", c.MaxAttempts)
	case c.RetryFor < 0:
		return fmt.Errorf("worker: retry-for %s is negative", c.RetryFor)
	case c.MaxRetryAfter < 0:
		return fmt.Errorf("worker: max retry-after %s is negative", c.MaxRetryAfter)
	case c.Concurrency < 0:
		return fmt.Errorf("worker: concurrency %d is negative", c.Concurrency)
	case c.DrainTimeout < 0:
		return fmt.Errorf("worker: drain timeout %s is negative", c.DrainTimeout)
	case c.MaxInFlight < 0:
		return fmt.Errorf("worker: max in flight %d is negative", c.MaxInFlight)
	}
	return nil
}

// Stats counts what a worker did.
type Stats struct {
	Handled, Retried, Parked atomic.Int64
	// InFlight is the records taken from the broker and not yet done.
	InFlight atomic.Int64
	// LastDoneMs is when a record was last handled or parked (unix ms), 0
	// before the first. With InFlight > 0 and no progress for long, every
	// lane is stuck; one account retrying does not stop it advancing. (The
	// committed offset of a partition can wait on one account's job for
	// RetryFor while the other accounts' jobs complete: lag alone does not
	// say the worker is stalled.)
	LastDoneMs atomic.Int64
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
		cfg.Group = topics.WorkerGroup(cfg.Queue).Name(cfg.Prefix)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = 3
	}
	if cfg.Backoff.Base <= 0 {
		cfg.Backoff = backoff.Policy{Base: 100 * time.Millisecond, Cap: 2 * time.Second, Jitter: backoff.DefaultJitter}
	}
	if cfg.ClientID == "" {
		cfg.ClientID = cfg.Group
	}
	if cfg.MaxRetryAfter == 0 {
		cfg.MaxRetryAfter = time.Minute
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 16
	}
	if cfg.MaxInFlight == 0 {
		cfg.MaxInFlight = 4096
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 5 * time.Second
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Worker{cfg: cfg, log: log, topic: cfg.Queue.Name(cfg.Prefix)}, nil
}

// Run consumes until ctx ends, then lets the handler calls in progress end,
// commits what was finished and leaves the group.
func (w *Worker) Run(ctx context.Context) error {
	rs := newRunState(ctx, w)
	defer rs.stopHandlers()
	cl, err := w.cfg.Kafka.Producer(
		kgo.ClientID(w.cfg.ClientID),
		kgo.ConsumerGroup(w.cfg.Group),
		kgo.SessionTimeout(kclient.GroupSessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(w.topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(250*time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
			rs.release(revoked[w.topic], false)
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				w.log.Warn("committing before a rebalance", "err", err)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
			rs.release(lost[w.topic], true)
		}),
	)
	if err != nil {
		return fmt.Errorf("creating worker client for %s: %w", w.cfg.Group, err)
	}
	rs.cl = cl
	// Close would wait for a rebalance this loop blocks after its last poll.
	defer cl.CloseAllowingRebalance()
	stopWaking := context.AfterFunc(ctx, rs.wake)
	defer stopWaking()
	for {
		fs := cl.PollRecords(ctx, rs.room())
		if ctx.Err() != nil {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			w.log.Warn("fetching queue", "topic", t, "partition", p, "err", err)
		})
		fs.EachRecord(rs.dispatch)
		// Rebalances may run from here to the next poll: the callbacks
		// settle the lanes of the partitions that move.
		cl.AllowRebalance()
		rs.waitForRoom(ctx)
	}
	// ctx ended: finish what was started (for at most DrainTimeout), then
	// end the handler calls still running; lanes drop the rest.
	rs.releaseAll()
	rs.stopHandlers()
	rs.lanes.Wait()
	cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(cctx); err != nil {
		return fmt.Errorf("committing on shutdown: %w", err)
	}
	return nil
}

// handle runs the handler with retries; it parks the record at once on a
// permanent error, else after MaxAttempts failures and RetryFor. It runs
// under the partition's ctx, which ends when the partition is given up; it
// returns false only when that happened before the record was done.
func (w *Worker) handle(pctx context.Context, rs *runState, rec *kgo.Record) bool {
	var err error
	start := time.Now()
	attempt := 0
	for ; ; attempt++ {
		if !rs.acquire(pctx) {
			return false
		}
		err = w.call(pctx, rec)
		rs.releaseSlot()
		if err == nil {
			w.Stats.Handled.Add(1)
			return true
		}
		if pctx.Err() != nil {
			return false
		}
		if IsPermanent(err) || (attempt+1 >= w.cfg.MaxAttempts && time.Since(start) >= w.cfg.RetryFor) {
			break
		}
		w.Stats.Retried.Add(1)
		if !backoff.Sleep(pctx, w.retryDelay(attempt, err)) {
			return false
		}
	}
	w.log.Error("job failed; parked on quarantine", "topic", rec.Topic, "partition", rec.Partition,
		"offset", rec.Offset, "key", string(rec.Key), "attempts", attempt+1, "permanent", IsPermanent(err), "err", err)
	return w.park(pctx, rs.cl, rec, err)
}

// retryDelay is the backoff of attempt, or longer when err asks for it
// (RetryAfter, capped at MaxRetryAfter).
func (w *Worker) retryDelay(attempt int, err error) time.Duration {
	d := w.cfg.Backoff.Delay(min(attempt, 30))
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		d = max(d, min(ra.RetryAfter(), w.cfg.MaxRetryAfter))
	}
	return d
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
	q, err := topics.NewQuarantine(topics.QuarantineSourceOf(rec), w.cfg.Group, cause, time.Now().UnixMilli()).Record(w.cfg.Prefix)
	if err != nil { // a bounded record of strings always encodes
		w.log.Error("encoding a quarantine record", "err", err)
		return false
	}
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
