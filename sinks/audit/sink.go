// Package audit is the api_data_stream sink: every record of the
// user-data-stream topic (frames, gap markers and backfill frames, dispatched
// or not) becomes one row with its exchange, account, event type, execution
// type, raw payload and source (topic, partition, offset). The source is the
// unique key, so a replay inserts nothing twice.
//
// # Bad records
//
// The audit keeps every record, so a record whose headers or event time
// fail validation (DecodeAt: a received_at that does not parse or lies in
// year 9999, an account that is not valid UTF-8 or too long, an unknown
// exchange) is still audited, with its values made storable, and is also
// quarantined with the reason. A row the database refuses anyway is found
// by bisecting the batch and quarantined; the rest of the batch is written.
// Only an outage of the database or the broker makes a batch retry, so one
// bad record never stops the sink for every account.
package audit

import (
	"context"
	"database/sql"
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
// write it. Here Group defaults to topics.GroupSinkAudit under Prefix and
// MaxAhead bounds an event time or received_at.
type SinkConfig = consume.SinkConfig

// Config configures the audit sink.
type Config struct {
	SinkConfig
}

// spec names the sink, its topic and its default group.
var spec = consume.SinkSpec{Name: "audit", Topic: topics.UserDataStream, Group: topics.GroupSinkAudit}

// Validate names the bad field (the consumer loop's checks,
// consume.Config.Validate).
func (c Config) Validate() error {
	return c.Loop(spec).Validate()
}

// Sink is a running audit sink.
type Sink struct {
	cfg     Config
	db      *db.DB
	log     *slog.Logger
	loop    *consume.Loop
	metrics *consume.Metrics
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
	s := &Sink{cfg: cfg, db: d, log: log, loop: loop, metrics: metrics}
	return s, nil
}

// Run consumes until ctx ends and returns nil then.
func (s *Sink) Run(ctx context.Context) error { return s.loop.Run(ctx, s.handle) }

// Healthy is false while database writes fail.
func (s *Sink) Healthy() bool { return s.loop.Healthy() }

// handle audits every record of the batch. A record that fails validation
// (DecodeAt) is audited anyway and quarantined with the reason; a row the
// database refuses (a data error: Isolate finds it) is quarantined with the
// database's reason and the rest of the batch is written. Only an outage
// (database or broker) makes the batch fail and be retried.
func (s *Sink) handle(ctx context.Context, recs []*kgo.Record) error {
	b := consume.Settled[Row]{Recs: recs, Start: time.Now(), Items: make([]consume.Item[Row], 0, len(recs))}
	for _, rec := range recs {
		row, err := DecodeAt(rec, b.Start, s.cfg.MaxAhead)
		if err != nil {
			b.Rejected = append(b.Rejected, consume.Rejected{Rec: rec, Cause: err})
		}
		b.Items = append(b.Items, consume.Item[Row]{Val: row, Rec: rec})
	}
	err := consume.Settle(ctx, s.loop, s.metrics, s.log, s.cfg.Prefix, s.cfg.Group, "audit row", b,
		func(ctx context.Context, rows []Row) (int, error) { return len(rows), Write(ctx, s.db, rows) })
	if err == nil && s.written != nil {
		s.written(recs)
	}
	return err
}

var columns = []string{"exchange", "account", "event_type", "execution_type", "kind", "source", "event_time",
	"payload", "source_topic", "source_partition", "source_offset", "received_at", "transaction_time"}

// Write inserts rows in one transaction through the statement cache
// (db.UpsertChunked); rows whose source is already stored are left as they
// are. (Large payloads need no byte bound per statement: the MySQL driver
// sends large arguments of a prepared statement as separate long-data
// packets, so max_allowed_packet bounds a row, not a statement:
// TestWriteTakesBatchesPastMaxAllowedPacket.)
func Write(ctx context.Context, d *db.DB, rows []Row) error {
	return d.InTx(ctx, func(tx *sql.Tx) error {
		return db.UpsertChunked(ctx, d, tx, "api_data_stream", columns, []string{"source_topic", "source_partition", "source_offset"}, rows,
			func(r Row) []any {
				var recv any
				if !r.ReceivedAt.IsZero() {
					recv = r.ReceivedAt.UTC()
				}
				return []any{r.Exchange, r.Account, r.EventType, r.ExecutionType, r.Kind, r.Source, r.EventTime,
					r.Payload, r.SourceTopic, r.SourcePartition, r.SourceOffset, recv, r.TransactionTime}
			})
	})
}
