// Package orders is the orders sink (Order::updateSaving): it consumes the
// normalized OrderEvent records of the orders topic and upserts them into
// orders and algo_orders keyed by (exchange, account, order id / algo id).
//
// # A row only moves forward
//
// An event changes a row only when it is newer by event time E, then
// transaction time T, then status rank, so duplicates, replays and late REST
// backfills are harmless. The rule holds twice: MakePlan folds each batch over
// the stored versions, and the upsert itself is guarded in SQL (MySQL: every
// assignment conditional, guard columns last; PostgreSQL and SQLite: ON
// CONFLICT ... DO UPDATE ... WHERE). Fills are recorded once per (order id,
// trade id).
//
// # Observer events
//
// Status transitions are written to the order_outbox in the batch's
// transaction: one row per batch (up to a thousand transitions), one JSON
// record per line, so a batch writes a few rows instead of one indexed row
// per transition. Once the transaction committed, a publisher goroutine of
// its own, off the write cycle, publishes them to the positions topic and
// marks them published (with Config.SyncCycle: after the batch's offset
// commit, before the next poll); rows left unpublished by a crash are
// published on the next start, so a kill -9 anywhere loses none. The members
// of the group share the database, so a member claims the rows it publishes
// (SELECT ... FOR UPDATE) and no row is published by two. Exactly-once
// toward the outbox rests on the fold over the stored state (a replayed
// batch finds its rows already moved and yields no transitions) and on the
// consumer loop blocking rebalances while a batch is in flight.
//
// # Bad events
//
// Every field of an event is validated before it can change state
// (DecodeAt): an event with a NaN, an exponent, a negative quantity, an id
// out of range, an unknown exchange or an event time ahead of the clock is
// quarantined with its reason and never written, so no later refold of a
// position can fail because of it. An event the database refuses anyway is
// isolated by bisecting the batch and quarantined; the rest is written.
package orders

import (
	"context"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/topics"
)

// SinkConfig is the part of Config every sink on the consumer loop shares
// (sinks/internal/consume.SinkConfig: Kafka, Prefix, Group, batch, backoff,
// linger, cycle and MaxAhead), named here so that code outside sinks/ can
// write it. Here Group defaults to topics.GroupSinkOrders under Prefix,
// SyncCycle publishes the outbox after each batch's offset commit and
// MaxAhead bounds an event's E and T.
type SinkConfig = consume.SinkConfig

// Config configures the orders sink.
type Config struct {
	SinkConfig
	// DiscardTransitions records transitions in the outbox already marked
	// published and produces nothing to the positions topic: for a rebuild
	// of a database from the retained topics (kraite rebuild), whose
	// transitions were published when they first happened.
	DiscardTransitions bool
}

// spec names the sink, its topic and its default group.
var spec = consume.SinkSpec{Name: "orders", Topic: topics.Orders, Group: topics.GroupSinkOrders}

// Validate names the bad field (the consumer loop's checks,
// consume.Config.Validate).
func (c Config) Validate() error {
	return c.Loop(spec).Validate()
}

// Sink is a running orders sink.
type Sink struct {
	cfg     Config
	db      *db.DB
	log     *slog.Logger
	loop    *consume.Loop
	metrics *consume.Metrics
	pubKick chan struct{}
	// written, when set, is told about each batch after its database
	// commit (benchmarks).
	written func([]*kgo.Record)
}

// New builds the sink; Run starts it.
func New(cfg Config, d *db.DB, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loop, metrics, log, err := cfg.NewLoop(spec, log)
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, db: d, log: log, loop: loop, metrics: metrics,
		pubKick: make(chan struct{}, 1)}
	if cfg.SyncCycle {
		loop.AfterCommit = func(ctx context.Context, _ []*kgo.Record) { s.publishPending(ctx) }
	}
	return s, nil
}

// Run publishes transitions a previous run left behind, then consumes until
// ctx ends; it returns nil then. The outbox is published by its own
// goroutine (startPublisher), which drains what the last batches wrote
// before the consumer's client closes; with SyncCycle it is published
// after each batch's offset commit instead.
func (s *Sink) Run(ctx context.Context) error {
	if s.cfg.SyncCycle {
		s.publishPending(ctx)
		return s.loop.Run(ctx, s.handle)
	}
	stop := s.startPublisher(ctx)
	s.kickPublisher() // rows a previous run left behind
	// The test's kill stand-in stops the publisher between two rounds (a
	// kill between a round's produce and its mark is the one window in
	// which a transition is published twice: see publishPending).
	s.loop.BeforeClose = func(crashed bool) { stop(!crashed) }
	return s.loop.Run(ctx, s.handle)
}

// Healthy is false while database writes fail.
func (s *Sink) Healthy() bool { return s.loop.Healthy() }

// handle validates every event (DecodeAt) and writes the valid ones. An
// invalid event is quarantined with its reason and never written, so no
// later refold can trip over it; an event the database still refuses (a
// data error) is isolated by bisecting the batch (consume.Isolate) and
// quarantined the same way, and the rest of the batch is written. Only an
// outage fails the batch, to be retried.
func (s *Sink) handle(ctx context.Context, recs []*kgo.Record) error {
	b := consume.Settled[*topics.OrderEvent]{Recs: recs, Start: time.Now(), Items: make([]consume.Item[*topics.OrderEvent], 0, len(recs))}
	for _, rec := range recs {
		e, err := DecodeAt(rec.Value, b.Start, s.cfg.MaxAhead)
		if err != nil {
			b.Rejected = append(b.Rejected, consume.Rejected{Rec: rec, Cause: err})
			continue
		}
		b.Items = append(b.Items, consume.Item[*topics.OrderEvent]{Val: e, Rec: rec})
	}
	err := consume.Settle(ctx, s.loop, s.metrics, s.log, s.cfg.Prefix, s.cfg.Group, "order event", b,
		func(ctx context.Context, events []*topics.OrderEvent) (int, error) {
			plan, err := Write(ctx, s.db, events)
			if err == nil && len(plan.Transitions) > 0 && !s.cfg.SyncCycle {
				s.kickPublisher() // committed: the publisher may take them
			}
			return len(plan.Rows), err
		})
	if err == nil && s.written != nil {
		s.written(recs)
	}
	return err
}
