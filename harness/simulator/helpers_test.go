package simulator

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/testkit"
)

// fixedClock is a deterministic simulator clock.
func fixedClock() func() time.Time {
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	return func() time.Time { return t0 }
}

type harness struct {
	t   *testing.T
	sim *Simulator
	srv *httptest.Server
}

// start serves a simulator over a real listener; cfg zero values get test
// defaults (no background lifecycle unless asked).
func start(t *testing.T, cfg Config) *harness {
	t.Helper()
	if cfg.OrderInterval == 0 {
		cfg.OrderInterval = -1
	}
	sim, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(func() {
		sim.Close()
		srv.Close()
	})
	return &harness{t: t, sim: sim, srv: srv}
}

// run runs the simulator's Run until the test ends and waits for it.
func (h *harness) run() {
	h.t.Helper()
	ctx, cancel := contextWithCancel(h.t)
	done := make(chan error, 1)
	go func() { done <- h.sim.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("Run: %v", err)
		}
	})
}

func (h *harness) acct(i int) Account { return h.sim.Accounts()[i] }

// call performs a REST call and returns status, header and decoded body.
func (h *harness) call(method, path, apiKey string, params url.Values) (int, http.Header, map[string]any, []byte) {
	h.t.Helper()
	u := h.srv.URL + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	return h.do(method, u, apiKey)
}

func (h *harness) do(method, u, apiKey string) (int, http.Header, map[string]any, []byte) {
	h.t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if apiKey != "" {
		req.Header.Set("X-MBX-APIKEY", apiKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	_ = json.Unmarshal(body, &m) // arrays leave m nil; callers use body
	return resp.StatusCode, resp.Header, m, body
}

// signed performs a correctly signed call as a.
func (h *harness) signed(method, path string, a Account, params url.Values) (int, map[string]any, []byte) {
	h.t.Helper()
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	q.Set("timestamp", strconv.FormatInt(time.Now().UnixMilli(), 10))
	enc := q.Encode()
	u := h.srv.URL + path + "?" + enc + "&signature=" + binanceapi.Sign(a.APISecret, enc)
	status, _, m, body := h.do(method, u, a.APIKey)
	return status, m, body
}

func (h *harness) listenKey(a Account) string {
	h.t.Helper()
	status, _, m, body := h.call("POST", "/fapi/v1/listenKey", a.APIKey, nil)
	if status != 200 {
		h.t.Fatalf("POST listenKey: %d %s", status, body)
	}
	return m["listenKey"].(string)
}

func (h *harness) wsURL(path string) string {
	return "ws" + strings.TrimPrefix(h.srv.URL, "http") + path
}

// client is a WebSocket client that collects every text frame it reads.
type client struct {
	ws     *websocket.Conn
	mu     sync.Mutex
	frames [][]byte
	err    error
	done   chan struct{}
}

func (h *harness) dial(path string) *client {
	h.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(h.wsURL(path), nil)
	if err != nil {
		h.t.Fatalf("dial %s: %v", path, err)
	}
	c := &client{ws: ws, done: make(chan struct{})}
	go c.readLoop()
	h.t.Cleanup(func() {
		ws.Close()
		<-c.done
	})
	return c
}

func (c *client) readLoop() {
	defer close(c.done)
	for {
		_, msg, err := c.ws.ReadMessage()
		c.mu.Lock()
		if err != nil {
			c.err = err
			c.mu.Unlock()
			return
		}
		c.frames = append(c.frames, msg)
		c.mu.Unlock()
	}
}

func (c *client) got() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.frames...)
}

func (c *client) readErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// connected waits until the simulator has registered n sockets.
func (h *harness) connected(n int) {
	h.t.Helper()
	testkit.Eventually(h.t, 15*time.Second, strconv.Itoa(n)+" registered sockets", func() bool {
		h.sim.mu.Lock()
		defer h.sim.mu.Unlock()
		return len(h.sim.conns) == n
	})
}

// drained waits until no open socket has a frame queued or being written.
func (h *harness) drained(Account) {
	h.t.Helper()
	testkit.Eventually(h.t, 15*time.Second, "queued frames to be written", func() bool {
		h.sim.mu.Lock()
		defer h.sim.mu.Unlock()
		for c := range h.sim.conns {
			if !c.closed() && c.pending.Load() > 0 {
				return false
			}
		}
		return true
	})
}
