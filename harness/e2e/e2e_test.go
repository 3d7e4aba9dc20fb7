package e2e_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/harness/e2e"
)

// A short run at a few accounts, new cycle and baseline: the report has
// every path and stage with samples, and every frame of the window is
// accounted for (no timing assertions: the machine is shared).
func TestShortRunAccountsForEveryFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole pipeline")
	}
	server := os.Getenv("KRAITE_TEST_MYSQL_URL")
	if server == "" {
		server = "mysql://root@127.0.0.1:3306/test"
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	rep, err := e2e.Run(ctx, e2e.Config{Accounts: 4, Duration: 4 * time.Second, Warmup: time.Second,
		OrderInterval: 150 * time.Millisecond, DatabaseURL: server, Baseline: true, Drain: 30 * time.Second, Out: &out})
	t.Log("\n" + out.String())
	if err != nil {
		if strings.Contains(err.Error(), "connect") && os.Getenv("KRAITE_TEST_REQUIRE_DB") != "1" {
			t.Skipf("no database server: %v", err)
		}
		t.Fatal(err)
	}
	if len(rep.Phases) != 2 {
		t.Fatalf("%d phases, want the new cycle and the baseline", len(rep.Phases))
	}
	for _, ph := range rep.Phases {
		if ph.Frames == 0 || ph.OrderFrames == 0 {
			t.Fatalf("%s: %d frames, %d order frames", ph.Name, ph.Frames, ph.OrderFrames)
		}
		if ph.Missing() != 0 {
			t.Errorf("%s: %d frames missing", ph.Name, ph.Missing())
		}
		for _, p := range append(append([]e2e.Path{}, ph.Paths...), ph.Stages...) {
			if p.Dist.N == 0 {
				t.Errorf("%s: %s has no samples", ph.Name, p.Name)
			}
		}
		if ph.LoadBefore == "" || ph.LoadAfter == "" {
			t.Errorf("%s: no load average", ph.Name)
		}
	}
	for _, want := range []string{"ratio baseline/new", "frame -> orders row", "missing 0"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}
