package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/testkit"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func getBody(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyzSaysWhenEveryStreamIsDown: a user-data box whose exchange is
// unreachable streams nothing; /readyz must say so once the grace is over
// (issue 11 point 5: all streams were down for 2.5 minutes while /readyz
// said 200), and /healthz lists every component.
func TestReadyzSaysWhenEveryStreamIsDown(t *testing.T) {
	b := testkit.Broker(t, "kraite.")
	dir := t.TempDir()
	accts := filepath.Join(dir, "accounts.json")
	if err := os.WriteFile(accts, []byte(`[{"id":"acct-a","api_key":"ka","api_secret":"sa"},{"id":"acct-b","api_key":"kb","api_secret":"sb"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	t.Setenv("KRAITE_BROKERS", b.Addr())
	t.Setenv("KRAITE_LOG_LEVEL", "error")
	t.Setenv("KRAITE_HTTP_ADDR", addr)
	t.Setenv("KRAITE_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("KRAITE_ACCOUNTS_FILE", accts)
	t.Setenv("KRAITE_BINANCE_REST_URL", "http://"+freeAddr(t)) // nothing listens
	t.Setenv("KRAITE_BINANCE_WS_URL", "ws://"+freeAddr(t))
	t.Setenv("KRAITE_STREAM_GRACE", "1s")
	p := startKraite(t, "run", "--components", "userdata-producer,markprice-producer")
	var body string
	testkit.Eventually(t, 60*time.Second, "/readyz to report the streams down", func() bool {
		var code int
		code, body = getBody(addr, "/readyz")
		return code == http.StatusServiceUnavailable &&
			strings.Contains(body, "userdata-streams: 2 of 2 user-data streams down for more than 1s: acct-a") &&
			strings.Contains(body, "markprice-stream: 1 of 1 mark-price stream down")
	})
	t.Log("\n" + body)
	code, hz := getBody(addr, "/healthz")
	for _, c := range []string{"userdata-producer: ok", "markprice-producer: ok", "health-monitor: ok"} {
		if !strings.Contains(hz, c) {
			t.Fatalf("/healthz (%d) lacks %q:\n%s", code, c, hz)
		}
	}
	p.stop(t)
}
