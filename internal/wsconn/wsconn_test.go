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

// TestAFrameOverTheReadLimitEndsTheSession: a frame over ReadLimit, whole or
// fragmented, is never delivered; Read closes the session and returns
// ErrFrameTooLarge promptly (no hang), after delivering the frames before it.
func TestAFrameOverTheReadLimitEndsTheSession(t *testing.T) {
	const limit = 4096
	for _, fragmented := range []bool{false, true} {
		serverSaw := make(chan error, 1)
		url := server(t, func(c *websocket.Conn) {
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"e":"small"}`))
			big := []byte(`{"e":"big","x":"` + strings.Repeat("a", 3*limit) + `"}`)
			if fragmented {
				w, err := c.NextWriter(websocket.TextMessage)
				if err != nil {
					serverSaw <- err
					return
				}
				for i := 0; i < len(big); i += 1000 {
					_, _ = w.Write(big[i:min(i+1000, len(big))])
				}
				_ = w.Close()
			} else {
				_ = c.WriteMessage(websocket.TextMessage, big)
			}
			_ = c.WriteMessage(websocket.TextMessage, []byte(`{"e":"after"}`))
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, _, err := c.ReadMessage()
			serverSaw <- err
		})
		s, err := Dial(t.Context(), url, Options{IdleTimeout: 5 * time.Second, ReadLimit: limit})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		done := make(chan error, 1)
		go func() { done <- s.Read(t.Context(), func(d []byte, _ time.Time) { got = append(got, string(d)) }) }()
		select {
		case err := <-done:
			if !errors.Is(err, ErrFrameTooLarge) {
				t.Fatalf("fragmented=%v: Read returned %v, want ErrFrameTooLarge", fragmented, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("fragmented=%v: Read did not return after an oversized frame", fragmented)
		}
		if len(got) != 1 || got[0] != `{"e":"small"}` {
			t.Fatalf("fragmented=%v: delivered %q, want only the small frame", fragmented, got)
		}
		select {
		case err := <-serverSaw:
			if err == nil {
				t.Fatal("the server read a message; want the connection closed")
			}
		case <-time.After(5 * time.Second):
			t.Fatal("the server was left hanging on an open connection")
		}
		s.Close() // idempotent after Read closed it
	}
}

func TestDefaultReadLimit(t *testing.T) {
	if got := (Options{}).withDefaults().ReadLimit; got != DefaultReadLimit {
		t.Fatalf("default read limit %d", got)
	}
}
