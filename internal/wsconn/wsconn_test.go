package wsconn

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// server starts a WebSocket server whose handler is fn.
func server(t *testing.T, fn func(c *websocket.Conn)) string {
	t.Helper()
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		fn(c)
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestSessionDeliversFramesAndAnswersPings(t *testing.T) {
	pong := make(chan string, 1)
	url := server(t, func(c *websocket.Conn) {
		c.SetPongHandler(func(p string) error { pong <- p; return nil })
		_ = c.WriteControl(websocket.PingMessage, []byte("abc"), time.Now().Add(time.Second))
		_ = c.WriteMessage(websocket.TextMessage, []byte(`{"e":"x"}`))
		for { // keep reading so the pong handler runs
			if _, _, err := c.ReadMessage(); err != nil {
				return
			}
		}
	})
	s, err := Dial(t.Context(), url, Options{IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	got := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Read(ctx, func(d []byte, _ time.Time) { got <- string(d) }) }()
	if f := <-got; f != `{"e":"x"}` {
		t.Fatalf("frame %q", f)
	}
	select {
	case p := <-pong:
		if p != "abc" {
			t.Fatalf("pong payload %q, want the ping's", p)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("read ended with %v, want context.Canceled", err)
	}
}

func TestSessionWatchdogFiresOnSilence(t *testing.T) {
	url := server(t, func(c *websocket.Conn) {
		time.Sleep(2 * time.Second) // silent: no frames, no pings
	})
	s, err := Dial(t.Context(), url, Options{IdleTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Read(t.Context(), func([]byte, time.Time) {})
	if !errors.Is(err, ErrIdle) {
		t.Fatalf("got %v, want ErrIdle", err)
	}
}

func TestSessionReportsAbruptDisconnect(t *testing.T) {
	url := server(t, func(c *websocket.Conn) {
		c.UnderlyingConn().Close() // no close frame
	})
	s, err := Dial(t.Context(), url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Read(t.Context(), func([]byte, time.Time) {}); err == nil || errors.Is(err, ErrIdle) {
		t.Fatalf("got %v, want a read error", err)
	}
	s.Close()
	s.Close() // idempotent
}

func TestBackoffDoublesCapsAndJitters(t *testing.T) {
	b := Backoff{Base: time.Second, Cap: 32 * time.Second}
	for attempt, want := range []time.Duration{1, 2, 4, 8, 16, 32, 32, 32} {
		want *= time.Second
		for range 50 {
			d := b.Delay(attempt)
			if d < want || d > want+want/2 {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, want, want+want/2)
			}
		}
	}
	if d := b.Delay(1000); d < 32*time.Second || d > 48*time.Second {
		t.Fatalf("huge attempt: %s", d)
	}
}
