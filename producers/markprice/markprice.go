// Package markprice is the public all-symbols mark-price producer: one
// connection to !markPrice@arr@1s on the 2026 /market route, every frame
// (the whole 1 Hz array) produced unchanged to the mark-price topic with the
// exchange as key. It reconnects with the same capped, jittered backoff as
// the user-data producer and rotates its connection before the 24 h cut-off.
//
// A frame that can never be stored (larger than the topic's limit, or
// refused by the broker) is counted and logged once per episode and
// otherwise dropped: there is no backfill for prices, and the next tick, a
// second later, replaces it. A frame over the WebSocket read limit drops
// the connection, which reconnects.
package markprice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/wsconn"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/topics"
)

const streamName = "markprice"

// Config configures the producer.
type Config struct {
	Exchange    string // default "binance"
	TopicPrefix string // default topics.DefaultPrefix
	WSBase      string // e.g. wss://fstream.binance.com or ws://127.0.0.1:8090
	// Stream is the stream path (default "!markPrice@arr@1s").
	Stream string
	// IdleTimeout: a 1 Hz stream silent this long is dead (default 15s).
	IdleTimeout time.Duration
	// RotateAfter replaces the connection before the 24 h cut-off (default 23h30m).
	RotateAfter time.Duration
	Backoff     backoff.Policy
}

func (c Config) withDefaults() Config {
	if c.Exchange == "" {
		c.Exchange = topics.ExchangeBinance
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = topics.DefaultPrefix
	}
	if c.Stream == "" {
		c.Stream = "!markPrice@arr@1s"
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 15 * time.Second
	}
	if c.RotateAfter <= 0 {
		c.RotateAfter = 23*time.Hour + 30*time.Minute
	}
	if c.Backoff.Base <= 0 {
		c.Backoff = backoff.Policy{Base: time.Second, Cap: 32 * time.Second, Jitter: backoff.DefaultJitter}
	}
	return c
}

// Validate names every bad field.
func (c Config) Validate() error {
	if c.WSBase == "" {
		return errors.New("WSBase is required")
	}
	if c.RotateAfter >= 24*time.Hour {
		return fmt.Errorf("RotateAfter %s must be below the 24 h connection cut-off", c.RotateAfter)
	}
	return nil
}

// URL is the 2026 /market route of the stream.
func (c Config) URL() string { return c.WSBase + "/market/ws/" + c.Stream }

// Producer streams mark prices into Kafka.
type Producer struct {
	cfg       Config
	pub       *publisher.Publisher
	m         *publisher.Metrics
	log       *slog.Logger
	topic     string
	seq       int
	connected atomic.Bool
	frames    atomic.Int64
	refused   atomic.Int64
	refusing  atomic.Bool // an episode of refused frames is running (logged once)
}

// New validates cfg.
func New(cfg Config, pub *publisher.Publisher, m *publisher.Metrics, log *slog.Logger) (*Producer, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mark price producer config: %w", err)
	}
	return &Producer{cfg: cfg, pub: pub, m: m, log: log, topic: topics.MarkPrice.Name(cfg.TopicPrefix)}, nil
}

// Connected reports whether a socket is attached now.
func (p *Producer) Connected() bool { return p.connected.Load() }

// Frames counts frames read since start.
func (p *Producer) Frames() int64 { return p.frames.Load() }

// Refused counts frames that could not be stored since start.
func (p *Producer) Refused() int64 { return p.refused.Load() }

// Run streams until ctx ends.
func (p *Producer) Run(ctx context.Context) error {
	attempt := 0
	for ctx.Err() == nil {
		sess, err := wsconn.Dial(ctx, p.cfg.URL(), wsconn.Options{IdleTimeout: p.cfg.IdleTimeout})
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			p.log.Warn("connecting mark price stream", "attempt", attempt, "err", err)
			if !p.cfg.Backoff.Sleep(ctx, attempt) {
				break
			}
			attempt++
			continue
		}
		attempt = 0
		p.connected.Store(true)
		reason := p.serve(ctx, sess)
		p.connected.Store(false)
		if ctx.Err() == nil {
			p.m.Reconnect(streamName, "", reason)
			p.log.Info("mark price stream ended, reconnecting", "reason", reason)
		}
	}
	return nil
}

type ended struct {
	sess *wsconn.Session
	err  error
}

func (p *Producer) serve(ctx context.Context, sess *wsconn.Session) string {
	done := make(chan ended, 2)
	cur := sess
	p.start(ctx, cur, done)
	defer func() { cur.Close() }()
	rotate := time.NewTimer(p.cfg.RotateAfter)
	defer rotate.Stop()
	for {
		select {
		case <-ctx.Done():
			return "shutdown"
		case e := <-done:
			if e.sess != cur {
				continue
			}
			if errors.Is(e.err, wsconn.ErrIdle) {
				return "idle"
			}
			if errors.Is(e.err, wsconn.ErrFrameTooLarge) {
				p.refused.Add(1)
				p.m.ReadLimit(streamName)
				p.log.Warn("mark price frame over the read limit; reconnecting", "err", e.err)
				return "frame_too_large"
			}
			return "disconnect"
		case <-rotate.C:
			next, err := wsconn.Dial(ctx, p.cfg.URL(), wsconn.Options{IdleTimeout: p.cfg.IdleTimeout})
			if err != nil {
				p.log.Warn("rotating mark price connection failed; keeping the current one", "err", err)
				rotate.Reset(time.Minute)
				continue
			}
			old := cur
			cur = next
			p.start(ctx, cur, done)
			old.CloseGracefully(5 * time.Second)
			rotate.Reset(p.cfg.RotateAfter)
		}
	}
}

func (p *Producer) start(ctx context.Context, sess *wsconn.Session, done chan<- ended) {
	p.seq++
	connID := "markprice/" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + strconv.Itoa(p.seq)
	go func() {
		err := sess.Read(ctx, func(data []byte, at time.Time) { p.handle(data, at, connID) })
		done <- ended{sess: sess, err: err}
	}()
}

func (p *Producer) handle(data []byte, at time.Time, connID string) {
	p.frames.Add(1)
	p.m.Frame(streamName, "", len(data), at)
	p.pub.PublishFrame(&kgo.Record{
		Topic:   p.topic,
		Key:     []byte(p.cfg.Exchange),
		Value:   data,
		Headers: topics.FrameHeaders(p.cfg.Exchange, "", connID, topics.KindFrame, topics.SourceStream, at),
	}, streamName, at, func(r *publisher.Refusal) { p.outcome(r, len(data)) })
	if _, err := binance.ParseEnvelope(data); err != nil {
		p.m.Malformed(streamName)
		p.log.Warn("malformed mark price frame published raw", "bytes", len(data), "err", err)
	}
}

// outcome logs the start and the end of an episode of refused frames.
func (p *Producer) outcome(r *publisher.Refusal, size int) {
	if r == nil {
		if p.refusing.Load() && p.refusing.Swap(false) {
			p.log.Info("mark price frames are stored again")
		}
		return
	}
	p.refused.Add(1)
	if !p.refusing.Swap(true) {
		p.log.Warn("mark price frame cannot be stored; dropped, the next tick replaces it (logged once per episode)",
			"bytes", size, "record_bytes", r.Size, "max_record_bytes", r.Limit, "too_large", r.TooLarge,
			"refused_by_broker", r.Broker, "err", r.Err)
	}
}
