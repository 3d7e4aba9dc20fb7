// Package markprice is the mark-price sink: it consumes the raw
// !markPrice@arr frames of the mark-price topic and writes every Binance
// tick to the matching exchange_symbols rows of all four venues (Binance,
// Bybit, KuCoin, Bitget) by (token, quote), through token_mappers renames and
// price factors.
//
// # Newest tick wins
//
// A reader goroutine decodes ticks into a one-slot mailbox that merges
// instead of queueing; a writer goroutine writes whatever is pending as one
// transaction of chunked CASE/WHEN updates. When the database is slower than
// the feed, intermediate ticks are skipped (counted), never queued. Offsets
// are marked after the tick that covers them is written and committed by the
// client's auto-commit of marks (and on revoke and close), so a crash replays
// at most the ticks since the last commit; rewriting a price is harmless.
//
// # Bad ticks
//
// Every element of a frame is judged alone (DecodeTickAt): a symbol that is
// not a symbol, a price that is not > 0 within DECIMAL(36,18), or an event
// time ahead of the clock skips that one tick (counted, logged at most once
// a minute) and the rest of the frame is written; a frame with nothing
// usable is quarantined with the reasons. A row price the database still
// refuses is isolated by bisecting the write (consume.Isolate), dropped and
// its frame quarantined; only an outage is retried.
package markprice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/topics"
)

// Config configures the sink.
type Config struct {
	// Kafka builds the consumer client.
	Kafka *kclient.Factory
	// Prefix is the topic prefix (default topics.DefaultPrefix).
	Prefix string
	// Group is the consumer group (default topics.GroupSinkMarkPrice under Prefix).
	Group string
	// FromStart makes a new group read the topic from its start instead of
	// its end (tests and replays; a day of 1 Hz ticks is a lot to skip over).
	FromStart bool
	// RefreshInterval reloads the symbol index (default 1 min).
	RefreshInterval time.Duration
	// MinBackoff and MaxBackoff bound retries after a database error
	// (defaults 100 ms and 5 s).
	MinBackoff, MaxBackoff time.Duration
	// Registerer receives the metrics; nil disables them.
	Registerer prometheus.Registerer
	// MaxAhead is how far a tick's event time may lie ahead of this
	// process's clock (default topics.DefaultMaxAhead).
	MaxAhead time.Duration
}

// Validate names the bad field.
func (c Config) Validate() error {
	switch {
	case c.Kafka.Validate() != nil:
		return fmt.Errorf("kafka: %w", c.Kafka.Validate())
	case c.RefreshInterval < 0:
		return errors.New("refresh interval: must not be negative")
	case c.MinBackoff < 0 || c.MaxBackoff < 0:
		return errors.New("backoff: durations must not be negative")
	}
	return nil
}

// Sink is the mark-price sink. Run it once.
type Sink struct {
	cfg     Config
	db      *db.DB
	log     *slog.Logger
	box     *mailbox
	metrics *metrics
	healthy atomic.Bool
	started time.Time

	mu       sync.Mutex
	lastSync map[int64]time.Time
	ix       *Index
	written  uint64

	refused    atomic.Uint64 // single-symbol ticks refused
	lastReport atomic.Int64  // unix ns of the last "refused" log line
}

// New builds the sink; Run starts it.
func New(cfg Config, d *db.DB, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = topics.DefaultPrefix
	}
	if cfg.Group == "" {
		cfg.Group = topics.GroupSinkMarkPrice.Name(cfg.Prefix)
	}
	if cfg.RefreshInterval == 0 {
		cfg.RefreshInterval = time.Minute
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(5*time.Second, cfg.MinBackoff)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Sink{cfg: cfg, db: d, log: log.With("sink", "markprice"), box: newMailbox(),
		metrics: newMetrics(cfg.Registerer), lastSync: map[int64]time.Time{}, started: time.Now()}
	s.healthy.Store(true)
	return s, nil
}

// Healthy is false while the index cannot be loaded or writes fail.
func (s *Sink) Healthy() bool { return s.healthy.Load() }

// Skipped is the number of ticks superseded before they were written.
func (s *Sink) Skipped() uint64 { return s.box.skippedTicks() }

// Written is the number of ticks (merged or not) written so far.
func (s *Sink) Written() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// Freshness returns, per venue, the age of its least recently written row
// (rows never written count from the sink's start).
func (s *Sink) Freshness() map[string]time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	ages := map[string]time.Duration{}
	if s.ix == nil {
		return ages
	}
	for id, ex := range s.ix.venue {
		at, ok := s.lastSync[id]
		if !ok {
			at = s.started
		}
		if a := now.Sub(at); a > ages[ex] {
			ages[ex] = a
		}
	}
	return ages
}

// Run consumes and writes until ctx ends; it returns nil then.
func (s *Sink) Run(ctx context.Context) error {
	ix, err := s.loadIndex(ctx)
	if err != nil {
		return nil // ctx ended while the database was unreachable
	}
	s.mu.Lock()
	s.ix = ix
	s.mu.Unlock()

	reset := kgo.NewOffset().AtEnd()
	if s.cfg.FromStart {
		reset = kgo.NewOffset().AtStart()
	}
	cl, err := s.cfg.Kafka.WithLog(s.log).Producer(
		kgo.ClientID(s.cfg.Group),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(topics.MarkPrice.Name(s.cfg.Prefix)),
		kgo.ConsumeResetOffset(reset),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(time.Second),
		kgo.FetchMaxWait(200*time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitMarkedOffsets(ctx); err != nil {
				s.log.Warn("committing marked offsets on revoke", "err", err)
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("creating mark-price consumer: %w", err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.read(gctx, cl) })
	g.Go(func() error { return s.write(gctx, cl) })
	err = g.Wait()
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if cerr := cl.CommitMarkedOffsets(closeCtx); cerr != nil {
		s.log.Warn("committing marked offsets on close", "err", cerr)
	}
	cl.Close()
	return err
}

func (s *Sink) loadIndex(ctx context.Context) (*Index, error) {
	for attempt := 0; ; attempt++ {
		ix, err := LoadIndex(ctx, s.db)
		if err == nil {
			s.log.Info("symbol index loaded", "rows", ix.Rows())
			return ix, nil
		}
		if s.healthy.Swap(false) {
			s.log.Warn("loading symbol index, retrying", "err", err)
		}
		if !s.backoff().Sleep(ctx, attempt) {
			return nil, ctx.Err()
		}
	}
}

func (s *Sink) read(ctx context.Context, cl *kgo.Client) error {
	for {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil || fetches.IsClientClosed() {
			return nil
		}
		fetches.EachError(func(topic string, p int32, err error) {
			s.log.Warn("fetch error", "topic", topic, "partition", p, "err", err)
		})
		fetches.EachRecord(func(rec *kgo.Record) {
			if ctx.Err() != nil {
				return
			}
			prices, skipped, err := DecodeTickAt(rec.Value, time.Now(), s.cfg.MaxAhead)
			s.refuse(len(skipped), skipped)
			if err != nil {
				if s.quarantine(ctx, cl, rec, err) {
					s.box.markOnly(rec)
				}
				return
			}
			for i := range prices {
				prices[i].rec = rec
			}
			s.box.put(prices, rec)
		})
	}
}

// quarantine sends rec to quarantine, retrying with backoff while the
// broker refuses (an outage: the offset must not move on without the
// quarantine record, and the sink must not stop either). False means ctx
// ended first.
func (s *Sink) quarantine(ctx context.Context, cl *kgo.Client, rec *kgo.Record, cause error) bool {
	for attempt := 0; ; attempt++ {
		err := consume.Quarantine(ctx, cl, s.cfg.Prefix, s.cfg.Group, rec, cause)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.Warn("quarantining an undecodable mark-price frame, retrying", "err", err)
		if !s.backoff().Sleep(ctx, attempt) {
			return false
		}
	}
}

func (s *Sink) write(ctx context.Context, cl *kgo.Client) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	failures := 0 // consecutive failed writes
	lastLoad := time.Now()
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			s.metrics.fresh(s.Freshness())
			continue
		case <-s.box.notify:
		}
		if time.Since(lastLoad) > s.cfg.RefreshInterval {
			s.refresh(ctx)
			lastLoad = time.Now()
		}
		prices, recs := s.box.take()
		if err := s.writePrices(ctx, cl, prices); err != nil {
			s.box.giveBack(prices, recs)
			s.metrics.failed()
			if s.healthy.Swap(false) {
				s.log.Warn("writing mark prices failed, retrying", "err", err)
			}
			if !s.backoff().Sleep(ctx, failures) {
				return nil
			}
			failures++
			select { // retry with whatever is pending now (the newest)
			case s.box.notify <- struct{}{}:
			default:
			}
			continue
		}
		failures = 0
		if !s.healthy.Swap(true) {
			s.log.Info("mark-price writes recovered")
		}
		cl.MarkCommitRecords(recs...)
		if n := s.box.skippedTicks(); n > reported {
			s.metrics.skip(n - reported)
			reported = n
		}
	}
}

func (s *Sink) refresh(ctx context.Context) {
	ix, err := LoadIndex(ctx, s.db)
	if err != nil {
		s.log.Warn("reloading symbol index", "err", err)
		return
	}
	s.mu.Lock()
	s.ix = ix
	s.mu.Unlock()
}

// refuse counts n refused single-symbol ticks and logs the first reason,
// at most once a minute: a symbol that keeps sending garbage must not flood
// the log (the counter and Refused keep the totals).
func (s *Sink) refuse(n int, reasons []error) {
	if n == 0 {
		return
	}
	s.refused.Add(uint64(n))
	s.metrics.refuse(n)
	now := time.Now().UnixNano()
	if last := s.lastReport.Load(); now-last > int64(time.Minute) && s.lastReport.CompareAndSwap(last, now) {
		s.log.Warn("mark-price ticks refused and skipped (the rest of their frames is written)",
			"count", n, "total", s.refused.Load(), "first", reasons[0])
	}
}

// Refused is the number of single-symbol ticks refused so far (bad values,
// event time ahead of the clock, or refused by the database).
func (s *Sink) Refused() uint64 { return s.refused.Load() }

// quarantineRefused sends the records behind row prices the database
// refused (consume.Isolate found them) to quarantine, one per record, with
// the database's reason; the prices are dropped, never retried.
func (s *Sink) quarantineRefused(ctx context.Context, cl *kgo.Client, refused []consume.Failed[Update]) error {
	if len(refused) == 0 {
		return nil
	}
	var out []consume.Rejected
	seen := map[*kgo.Record]bool{}
	for _, f := range refused {
		s.refuse(1, []error{f.Err})
		if f.Item.src == nil || seen[f.Item.src] {
			continue
		}
		seen[f.Item.src] = true
		out = append(out, consume.Rejected{Rec: f.Item.src, Cause: fmt.Errorf(
			"mark price %s of %s (row %d) refused by the database: %w", f.Item.Price, f.Item.symbol, f.Item.ID, f.Err)})
	}
	return consume.QuarantineAll(ctx, cl, s.cfg.Prefix, s.cfg.Group, out)
}

func (s *Sink) writePrices(ctx context.Context, cl *kgo.Client, prices map[string]Price) error {
	if len(prices) == 0 {
		return nil
	}
	s.mu.Lock()
	ix := s.ix
	s.mu.Unlock()
	updates, bad := Updates(ix, prices)
	if bad > 0 {
		s.refuse(bad, []error{fmt.Errorf("%d row prices that cannot be scaled into the column were skipped", bad)})
	}
	start := time.Now()
	refused, err := consume.Isolate(ctx, updates, func(ctx context.Context, part []Update) error {
		return WriteTick(ctx, s.db, part, start)
	})
	if err != nil {
		return err
	}
	if err := s.quarantineRefused(ctx, cl, refused); err != nil {
		return err
	}
	s.metrics.wrote(len(updates)-len(refused), time.Since(start))
	notWritten := make(map[int64]bool, len(refused))
	for _, f := range refused {
		notWritten[f.Item.ID] = true
	}
	s.mu.Lock()
	for _, u := range updates {
		if !notWritten[u.ID] {
			s.lastSync[u.ID] = start
		}
	}
	s.written++
	s.mu.Unlock()
	return nil
}

// sleep waits d or until ctx ends; false means ctx ended.
// backoff is the retry delay after a failure: MinBackoff doubling up to
// MaxBackoff, with jitter.
func (s *Sink) backoff() backoff.Policy {
	return backoff.Policy{Base: s.cfg.MinBackoff, Cap: s.cfg.MaxBackoff, Jitter: backoff.DefaultJitter}
}
