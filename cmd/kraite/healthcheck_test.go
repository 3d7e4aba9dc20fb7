package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kraite/stream/internal/ops"
)

// TestHealthcheckExitStatusAndGarbage: `kraite healthcheck` against a real
// ops server exits 0 with the /readyz body when it is ready (nothing with
// --quiet), 1 with the failing check on stderr when it is not, when nothing
// listens, when the server never answers or when KRAITE_HTTP_ADDR is
// garbage, and 2 on a bad flag; a refused --url is never repeated (it may
// hold a password).
func TestHealthcheckExitStatusAndGarbage(t *testing.T) {
	noBroker(t)
	var down atomic.Bool
	s := ops.NewServer(slog.New(slog.DiscardHandler))
	s.Ready("orders-sink", func() error {
		if down.Load() {
			return errors.New("database unreachable for 40s")
		}
		return nil
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())

	// A listener that accepts and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// A port nothing listens on.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	t.Setenv("KRAITE_HTTP_ADDR", "0.0.0.0:"+port) // the container's listener, probed on loopback
	if code, out, errOut := cliRun(t, "healthcheck"); code != 0 || out != "orders-sink: ok\n" || errOut != "" {
		t.Errorf("ready: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if code, out, errOut := cliRun(t, "healthcheck", "--quiet"); code != 0 || out != "" || errOut != "" {
		t.Errorf("ready --quiet: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	down.Store(true)
	if code, out, errOut := cliRun(t, "healthcheck"); code != 1 || out != "" || !strings.Contains(errOut, "not ready") ||
		!strings.Contains(errOut, "503") || !strings.Contains(errOut, "orders-sink: database unreachable for 40s") {
		t.Errorf("not ready: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	for name, c := range map[string]struct {
		addr string
		args []string
		code int
		want string
	}{
		"nothing listens":   {closedAddr, nil, 1, "not reachable"},
		"never answers":     {silent.Addr().String(), []string{"--timeout", "300ms"}, 1, "deadline exceeded"},
		"garbage addr":      {"\x1b[2J<b>:80", nil, 1, "KRAITE_HTTP_ADDR"},
		"no port":           {"athena", nil, 1, "KRAITE_HTTP_ADDR"},
		"named port":        {"0.0.0.0:http", nil, 1, "KRAITE_HTTP_ADDR"},
		"user in the host":  {"user@127.0.0.1:" + port, nil, 1, "KRAITE_HTTP_ADDR"},
		"huge addr":         {strings.Repeat("a", 1<<20) + ":1", nil, 1, "KRAITE_HTTP_ADDR"},
		"huge URL":          {"127.0.0.1:" + port, []string{"--url", "http://" + strings.Repeat("a", 1<<20) + "/readyz"}, 2, "--url"},
		"zero timeout":      {"127.0.0.1:" + port, []string{"--timeout", "0s"}, 2, "must be positive"},
		"negative timeout":  {"127.0.0.1:" + port, []string{"--timeout", "-1s"}, 2, "must be positive"},
		"file URL":          {"127.0.0.1:" + port, []string{"--url", "file:///etc/passwd"}, 2, "--url"},
		"password in URL":   {"127.0.0.1:" + port, []string{"--url", "http://user:secret@127.0.0.1:" + port + "/readyz"}, 2, "credentials"},
		"password, bad URL": {"127.0.0.1:" + port, []string{"--url", "ftp://user:secret@%zz/"}, 2, "--url"},
	} {
		t.Setenv("KRAITE_HTTP_ADDR", c.addr)
		start := time.Now()
		code, out, errOut := cliRun(t, append([]string{"healthcheck"}, c.args...)...)
		if code != c.code || out != "" || !strings.Contains(errOut, c.want) || strings.Contains(errOut, "secret") ||
			strings.ContainsAny(errOut, "\x00\x1b") || len(errOut) > 8<<10 {
			t.Errorf("%s: exit %d, stdout %q, stderr %.300q", name, code, out, errOut)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%s: took %s", name, d)
		}
	}
}
