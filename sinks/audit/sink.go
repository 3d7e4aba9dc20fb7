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
	"cmp"
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/topics"
)

// Config configures the audit sink.
type Config struct {
	// Kafka builds the consumer client.
	Kafka *kclient.Factory
	// Prefix is the topic prefix (default topics.DefaultPrefix).
	Prefix string
	// Group is the consumer group (default topics.GroupSinkAudit under Prefix).
	Group string
	// MaxBatch bounds records per database transaction (default 1000).
	MaxBatch int
	// MinBackoff and MaxBackoff bound retries after a database error.
	MinBackoff, MaxBackoff time.Duration
	// Registerer receives the metrics; nil disables them.
	Registerer prometheus.Registerer
	// Linger is how long a busy sink waits for more records to fill a
	// batch (default consume.DefaultLinger; negative: never). A record
	// that finds the sink idle is written at once.
	Linger time.Duration
	// SyncCycle runs the previous cycle (offsets committed synchronously
	// after each batch, before the next poll; no linger), the baseline of
	// the benchmarks and of kraite bench e2e.
	SyncCycle bool
	// MaxAhead is how far an event time or received_at may lie ahead of
	// this process's clock (default topics.DefaultMaxAhead).
	MaxAhead time.Duration
}

// Validate names the bad field (the consumer loop's checks,
// consume.Config.Validate).
func (c Config) Validate() error {
	return c.loop().Validate()
}

// loop is the consumer loop's configuration (Prefix and Group defaulted).
func (c Config) loop() consume.Config {
	prefix := cmp.Or(c.Prefix, topics.DefaultPrefix)
	return consume.Config{Kafka: c.Kafka, Topic: topics.UserDataStream.Name(prefix), Group: cmp.Or(c.Group, topics.GroupSinkAudit.Name(prefix)),
		MaxBatch: c.MaxBatch, MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff,
		Linger: c.Linger, SyncCycle: c.SyncCycle}
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
	cfg.Prefix = cmp.Or(cfg.Prefix, topics.DefaultPrefix)
	cfg.Group = cfg.loop().Group
	loop, metrics, log, err := consume.NewSink("audit", cfg.loop(), cfg.Registerer, log)
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
