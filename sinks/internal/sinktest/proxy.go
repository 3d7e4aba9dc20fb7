package sinktest

import (
	"testing"
	"time"

	"github.com/kraite/stream/internal/tcpproxy"
)

// Proxy is a TCP proxy in front of a database server (tcpproxy.Proxy): Down
// closes every connection and refuses new ones (the server "crashed"); Up
// accepts again. It injects outages without touching the shared server.
type Proxy = tcpproxy.Proxy

// StartProxy listens on 127.0.0.1 and forwards to target until the test ends.
func StartProxy(t testing.TB, target string) *Proxy {
	return StartDelayedProxy(t, target, 0)
}

// StartDelayedProxy is StartProxy holding every forwarded chunk for delay
// (one way): a database that far away.
func StartDelayedProxy(t testing.TB, target string, delay time.Duration) *Proxy {
	t.Helper()
	p, err := tcpproxy.StartDelayedProxy(target, delay)
	if err != nil {
		t.Fatalf("starting proxy: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}
