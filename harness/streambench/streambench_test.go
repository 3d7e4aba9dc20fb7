package streambench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
)

const workerEnv = "KRAITE_STREAMBENCH_WORKER"

// TestMain makes this test binary a producer child when started as one.
func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) != "" {
		if err := RunWorker(context.Background(), os.Stdin, os.Stdout, testkit.Logger(nil)); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestIngestOverTwoProcesses runs the ingest benchmark small: both phases
// stream every account, report latencies and memory, and the processes
// leave cleanly.
func TestIngestOverTwoProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts producer processes")
	}
	t.Setenv(workerEnv, "1")
	var out bytes.Buffer
	res, err := Ingest(context.Background(), IngestOptions{Self: os.Args[0], Args: []string{"-test.run=^$"},
		Accounts: 12, Processes: 2, Interval: 100 * time.Millisecond, Warmup: 500 * time.Millisecond, Duration: 2 * time.Second,
		Out: &out, Log: testkit.Logger(t)})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[0].Processes != 1 || res[1].Processes != 2 {
		t.Fatalf("phases %+v", res)
	}
	for _, r := range res {
		if r.Frames == 0 || r.P50 <= 0 || r.P99 < r.P50 || r.HeapPerAccount <= 0 {
			t.Errorf("phase with %d processes: %+v", r.Processes, r)
		}
	}
	if !strings.Contains(out.String(), "ratio 2 processes / 1") {
		t.Errorf("no ratio line in\n%s", out.String())
	}
}

// TestFailoverSmall runs the failover benchmark small, with the database:
// kill -9 of one of two producer processes, every account streaming again
// with one gap marker per moved account, a third process taking its share
// with no gap marker, nothing missing from the topic, and the database
// (audit and orders sinks, gap backfill) equal to the simulator's ground
// truth: no frame, order or fill lost, no audit row, fill or transition
// doubled.
func TestFailoverSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts producer processes")
	}
	server := dbtest.URL(dbtest.MySQL(t)) // skips without MariaDB; the run makes its own scratch database there
	t.Setenv(workerEnv, "1")
	var out bytes.Buffer
	start := time.Now()
	res, err := Failover(context.Background(), FailoverOptions{Self: os.Args[0], Args: []string{"-test.run=^$"},
		Accounts: 12, Interval: time.Second, Session: 6 * time.Second, Grace: 5 * time.Second,
		// Ten IPs' weight: this test is about what the database holds, not
		// about pacing 18 syncs through one IP's minute windows.
		WeightLimit: 24_000, DatabaseURL: server, Settle: 2 * time.Minute, Out: &out, Log: testkit.Logger(t)})
	t.Logf("%s (load %s)\n%s", time.Since(start).Round(time.Second), loadavg(), out.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Moved == 0 || len(res.Recovery) != res.Moved {
		t.Errorf("%d accounts moved, %d gap markers after the kill", res.Moved, len(res.Recovery))
	}
	if res.ScaleOutGaps != 0 || res.MissingAfter != 0 || res.MissingScaleOut != 0 {
		t.Errorf("scale-out gap markers %d, frames missing from the topic %d + %d", res.ScaleOutGaps, res.MissingAfter, res.MissingScaleOut)
	}
	db := res.Database
	if db == nil {
		t.Fatal("no database result")
	}
	// An order opened and closed during the outage in a symbol the
	// account has nothing else in is beyond any REST read: reported apart
	// (only for the killed process's accounts), never doubled or phantom.
	if db.Unreachable > 0 {
		t.Logf("unreachable by REST: %d %v", db.Unreachable, db.UnreachableDetails)
	}
	if !db.Converged || !db.OK() || db.FramesPushed == 0 || db.Orders == 0 || db.Fills == 0 {
		t.Errorf("database against the ground truth: converged %t, %+v", db.Converged, db.Result)
	}
	if !res.OK() {
		t.Error("FailoverResult.OK is false")
	}
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(b))
}

func TestWorkerRefusesABadConfig(t *testing.T) {
	var out bytes.Buffer
	err := RunWorker(context.Background(), strings.NewReader("{not json\n"), &out, testkit.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "worker config") {
		t.Fatalf("err %v", err)
	}
	if err := RunWorker(context.Background(), strings.NewReader(""), &out, testkit.Logger(t)); err == nil {
		t.Fatal("an empty stdin started a worker")
	}
}

// TestSettleBoundFollowsTheWeight: the database's convergence bound grows
// with the syncs the backfill and the sweep must pace through the workers'
// share of the minute's weight.
func TestSettleBoundFollowsTheWeight(t *testing.T) {
	small := settleBound(12, 6, 24_000)
	if small < 2*time.Minute || small > 3*time.Minute {
		t.Errorf("12 accounts, 10 IPs' weight: %s", small)
	}
	oneIP := settleBound(1000, 500, 2400)
	if oneIP < 2*time.Hour {
		t.Errorf("1,000 accounts through one IP's 1,200 a minute: %s (195,000 weight)", oneIP)
	}
	if many := settleBound(1000, 500, 60_000); many >= oneIP/20 || many < 8*time.Minute {
		t.Errorf("1,000 accounts at 25 IPs' weight: %s (one IP %s)", many, oneIP)
	}
}
