package simulator

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

type connKind int

const (
	connUser connKind = iota // /private: user data of the bound listenKeys
	connMark                 // /market: mark price arrays
	connDead                 // legacy or unknown route: handshake, pings, nothing else
)

// Queue sizes: a user-data client may lag by this many frames, a mark price
// client by this many arrays (~85 KB each), before it is dropped.
const (
	userQueue = 4096
	markQueue = 16
)

// binding ties a user-data connection to one listenKey (and its account,
// nil when the key was never issued) with an optional event filter.
type binding struct {
	key    string
	acct   *account
	events map[string]bool // nil = every event
}

type queued struct {
	data []byte
	acct *account // user frame of this account (recorded in PushedFrames)
	mark bool     // mark price array (counted)
}

// conn is one accepted WebSocket. Its writer goroutine owns all data
// writes; kill may be called from anywhere and never blocks.
type conn struct {
	s      *Simulator
	id     string
	ws     *websocket.Conn
	kind   connKind
	stream bool // combined-stream wrapper {"stream":..,"data":..}

	bindings   []binding // connUser; fixed after registration
	markStream string    // connMark: subscribed stream name ("" = none); guarded by Simulator.mu
	markEvery  int64     // 1 for @1s, 3 for the 3 s stream; guarded by Simulator.mu

	q         chan queued
	done      chan struct{}
	closeOnce sync.Once
	born      time.Time

	pending     atomic.Int64 // queued frames not yet written or skipped
	silentUntil atomic.Int64 // unix ns
	lastPing    atomic.Int64 // unix ns of the last ping sent
	lastPong    atomic.Int64 // unix ns of the last pong received
}

var upgrader = websocket.Upgrader{
	ReadBufferSize:  4096,
	WriteBufferSize: 64 << 10,
	CheckOrigin:     func(*http.Request) bool { return true },
}

// serveWS upgrades and registers a connection; it returns at once, the
// connection lives in its own goroutines.
func (s *Simulator) serveWS(w http.ResponseWriter, r *http.Request, c *conn) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	now := time.Now()
	c.s, c.ws, c.born, c.done = s, ws, now, make(chan struct{})
	c.lastPing.Store(now.UnixNano())
	c.lastPong.Store(now.UnixNano())
	size := userQueue
	if c.kind == connMark {
		size = markQueue
	}
	c.q = make(chan queued, size)
	s.mu.Lock()
	s.connSeq++
	c.id = fmt.Sprintf("conn-%06d", s.connSeq)
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.log.Debug("websocket connected", "conn", c.id, "path", r.URL.Path)
	go c.writeLoop()
	go c.readLoop()
}

func (c *conn) kill() {
	c.closeOnce.Do(func() {
		close(c.done)
		c.ws.UnderlyingConn().Close() // abrupt: no close frame
	})
}

func (c *conn) closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

func (c *conn) silenced(now time.Time) bool { return now.UnixNano() < c.silentUntil.Load() }

// send queues a frame without blocking; a full queue drops the client.
func (c *conn) send(it queued) bool {
	if c.closed() || c.silenced(time.Now()) {
		return false
	}
	c.pending.Add(1)
	select {
	case c.q <- it:
		return true
	default:
		c.pending.Add(-1)
		c.s.log.Warn("dropping slow websocket client", "conn", c.id)
		c.kill()
		return false
	}
}

func (c *conn) readLoop() {
	defer func() {
		c.kill()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	}()
	c.ws.SetReadLimit(64 << 10)
	c.ws.SetPongHandler(func(string) error {
		c.lastPong.Store(time.Now().UnixNano())
		return nil
	})
	windowStart, count := time.Now(), 0
	for {
		_, msg, err := c.ws.ReadMessage()
		if err != nil {
			return
		}
		// Binance allows 10 incoming messages per second per connection.
		if now := time.Now(); now.Sub(windowStart) >= time.Second {
			windowStart, count = now, 0
		}
		if count++; count > 10 {
			return
		}
		c.s.handleClientMessage(c, msg)
	}
}

func (c *conn) writeLoop() {
	cfg := c.s.cfg
	tick := time.NewTicker(max(min(cfg.PingInterval, cfg.PongTimeout, cfg.MaxConnAge)/4, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-c.done:
			return
		case it := <-c.q:
			if c.silenced(time.Now()) {
				c.pending.Add(-1)
				continue
			}
			c.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.ws.WriteMessage(websocket.TextMessage, it.data); err != nil {
				c.kill()
				return
			}
			c.s.record(c, it)
			c.pending.Add(-1)
		case now := <-tick.C:
			if !c.housekeep(now) {
				c.kill()
				return
			}
		}
	}
}

// housekeep sends pings and enforces the pong deadline and the age limit;
// false means the connection must go.
func (c *conn) housekeep(now time.Time) bool {
	cfg := c.s.cfg
	if c.silenced(now) {
		c.lastPong.Store(now.UnixNano()) // a silent server expects no pongs
		return true
	}
	if now.Sub(c.born) >= cfg.MaxConnAge {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "connection age limit")
		c.ws.WriteControl(websocket.CloseMessage, msg, now.Add(time.Second))
		c.s.log.Debug("websocket closed at age limit", "conn", c.id)
		return false
	}
	ping, pong := c.lastPing.Load(), c.lastPong.Load()
	if ping > pong && now.UnixNano()-ping > int64(cfg.PongTimeout) {
		c.s.log.Debug("websocket dropped: no pong", "conn", c.id)
		return false
	}
	if now.UnixNano()-ping >= int64(cfg.PingInterval) {
		payload := strconv.AppendInt(nil, now.UnixMilli(), 10)
		if err := c.ws.WriteControl(websocket.PingMessage, payload, now.Add(10*time.Second)); err != nil {
			return false
		}
		if ping <= pong { // keep the oldest unanswered ping
			c.lastPing.Store(now.UnixNano())
		}
	}
	return true
}

func (s *Simulator) record(c *conn, it queued) {
	switch {
	case it.mark:
		s.logMu.Lock()
		s.markPushed++
		s.logMu.Unlock()
	case it.acct != nil:
		s.logMu.Lock()
		if len(it.acct.pushed) < maxPushed {
			it.acct.pushed = append(it.acct.pushed, Pushed{ConnID: c.id, At: s.now(), Data: it.data})
		}
		s.logMu.Unlock()
	}
}

// emit delivers one user-data event of a, unless LoseNext swallows it.
// Caller holds mu.
func (s *Simulator) emit(a *account, event string, frame []byte) {
	if a.loseNext > 0 {
		a.loseNext--
		return
	}
	s.expireIfDue(a)
	if a.keyActive {
		s.broadcast(a, a.key, event, frame)
	}
}

// broadcast queues frame on every user connection bound to key of a.
func (s *Simulator) broadcast(a *account, key, event string, frame []byte) {
	for c := range s.conns {
		if c.kind != connUser {
			continue
		}
		for _, b := range c.bindings {
			if b.acct != a || b.key != key || (b.events != nil && !b.events[event]) {
				continue
			}
			data := frame
			if c.stream {
				data = wrap(key, frame)
			}
			c.send(queued{data: data, acct: a})
			break
		}
	}
}

// tickMarket advances the market and pushes one mark price array to every
// subscribed market connection.
func (s *Simulator) tickMarket() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	s.market.step(now)
	raw := s.market.markPriceFrame(now)
	wrapped := map[string][]byte{}
	for c := range s.conns {
		if c.kind != connMark || c.markStream == "" || s.market.ticks%c.markEvery != 0 {
			continue
		}
		data := raw
		if c.stream {
			if wrapped[c.markStream] == nil {
				wrapped[c.markStream] = wrap(c.markStream, raw)
			}
			data = wrapped[c.markStream]
		}
		c.send(queued{data: data, mark: true})
	}
}

// markStreamEvery recognises the all-market mark price streams.
func markStreamEvery(name string) (int64, bool) {
	switch strings.ToLower(name) {
	case "!markprice@arr@1s":
		return 1, true
	case "!markprice@arr":
		return 3, true
	}
	return 0, false
}
