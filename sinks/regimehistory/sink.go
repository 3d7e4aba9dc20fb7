// Package regimehistory is the regime_history sink: every record of the
// regime-changes topic (one per band or gate change of the regime
// processor, including entering and leaving the degraded state) becomes one
// row, so an operator can answer "when was the gate closed, and why" long
// after the topic's retention. The table's unique key (scope, at_ms,
// to_band) makes the write idempotent: a replay or a redelivered batch
// inserts nothing twice.
//
// # Bad records
//
// The topic is written by the regime processor, but anyone with write
// access to the cluster can put anything on it. Every record is checked
// before it is written (Decode: scope, bands, score, event time against
// this process's clock, cooldown, gate, degraded, inputs, size); a record
// that fails is quarantined with the reason and the rest of the batch is
// written. A row the database refuses anyway is found by bisecting the
// batch (consume.Isolate) and quarantined. Only an outage of the database
// or the broker makes a batch retry, so one bad record never stops the
// sink.
package regimehistory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/topics"
)

// Table is the table the sink writes.
const Table = "regime_history"

// SinkConfig is the part of Config every sink on the consumer loop shares
// (sinks/internal/consume.SinkConfig: Kafka, Prefix, Group, batch, backoff,
// linger, cycle and MaxAhead), named here so that code outside sinks/ can
// write it. Here Group defaults to topics.GroupSinkRegimeHistory under
// Prefix and MaxAhead, which must not be negative, bounds a change's event
// time against Config.Now.
type SinkConfig = consume.SinkConfig

// Config configures the regime-history sink.
type Config struct {
	SinkConfig
	// Now is this process's clock (default time.Now).
	Now func() time.Time
}

// spec names the sink, its topic and its default group.
var spec = consume.SinkSpec{Name: "regime-history", Topic: topics.RegimeChanges, Group: topics.GroupSinkRegimeHistory}

// Validate names the bad field (the consumer loop's checks,
// consume.Config.Validate, and MaxAhead).
func (c Config) Validate() error {
	if c.MaxAhead < 0 {
		return fmt.Errorf("max ahead: %s is negative", c.MaxAhead)
	}
	return c.Loop(spec).Validate()
}

// Sink is a running regime-history sink.
type Sink struct {
	cfg     Config
	db      *db.DB
	log     *slog.Logger
	loop    *consume.Loop
	metrics *consume.Metrics
}

// New builds the sink; Run starts it.
func New(cfg Config, d *db.DB, log *slog.Logger) (*Sink, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d == nil {
		return nil, errors.New("regime-history sink: no database")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	loop, metrics, log, err := cfg.NewLoop(spec, log)
	if err != nil {
		return nil, err
	}
	s := &Sink{cfg: cfg, db: d, log: log, loop: loop, metrics: metrics}
	return s, nil
}

// Run consumes until ctx ends and returns nil then.
func (s *Sink) Run(ctx context.Context) error { return s.loop.Run(ctx, s.handle) }

// Healthy is false while database writes fail.
func (s *Sink) Healthy() bool { return s.loop.Healthy() }

// handle writes the valid changes of the batch and quarantines the rest
// (refused by Decode, or by the database: Settle finds them). Only an
// outage (database or broker) makes the batch fail and be retried.
func (s *Sink) handle(ctx context.Context, recs []*kgo.Record) error {
	b := consume.Settled[Row]{Recs: recs, Start: time.Now(), Items: make([]consume.Item[Row], 0, len(recs))}
	now := s.cfg.Now()
	for _, rec := range recs {
		row, err := Decode(rec, now, s.cfg.MaxAhead)
		if err != nil {
			s.log.Warn("regime change refused; record quarantined", "partition", rec.Partition, "offset", rec.Offset, "err", err)
			b.Rejected = append(b.Rejected, consume.Rejected{Rec: rec, Cause: err})
			continue
		}
		b.Items = append(b.Items, consume.Item[Row]{Val: row, Rec: rec})
	}
	return consume.Settle(ctx, s.loop, s.metrics, s.log, s.cfg.Prefix, s.cfg.Group, "regime_history row", b,
		func(ctx context.Context, rows []Row) (int, error) { return len(rows), Write(ctx, s.db, rows) })
}

var columns = []string{"scope", "from_band", "to_band", "score", "at_ms", "cooldown_until_ms", "inputs", "gate", "degraded"}

// Write inserts rows in one transaction, with bound parameters; a row whose
// (scope, at_ms, to_band) is already stored is left as it is (the regime's
// change at one event time into one band is one fact).
func Write(ctx context.Context, d *db.DB, rows []Row) error {
	return d.InTx(ctx, func(tx *sql.Tx) error {
		return db.UpsertChunked(ctx, d, tx, Table, columns, []string{"scope", "at_ms", "to_band"}, rows, func(r Row) []any {
			return []any{r.Scope, r.From, r.To, r.Score, r.AtMs, r.CooldownUntilMs, r.Inputs, r.Gate, r.Degraded}
		})
	})
}
