// Package wsconn is the client side of one exchange WebSocket connection:
// dial with a context, read every frame, answer server pings with pongs that
// copy the payload, and treat silence (no frame and no ping for IdleTimeout)
// as a dead connection. Reconnection policy lives with the caller
// (internal/backoff gives it the capped, jittered delays).
//
// # Frame size
//
// A frame over ReadLimit is refused from its header, before its payload is
// read, so a hostile or broken peer cannot make the client allocate more
// than the limit per connection. The connection cannot continue after
// that (the rest of the frame is still on the wire): Read closes it and
// returns ErrFrameTooLarge, and the caller reconnects and accounts for the
// window as for any other disconnect (a gap marker).
package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// ErrIdle is returned by Read when nothing (no frame, no ping) arrived for IdleTimeout.
var ErrIdle = errors.New("websocket idle: no frame and no ping within the watchdog timeout")

// ErrFrameTooLarge is returned by Read when a frame exceeded ReadLimit; the
// session is closed.
var ErrFrameTooLarge = errors.New("websocket frame larger than the read limit")

// DefaultReadLimit is the default ReadLimit: twice the largest record the
// frame topics accept (topics.FrameMaxBytes, 4 MiB), so a frame too large
// for Kafka but under this is still read and accounted for by the producer
// without dropping the connection, and memory per connection stays bounded.
const DefaultReadLimit = 8 << 20

// Options configure a Session. The zero value is usable.
type Options struct {
	// IdleTimeout is the watchdog: no frame and no ping for this long ends
	// the session with ErrIdle. Default 4m30s (Binance pings every 3 min).
	IdleTimeout time.Duration
	// HandshakeTimeout bounds the dial. Default 10s.
	HandshakeTimeout time.Duration
	// ReadLimit is the largest frame accepted. Default DefaultReadLimit.
	ReadLimit int64
}

func (o Options) withDefaults() Options {
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 4*time.Minute + 30*time.Second
	}
	if o.HandshakeTimeout <= 0 {
		o.HandshakeTimeout = 10 * time.Second
	}
	if o.ReadLimit <= 0 {
		o.ReadLimit = DefaultReadLimit
	}
	return o
}

// Session is one established connection. Read must be called by one
// goroutine; Close may be called from any goroutine, any number of times.
type Session struct {
	c         *websocket.Conn
	opts      Options
	closeOnce sync.Once
}

// Dial connects to url. The ctx bounds the handshake only.
func Dial(ctx context.Context, url string, opts Options) (*Session, error) {
	opts = opts.withDefaults()
	d := websocket.Dialer{HandshakeTimeout: opts.HandshakeTimeout, Proxy: http.ProxyFromEnvironment}
	c, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dialing websocket (http %d): %w", resp.StatusCode, err)
		}
		return nil, fmt.Errorf("dialing websocket: %w", err)
	}
	c.SetReadLimit(opts.ReadLimit)
	s := &Session{c: c, opts: opts}
	c.SetPingHandler(func(payload string) error {
		s.extend()
		err := c.WriteControl(websocket.PongMessage, []byte(payload), time.Now().Add(5*time.Second))
		if errors.Is(err, websocket.ErrCloseSent) {
			return nil
		}
		return err
	})
	c.SetPongHandler(func(string) error { s.extend(); return nil })
	return s, nil
}

func (s *Session) extend() { _ = s.c.SetReadDeadline(time.Now().Add(s.opts.IdleTimeout)) }

// Read delivers every data frame to fn with the time it was read, until the
// connection ends, ctx is done (then it closes normally and returns
// ctx.Err()), the watchdog fires (ErrIdle), or a frame exceeds ReadLimit
// (ErrFrameTooLarge; the session is closed). fn must not retain data after
// it returns unless it copies it; Read allocates a fresh slice per frame, so
// retaining is in fact safe.
func (s *Session) Read(ctx context.Context, fn func(data []byte, at time.Time)) error {
	stop := context.AfterFunc(ctx, s.Close)
	defer stop()
	s.extend()
	for {
		_, data, err := s.c.ReadMessage()
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				s.Close()
				return ErrIdle
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				s.Close()
				return fmt.Errorf("%w (%d bytes): %w", ErrFrameTooLarge, s.opts.ReadLimit, err)
			}
			return fmt.Errorf("reading websocket: %w", err)
		}
		at := time.Now()
		s.extend()
		fn(data, at)
	}
}

// Close sends a normal closure and closes the socket. Idempotent.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		_ = s.c.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = s.c.Close()
	})
}

// CloseGracefully starts the close handshake: it sends a Close frame and
// lets a running Read keep delivering whatever the server wrote before it
// answered with its own Close; the socket is closed when that answer arrives
// or after wait. Frames already on the wire are not lost, which is what
// connection rotation needs.
func (s *Session) CloseGracefully(wait time.Duration) {
	err := s.c.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, "rotating"), time.Now().Add(time.Second))
	if err != nil {
		s.Close()
		return
	}
	time.AfterFunc(wait, s.Close)
}
