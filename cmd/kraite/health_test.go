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

// Invalid accounts configuration is a startup error; an invalid reload
// keeps the current accounts and marks the box not ready with the reason
// (issue 11 point 6).
func TestAccountsConfigurationIsStrict(t *testing.T) {
	b := testkit.Broker(t, "kraite.")
	dir := t.TempDir()
	accts := filepath.Join(dir, "accounts.json")
	addr := freeAddr(t)
	t.Setenv("KRAITE_BROKERS", b.Addr())
	t.Setenv("KRAITE_LOG_LEVEL", "error")
	t.Setenv("KRAITE_HTTP_ADDR", addr)
	t.Setenv("KRAITE_STATE_DIR", filepath.Join(dir, "state"))
	t.Setenv("KRAITE_BINANCE_REST_URL", "http://"+freeAddr(t))
	t.Setenv("KRAITE_BINANCE_WS_URL", "ws://"+freeAddr(t))
	t.Setenv("KRAITE_ACCOUNTS_POLL", "100ms")
	for _, c := range []struct{ name, file, want string }{
		{"unset", "", "KRAITE_ACCOUNTS_FILE is not set"},
		{"missing", accts, "no such file"},
		{"invalid", `[{"id":"a","api_key":"k"}]`, "api_key and api_secret are required"},
		{"not JSON", `{`, "decoding accounts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			switch c.name {
			case "unset":
				t.Setenv("KRAITE_ACCOUNTS_FILE", "")
			case "missing":
				t.Setenv("KRAITE_ACCOUNTS_FILE", filepath.Join(dir, "nope.json"))
			default:
				if err := os.WriteFile(accts, []byte(c.file), 0o600); err != nil {
					t.Fatal(err)
				}
				t.Setenv("KRAITE_ACCOUNTS_FILE", accts)
			}
			_, _, err := runKraite(t.Context(), "run", "--components", "userdata-producer")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}

	if err := os.WriteFile(accts, []byte(`[{"id":"acct-a","api_key":"ka","api_secret":"sa"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRAITE_ACCOUNTS_FILE", accts)
	// KRAITE_ACCOUNTS_SOURCE other than file or database (any spelling,
	// control characters quoted) is a startup error, as is database without
	// what it needs; never a fallback to the file.
	for _, c := range []struct{ name, source, want string }{
		{"source garbage", "garbage\x1b[2J", `KRAITE_ACCOUNTS_SOURCE "garbage\x1b[2J": want file or database`},
		{"source in capitals", "DATABASE", `KRAITE_ACCOUNTS_SOURCE "DATABASE": want file or database`},
		{"source database without a key", "database", "KRAITE_ACCOUNTS_SOURCE=database: no accounts key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("KRAITE_ACCOUNTS_SOURCE", c.source)
			t.Setenv("KRAITE_ACCOUNTS_KEY", "")
			t.Setenv("KRAITE_ACCOUNTS_KEY_FILE", "")
			_, _, err := runKraite(t.Context(), "run", "--components", "userdata-producer")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
			if strings.Contains(err.Error(), "\x1b") {
				t.Fatalf("a control character of KRAITE_ACCOUNTS_SOURCE reached the error: %q", err)
			}
		})
	}
	p := startKraite(t, "run", "--components", "userdata-producer")
	testkit.Eventually(t, 30*time.Second, "/readyz to list the accounts file as ok", func() bool {
		_, body := getBody(addr, "/readyz")
		return strings.Contains(body, "accounts-file: ok")
	})
	if err := os.WriteFile(accts, []byte(`[{"id":"acct-a","api_key":"ka","api_secret":"sa"},{"id":""}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "/readyz to report the broken file", func() bool {
		code, body := getBody(addr, "/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "accounts-file: accounts file "+accts+" is invalid; keeping the current accounts")
	})
	if err := os.WriteFile(accts, []byte(`[{"id":"acct-a","api_key":"ka","api_secret":"sa"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "/readyz to recover", func() bool {
		_, body := getBody(addr, "/readyz")
		return strings.Contains(body, "accounts-file: ok")
	})
	if strings.Contains(p.out.String(), "sa\"") {
		t.Fatal("a secret reached the output")
	}
	p.stop(t)
}
