package userdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/wsconn"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/topics"
)

const streamName = "userdata"

// Reasons a connection ended (gap marker reasons and reconnect metric labels).
const (
	reasonStartup    = "startup"
	reasonDisconnect = "disconnect"
	reasonIdle       = "idle"
	reasonKeyExpired = "listenKeyExpired"
	reasonKeyGone    = "listenKeyGone"
	reasonPanic      = "panic"
	// The account came from another producer that had already closed its
	// socket (or whose promised overlap ended) when this one connected.
	reasonHandOver = "handover"
	// A frame that can never be stored: too large for Kafka (or for the
	// WebSocket read limit, which also drops the connection), or refused
	// by the broker as an invalid record.
	reasonFrameTooLarge = "frame_too_large"
	reasonFrameRefused  = "frame_refused"
)

// frameGapMargin widens the gap marker of a frame that could not be stored
// back in time: the events it carried happened before it was read (by
// Binance's E, normally milliseconds earlier; clocks differ).
const frameGapMargin = 5 * time.Second

// maxEventLag bounds how far before its read time a frame's own E may move
// the start of its gap marker: a garbage E must not send the backfill to
// read a year of history.
const maxEventLag = time.Hour

// stream owns one account's connection. Only its run goroutine touches it,
// except the counters read by the manager.
type stream struct {
	acct  Account
	cfg   Config
	rest  *binanceapi.Client
	pub   *publisher.Publisher
	m     *publisher.Metrics
	log   *slog.Logger
	topic string

	connSeq   int
	connected atomic.Bool
	// keyAt and keptAt: when the listenKey in use was obtained and last
	// kept alive (unix ms; 0 never), for status pages.
	keyAt, keptAt atomic.Int64
	// handOverUntil: the previous owner keeps its socket until then; the
	// first connection made before it publishes no gap marker.
	handOverUntil time.Time
	hook          func(Account, []byte) // tests only: called for every frame before it is handled

	// An episode of refused frames: logged when it starts and when the
	// next frame is stored again, not per frame.
	refusing       atomic.Bool
	refusedEpisode atomic.Int64
}

// event is what a session's reader reports to the stream's control loop.
type event struct {
	sess   *wsconn.Session
	expiry bool  // a listenKeyExpired frame arrived
	err    error // the session ended (nil when only expiry)
}

// run keeps the account streaming until ctx ends. down is when the socket
// was last known detached; reason why. Every reconnect publishes a gap
// marker for [down, connected).
func (s *stream) run(ctx context.Context, down time.Time, reason string) (time.Time, string) {
	attempt := 0
	for ctx.Err() == nil {
		key, sess, err := s.connect(ctx)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			s.log.Warn("connecting user data stream", "attempt", attempt, "err", err)
			if !s.cfg.Backoff.Sleep(ctx, attempt) {
				break
			}
			attempt++
			continue
		}
		attempt = 0
		connID := s.nextConnID()
		now := time.Now()
		s.keyAt.Store(now.UnixMilli())
		s.keptAt.Store(0)
		if overlap := !s.handOverUntil.IsZero() && now.Before(s.handOverUntil); overlap {
			s.log.Debug("connected before the previous owner closes: no gap", "conn_id", connID)
		} else {
			s.publishGap(down, now, connID, reason)
		}
		s.handOverUntil = time.Time{}
		s.connected.Store(true)
		reason = s.serve(ctx, key, sess, connID)
		s.connected.Store(false)
		down = time.Now()
		if reason == reasonFrameTooLarge {
			down = down.Add(-frameGapMargin) // the frame's events came before it
		}
		if ctx.Err() == nil {
			s.m.Reconnect(streamName, s.acct.ID, reason)
			s.log.Info("user data stream ended, reconnecting", "reason", reason)
		}
	}
	return down, reasonStartup
}

func (s *stream) connect(ctx context.Context) (string, *wsconn.Session, error) {
	key, err := s.rest.CreateListenKey(ctx, s.acct.Creds())
	if err != nil {
		return "", nil, err
	}
	sess, err := wsconn.Dial(ctx, s.cfg.StreamURL(key), wsconn.Options{IdleTimeout: s.cfg.IdleTimeout})
	if err != nil {
		return "", nil, fmt.Errorf("listenKey %s: %w", binanceapi.Mask(key), err)
	}
	return key, sess, nil
}

func (s *stream) nextConnID() string {
	s.connSeq++
	return s.acct.ID + "/" + strconv.FormatInt(time.Now().UnixMilli(), 36) + "-" + strconv.Itoa(s.connSeq)
}

// serve reads the session until it ends and returns why. It keeps the key
// alive and rotates the connection before the 24 h cut-off, opening the new
// socket before closing the old one (no gap; duplicates are allowed).
func (s *stream) serve(ctx context.Context, key string, sess *wsconn.Session, connID string) string {
	events := make(chan event, 4)
	cur := sess
	s.startReader(ctx, cur, connID, events)
	defer func() { cur.Close() }()

	keepAlive := time.NewTicker(s.cfg.KeepAlive)
	defer keepAlive.Stop()
	rotate := time.NewTimer(s.cfg.RotateAfter)
	defer rotate.Stop()

	for {
		select {
		case <-ctx.Done():
			return reasonDisconnect
		case ev := <-events:
			if ev.sess != cur {
				continue // the reader of a rotated-away connection
			}
			if ev.expiry {
				return reasonKeyExpired
			}
			if errors.Is(ev.err, wsconn.ErrIdle) {
				return reasonIdle
			}
			if errors.Is(ev.err, wsconn.ErrFrameTooLarge) {
				s.m.ReadLimit(streamName)
				s.log.Warn("user data frame over the read limit; reconnecting this account (a gap marker covers it)", "err", ev.err)
				return reasonFrameTooLarge
			}
			var pe *panicError
			if errors.As(ev.err, &pe) {
				s.log.Error("frame handler panicked; reconnecting this account only", "panic", fmt.Sprint(pe.value), "stack", string(pe.stack))
				return reasonPanic
			}
			return reasonDisconnect
		case <-keepAlive.C:
			if err := s.rest.KeepAliveListenKey(ctx, s.acct.Creds()); err != nil {
				if binanceapi.IsListenKeyGone(err) {
					return reasonKeyGone
				}
				s.log.Warn("listenKey keep-alive failed; will retry", "err", err)
			} else {
				s.keptAt.Store(time.Now().UnixMilli())
			}
		case <-rotate.C:
			next, err := wsconn.Dial(ctx, s.cfg.StreamURL(key), wsconn.Options{IdleTimeout: s.cfg.IdleTimeout})
			if err != nil {
				s.log.Warn("rotating connection failed; keeping the current one", "err", err)
				rotate.Reset(time.Minute)
				continue
			}
			connID = s.nextConnID()
			old := cur
			cur = next
			s.startReader(ctx, cur, connID, events)
			old.CloseGracefully(5 * time.Second)
			rotate.Reset(s.cfg.RotateAfter)
			s.log.Info("rotated user data connection", "conn_id", connID)
		}
	}
}

// startReader reads sess in its own goroutine, publishing every frame
// unchanged and reporting expiry and the end of the session.
func (s *stream) startReader(ctx context.Context, sess *wsconn.Session, connID string, events chan<- event) {
	go func() {
		err := s.read(ctx, sess, connID, events)
		select {
		case events <- event{sess: sess, err: err}:
		case <-ctx.Done():
		}
	}()
}

// read runs the session's read loop; a panic while handling a frame ends
// this session (and is reported) instead of the process.
func (s *stream) read(ctx context.Context, sess *wsconn.Session, connID string, events chan<- event) (err error) {
	defer func() {
		if p := recover(); p != nil {
			sess.Close()
			err = &panicError{value: p, stack: debug.Stack()}
		}
	}()
	return sess.Read(ctx, func(data []byte, at time.Time) {
		if s.hook != nil {
			s.hook(s.acct, data)
		}
		if s.handleFrame(data, at, connID) {
			select {
			case events <- event{sess: sess, expiry: true}:
			case <-ctx.Done():
			}
		}
	})
}

type panicError struct {
	value any
	stack []byte
}

func (p *panicError) Error() string { return fmt.Sprintf("panic handling frame: %v", p.value) }

// handleFrame publishes data and reports whether it was a listenKeyExpired.
func (s *stream) handleFrame(data []byte, at time.Time, connID string) bool {
	s.m.Frame(streamName, s.acct.ID, len(data), at)
	s.pub.PublishFrame(&kgo.Record{
		Topic:   s.topic,
		Key:     []byte(s.acct.ID),
		Value:   data,
		Headers: topics.FrameHeaders(s.cfg.Exchange, s.acct.ID, connID, topics.KindFrame, topics.SourceStream, at),
	}, streamName, at, func(r *publisher.Refusal) { s.frameOutcome(r, data, at, connID) })
	env, err := binance.ParseEnvelope(data)
	if err != nil {
		s.m.Malformed(streamName)
		s.log.Warn("malformed user data frame published raw", "conn_id", connID, "bytes", len(data), "err", err)
		return false
	}
	return env.Event == binance.EventListenKeyExpired
}

// frameOutcome is told whether a frame was stored (r nil) or can never be
// (r set). A refused frame leaves a gap marker in the account's partition
// covering the frame's time, so the backfill recovers what it carried.
func (s *stream) frameOutcome(r *publisher.Refusal, data []byte, at time.Time, connID string) {
	if r == nil {
		if s.refusing.Load() && s.refusing.Swap(false) {
			s.log.Info("user data frames are stored again", "refused_in_episode", s.refusedEpisode.Swap(0))
		}
		return
	}
	reason := reasonFrameRefused
	if r.TooLarge {
		reason = reasonFrameTooLarge
	}
	s.refusedEpisode.Add(1)
	if !s.refusing.Swap(true) {
		s.log.Warn("user data frame cannot be stored; a gap marker covers it (logged once per episode)",
			"reason", reason, "bytes", len(data), "record_bytes", r.Size, "max_record_bytes", r.Limit,
			"refused_by_broker", r.Broker, "conn_id", connID, "err", r.Err)
	}
	s.publishGap(frameGapStart(data, at), at, connID, reason)
}

// frameGapStart is where the gap marker of a refused frame starts: the
// frame's own event time when it parses and is plausible, else its read
// time, minus frameGapMargin.
func frameGapStart(data []byte, at time.Time) time.Time {
	from := at
	if env, err := binance.ParseEnvelope(data); err == nil && env.EventTime > 0 {
		if e := time.UnixMilli(env.EventTime); e.Before(from) && at.Sub(e) <= maxEventLag {
			from = e
		}
	}
	return from.Add(-frameGapMargin)
}

// publishGap writes a gap marker for [from, to) into the account's partition.
func (s *stream) publishGap(from, to time.Time, connID, reason string) {
	g := topics.GapMarker{Kind: topics.KindGap, Exchange: s.cfg.Exchange, Account: s.acct.ID,
		ToMs: to.UnixMilli(), ConnID: connID, Reason: reason}
	if !from.IsZero() {
		g.FromMs = from.UnixMilli()
	}
	v, _ := json.Marshal(g) // a struct of strings and ints cannot fail
	s.m.Gap(s.acct.ID)
	s.pub.Publish(&kgo.Record{
		Topic:   s.topic,
		Key:     []byte(s.acct.ID),
		Value:   v,
		Headers: topics.FrameHeaders(s.cfg.Exchange, s.acct.ID, connID, topics.KindGap, topics.SourceStream, to),
	}, "gap", to)
}
