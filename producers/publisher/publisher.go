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
//
// # Records that can never be delivered
//
// Retrying cannot deliver a record the broker refuses as a record: one
// larger than the topic's max.message.bytes, or one it calls invalid. An
// exchange frame must not vanish that way, so PublishFrame measures every
// frame against MaxRecordBytes before producing (a frame over it is not
// even sent) and classifies produce errors (Refusable): either way the
// caller is told, with the size, and writes a gap marker so the backfill
// recovers what the frame carried. When the broker's own limit is lower
// than ours, it refuses the whole batch and franz-go fails every record
// buffered for that partition with it: each of them is reported, so
// every account that lost a frame gets its own gap marker.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// Config configures a Publisher.
type Config struct {
	// Kafka builds the producer client.
	Kafka *kclient.Factory
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
	// MaxRecordBytes is the largest record produced, measured as
	// RecordSize does; it is also the client's batch limit
	// (ProducerBatchMaxBytes). Default topics.FrameMaxBytes, the
	// max.message.bytes of the frame topics; it must not exceed the
	// topics' limit, or the broker refuses what passed here.
	MaxRecordBytes int
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
	refused atomic.Int64
	max     int
}

// New connects a producer client.
func New(cfg Config, log *slog.Logger, m *Metrics) (*Publisher, error) {
	if err := cfg.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("publisher: %w", err)
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
	if cfg.MaxRecordBytes <= 0 {
		cfg.MaxRecordBytes = topics.FrameMaxBytes
	}
	if cfg.MaxRecordBytes < 1024 || cfg.MaxRecordBytes > 1<<30 {
		return nil, fmt.Errorf("publisher: MaxRecordBytes %d outside [1 KiB, 1 GiB]", cfg.MaxRecordBytes)
	}
	opts := []kgo.Opt{
		kgo.MaxBufferedRecords(cfg.MaxBuffered),
		kgo.ClientID(cfg.ClientID),
		kgo.ProducerBatchMaxBytes(int32(cfg.MaxRecordBytes)),
	}
	if cfg.Linger != nil {
		opts = append(opts, kgo.ProducerLinger(*cfg.Linger))
	}
	kf := cfg.Kafka
	if log != nil {
		kf = kf.WithLog(log)
	}
	cl, err := kf.Producer(opts...)
	if err != nil {
		return nil, fmt.Errorf("creating producer client: %w", err)
	}
	p := &Publisher{cl: cl, onAck: cfg.OnAck, log: log, m: m, stall: cfg.StallAfter, max: cfg.MaxRecordBytes}
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
		p.ack(stream, receivedAt)
	})
}

func (p *Publisher) ack(stream string, receivedAt time.Time) {
	now := time.Now()
	p.lastAck.Store(now.UnixNano())
	p.m.acked(stream, now.Sub(receivedAt))
	if p.onAck != nil {
		p.onAck(stream, now.Sub(receivedAt))
	}
}

// Refusal describes a record that can never be delivered: retrying cannot
// fix it, so the caller must account for what it carried (a gap marker).
type Refusal struct {
	Size     int   // the record's size (RecordSize)
	Limit    int   // the publisher's MaxRecordBytes
	TooLarge bool  // too large for us or for the broker (else refused as invalid)
	Broker   bool  // the broker refused it (false: refused before producing)
	Err      error // why
}

// ErrTooLarge refuses a record over MaxRecordBytes before it is produced.
var ErrTooLarge = errors.New("record larger than the producer's max record bytes")

// Refusable reports whether a produce error refuses the record itself, so
// that no retry can ever deliver it: too large (MESSAGE_TOO_LARGE,
// RECORD_LIST_TOO_LARGE, or ErrTooLarge) or invalid as a record
// (INVALID_RECORD, CORRUPT_MESSAGE, INVALID_TIMESTAMP). A closed client or
// an outage is not a refusal.
func Refusable(err error) (refused, tooLarge bool) {
	switch {
	case errors.Is(err, ErrTooLarge), errors.Is(err, kerr.MessageTooLarge), errors.Is(err, kerr.RecordListTooLarge):
		return true, true
	case errors.Is(err, kerr.InvalidRecord), errors.Is(err, kerr.CorruptMessage), errors.Is(err, kerr.InvalidTimestamp):
		return true, false
	}
	return false, false
}

// recordOverhead bounds what a record adds to its key, value and headers
// on the wire when it is alone in a batch: the v2 batch header (61 bytes)
// and its length prefix, and the record's own varints (length, timestamp
// and offset deltas, key and value lengths, header count), generously.
const recordOverhead = 61 + 4 + 5*8

// RecordSize is the size a record takes alone in a produce batch, never
// less than what franz-go and the broker measure against their limits.
func RecordSize(rec *kgo.Record) int {
	n := len(rec.Key) + len(rec.Value) + recordOverhead
	for _, h := range rec.Headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// MaxRecordBytes is the largest record PublishFrame produces.
func (p *Publisher) MaxRecordBytes() int { return p.max }

// PublishFrame is Publish for a frame whose loss must never go unnoticed.
// done is called exactly once per frame that reaches an outcome: done(nil)
// when the broker acknowledged it (from the producer's promise goroutine:
// it must be quick and must not publish), done(&Refusal) when the frame
// can never be delivered. A frame over MaxRecordBytes is refused before it
// is produced (done runs before PublishFrame returns); a broker refusal is
// reported on a goroutine of its own, so done may publish (a gap marker).
// A record lost because the client closed is counted and logged as in
// Publish, and done is not called.
func (p *Publisher) PublishFrame(rec *kgo.Record, stream string, receivedAt time.Time, done func(*Refusal)) {
	size := RecordSize(rec)
	if size > p.max {
		p.refused.Add(1)
		p.m.refused(stream, "too_large")
		done(&Refusal{Size: size, Limit: p.max, TooLarge: true,
			Err: fmt.Errorf("%w: %d > %d bytes", ErrTooLarge, size, p.max)})
		return
	}
	p.cl.Produce(context.Background(), rec, func(r *kgo.Record, err error) {
		if err == nil {
			p.ack(stream, receivedAt)
			done(nil)
			return
		}
		refused, tooLarge := Refusable(err)
		if !refused {
			p.failed.Add(1)
			p.m.produceError(stream)
			p.log.Error("producing record failed", "topic", r.Topic, "key", string(r.Key), "err", err)
			return
		}
		p.refused.Add(1)
		if tooLarge {
			p.m.refused(stream, "broker_too_large")
		} else {
			p.m.refused(stream, "broker_invalid")
		}
		go p.report(done, &Refusal{Size: size, Limit: p.max, TooLarge: tooLarge, Broker: true, Err: err})
	})
}

// report runs a caller's refusal handler on its own goroutine: a panic in
// it is logged, never the end of the process.
func (p *Publisher) report(done func(*Refusal), r *Refusal) {
	defer func() {
		if v := recover(); v != nil {
			p.log.Error("handling a refused frame panicked", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		}
	}()
	done(r)
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

// Refused counts frames refused as records (too large or invalid); each
// was reported to its PublishFrame caller.
func (p *Publisher) Refused() int64 { return p.refused.Load() }

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
