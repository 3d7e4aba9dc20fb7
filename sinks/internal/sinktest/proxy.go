package sinktest

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/kraite/stream/harness/tcpproxy"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
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

// DBBehindProxy opens d's database again through a StartProxy proxy, for a
// sink whose database the test takes down (proxy.Down) and brings back. The
// connection is closed when the test ends.
func DBBehindProxy(t testing.TB, d *db.DB) (*db.DB, *Proxy) {
	t.Helper()
	u, err := url.Parse(dbtest.URL(d))
	if err != nil {
		t.Fatal(err)
	}
	proxy := StartProxy(t, u.Host)
	u.Host = proxy.Addr()
	pd, err := db.Open(context.Background(), u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pd.Close() })
	return pd, proxy
}
