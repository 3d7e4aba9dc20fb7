// Package publisher is what both WebSocket producers hand frames to: it
// produces each record through one franz-go client (idempotent, acks=all,
// unlimited retries, goka-compatible partitioner), measures frame-to-ack
// latency, and knows whether the broker is keeping up.
//
// # Delivery
//
// Records are produced with a background context so that a shutting-down
// producer still delivers what it read; Close flushes before it returns.
// With unlimited retries a record can only fail when the client is closed
// or the record is invalid; every such failure is counted and logged, never
// silently dropped. When the broker is down, franz-go buffers up to
// MaxBuffered records and Publish then blocks: the socket stops being read,
// memory stays bounded, and the exchange eventually drops the connection,
// which the stream turns into a gap marker to backfill.
package publisher

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
)

// Config configures a Publisher.
type Config struct {
	Brokers []string
	// MaxBuffered bounds records waiting for an ack (default 100,000).
	MaxBuffered int
	// StallAfter: unhealthy when records are buffered and nothing was
	// acknowledged for this long (default 10s).
	StallAfter time.Duration
	// ClientID names the client in broker logs.
	ClientID string
	// Linger overrides the producer linger (default 0: latency first).
	// Benchmarks set franz-go's own default (10ms) to compare against.
	Linger *time.Duration
	// OnAck, when set, is called with every acknowledged record's
	// frame-to-ack latency (benchmarks).
	OnAck func(stream string, latency time.Duration)
	// Hooks are franz-go client hooks (e.g. kprom metrics).
	Hooks []kgo.Hook
}

// Publisher produces records and tracks their acknowledgements.
type Publisher struct {
	cl      *kgo.Client
	onAck   func(string, time.Duration)
	log     *slog.Logger
	m       *Metrics
	stall   time.Duration
	lastAck atomic.Int64 // unix nanos
	failed  atomic.Int64
}

// New connects a producer client.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Publisher, error) {
	if len(cfg.Brokers) == 0 {
		return nil, fmt.Errorf("publisher: no brokers")
	}
	if cfg.MaxBuffered <= 0 {
		cfg.MaxBuffered = 100_000
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 10 * time.Second
	}
	if cfg.ClientID == "" {
		cfg.ClientID = "kraite-producer"
	}
	opts := append(kclient.ProducerOpts(cfg.Brokers, log),
		kgo.MaxBufferedRecords(cfg.MaxBuffered),
		kgo.ClientID(cfg.ClientID),
	)
	if len(cfg.Hooks) > 0 {
		opts = append(opts, kgo.WithHooks(cfg.Hooks...))
	}
	if cfg.Linger != nil {
		opts = append(opts, kgo.ProducerLinger(*cfg.Linger))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating producer client: %w", err)
	}
	p := &Publisher{cl: cl, onAck: cfg.OnAck, log: log, m: m, stall: cfg.StallAfter}
	p.lastAck.Store(time.Now().UnixNano())
	return p, nil
}

// Publish produces rec asynchronously. receivedAt is when the frame was read
// off the socket (the start of the frame-to-ack latency); stream labels the
// metrics ("userdata" or "markprice"). It blocks only while the buffer is full.
func (p *Publisher) Publish(rec *kgo.Record, stream string, receivedAt time.Time) {
	p.cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
		if err != nil {
			p.failed.Add(1)
			p.m.produceError(stream)
			p.log.Error("producing record failed", "topic", r.Topic, "key", string(r.Key), "err", err)
			return
		}
		now := time.Now()
		p.lastAck.Store(now.UnixNano())
		p.m.acked(stream, now.Sub(receivedAt))
		if p.onAck != nil {
			p.onAck(stream, now.Sub(receivedAt))
		}
	})
}

// Healthy is false when records wait and nothing was acknowledged for StallAfter.
func (p *Publisher) Healthy() bool {
	if p.cl.BufferedProduceRecords() == 0 {
		return true
	}
	return time.Since(time.Unix(0, p.lastAck.Load())) < p.stall
}

// Buffered is the number of records not yet acknowledged.
func (p *Publisher) Buffered() int64 { return p.cl.BufferedProduceRecords() }

// Failed counts records that could not be delivered (client closed).
func (p *Publisher) Failed() int64 { return p.failed.Load() }

// Flush waits until every buffered record is acknowledged or ctx ends.
func (p *Publisher) Flush(ctx context.Context) error {
	if err := p.cl.Flush(ctx); err != nil {
		return fmt.Errorf("flushing producer: %w", err)
	}
	return nil
}

// Close flushes (bounded by ctx) and closes the client.
func (p *Publisher) Close(ctx context.Context) error {
	err := p.Flush(ctx)
	p.cl.Close()
	return err
}

// Client exposes the underlying client (tests and admin use).
func (p *Publisher) Client() *kgo.Client { return p.cl }
