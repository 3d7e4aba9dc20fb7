package streambench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

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
