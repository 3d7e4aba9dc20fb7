package userdata

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/testkit"
)

func TestParseAccountsNamesEveryProblem(t *testing.T) {
	cases := []struct {
		name, in, wantErr string
		n                 int
	}{
		{"two good accounts", `[{"id":"a","api_key":"k","api_secret":"s"},{"id":"b","api_key":"k2","api_secret":"s2"}]`, "", 2},
		{"missing id", `[{"api_key":"k","api_secret":"s"}]`, "id is empty", 0},
		{"missing secret", `[{"id":"a","api_key":"k"}]`, "api_secret", 0},
		{"duplicate id", `[{"id":"a","api_key":"k","api_secret":"s"},{"id":"a","api_key":"k","api_secret":"s"}]`, "listed twice", 1},
		{"unknown field (a typo)", `[{"id":"a","apikey":"k","api_secret":"s"}]`, "unknown field", 0},
		{"not JSON", `id=a`, "decoding accounts", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseAccounts([]byte(c.in))
			if c.wantErr == "" && err != nil || c.wantErr != "" && (err == nil || !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("err = %v, want %q", err, c.wantErr)
			}
			if len(got) != c.n {
				t.Fatalf("%d accounts, want %d", len(got), c.n)
			}
		})
	}
}

func TestWatchFileAppliesChangesAndKeepsTheSetOnABadFile(t *testing.T) {
	r := newRig(t, rigOpts{accounts: 2})
	accts := r.sim.Accounts()
	path := filepath.Join(t.TempDir(), "accounts.json")
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	line := func(i int) string {
		return `{"id":"` + accts[i].ID + `","api_key":"` + accts[i].APIKey + `","api_secret":"` + accts[i].APISecret + `"}`
	}
	write("[" + line(0) + "]")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- WatchFile(ctx, path, 20*time.Millisecond, r.mg, testkit.Logger(t)) }()
	defer func() { cancel(); <-done }()
	running := func(want ...string) func() bool {
		return func() bool {
			st := r.mg.Status()
			if len(st) != len(want) {
				return false
			}
			for i, s := range st {
				if s.ID != want[i] {
					return false
				}
			}
			return true
		}
	}
	testkit.Eventually(t, 20*time.Second, "only the first account", running(accts[0].ID))
	write("[" + line(0) + "," + line(1) + "]")
	testkit.Eventually(t, 20*time.Second, "both accounts", running(accts[0].ID, accts[1].ID))
	write("[{broken")
	time.Sleep(100 * time.Millisecond)
	if !running(accts[0].ID, accts[1].ID)() {
		t.Fatal("a broken file changed the running accounts")
	}
}
