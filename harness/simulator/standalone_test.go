package simulator

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestListenRefusesWhatCannotRun(t *testing.T) {
	ok := StandaloneConfig{Addr: "127.0.0.1:0", Accounts: 1, MarkInterval: time.Second, AdminToken: "t"}
	for _, tc := range []struct {
		mod  func(*StandaloneConfig)
		want string
	}{
		{func(c *StandaloneConfig) { c.Accounts = 0 }, "--accounts"},
		{func(c *StandaloneConfig) { c.Accounts = -1 }, "--accounts"},
		{func(c *StandaloneConfig) { c.Accounts = MaxAccounts + 1 }, "--accounts"},
		{func(c *StandaloneConfig) { c.Accounts = 1 << 40 }, "--accounts"},
		{func(c *StandaloneConfig) { c.MarkInterval = 0 }, "--mark-interval"},
		{func(c *StandaloneConfig) { c.MarkInterval = -time.Second }, "--mark-interval"},
		{func(c *StandaloneConfig) { c.MarkInterval = time.Nanosecond }, "--mark-interval"},
		{func(c *StandaloneConfig) { c.Addr = "garbage" }, "--addr"},
		{func(c *StandaloneConfig) { c.Addr = "0.0.0.0:0" }, "not a loopback address"},
		{func(c *StandaloneConfig) { c.AdminToken, c.DataDir = "", "" }, "needs a token"},
	} {
		// A refused setting writes nothing: no generated token, no state.
		c := ok
		c.AdminToken, c.DataDir = "", t.TempDir()
		tc.mod(&c)
		if _, err := Listen(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
		if c.DataDir != "" {
			if left, _ := os.ReadDir(c.DataDir); len(left) > 0 {
				t.Errorf("%+v: refused, yet wrote %s into the data dir", c, left[0].Name())
			}
		}
	}
	// The bounds themselves run.
	edge := ok
	edge.MarkInterval, edge.Accounts = MinMarkInterval, 1
	s, err := Listen(edge)
	if err != nil {
		t.Fatalf("--mark-interval %v refused: %v", MinMarkInterval, err)
	}
	s.ln.Close()
	s.Close()
}

func TestListenGeneratesATokenKeepsStateAndServes(t *testing.T) {
	dir := t.TempDir()
	s, err := Listen(StandaloneConfig{Addr: "127.0.0.1:0", Seed: 3, Accounts: 2, MarkInterval: time.Second, DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	tokPath := filepath.Join(dir, "admin-token")
	fi, err := os.Stat(tokPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v %v", fi, err)
	}
	if s.TokenHint != "$(cat "+tokPath+")" || s.StateFile != filepath.Join(dir, "state.json") || strings.HasSuffix(s.Addr, ":0") {
		t.Fatalf("hint %q, state %q, addr %q", s.TokenHint, s.StateFile, s.Addr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	tok, _ := os.ReadFile(tokPath)
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.Addr+"/admin/accounts", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("admin with the generated token: http %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
}
