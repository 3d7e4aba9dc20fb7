package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/testkit"
)

// syncBuffer is a bytes.Buffer safe for the dev goroutine and the test.
type syncBuffer = testkit.SyncBuffer

// startDev runs `kraite dev` in-process on free ports and returns the
// broker address printed in its banner.
func startDev(t *testing.T, dataDir string, extra ...string) (string, func()) {
	addr, _, stop := startDevOps(t, dataDir, extra...)
	return addr, stop
}

// startDevOps is startDev that also returns the ops HTTP address.
func startDevOps(t *testing.T, dataDir string, extra ...string) (string, string, func()) {
	return startDevOpsOut(t, dataDir, &syncBuffer{}, extra...)
}

// startDevOpsOut is startDevOps writing the banner to out.
func startDevOpsOut(t *testing.T, dataDir string, out *syncBuffer, extra ...string) (string, string, func()) {
	t.Helper()
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	a := newApp(strings.NewReader(""), out, &syncBuffer{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	args := append([]string{"dev", "--data-dir", dataDir, "--broker-addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--order-interval", "20ms", "--mark-interval", "50ms"}, extra...)
	go func() { done <- a.main(ctx, args) }()
	re := regexp.MustCompile(`broker\s+(127\.0\.0\.1:\d+)`)
	reOps := regexp.MustCompile(`ops\s+http://(127\.0\.0\.1:\d+)/metrics`)
	var addr, opsAddr string
	testkit.Eventually(t, 20*time.Second, "the dev banner", func() bool {
		m, o := re.FindStringSubmatch(out.String()), reOps.FindStringSubmatch(out.String())
		if m != nil && o != nil {
			addr, opsAddr = m[1], o[1]
		}
		return addr != ""
	})
	if m := regexp.MustCompile(`simulator\s+http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String()); m != nil {
		tok, err := os.ReadFile(filepath.Join(dataDir, "simulator", "admin-token"))
		if err != nil {
			t.Fatalf("the dev simulator's admin token: %v", err)
		}
		simAdminTokens.Store(m[1], strings.TrimSpace(string(tok)))
	}
	return addr, opsAddr, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("kraite dev: %v", err)
		}
	}
}

// simAdminTokens maps a dev simulator's address to its admin token, which
// adminFault and getJSON send.
var simAdminTokens sync.Map

// withSimAdminToken adds the admin token of the simulator req goes to, if
// it is a dev simulator a test started.
func withSimAdminToken(req *http.Request) *http.Request {
	if tok, ok := simAdminTokens.Load(req.URL.Host); ok {
		req.Header.Set("Authorization", "Bearer "+tok.(string))
	}
	return req
}

func endOffsets(t *testing.T, addr string, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n
}

func TestDevFillsBothTopicsAndResumesFromItsDataDir(t *testing.T) {
	dir := t.TempDir()
	addr, opsAddr, stop := startDevOps(t, dir)
	testkit.Eventually(t, 30*time.Second, "records in both topics", func() bool {
		return endOffsets(t, addr, "kraite.user-data-stream") > 10 && endOffsets(t, addr, "kraite.mark-price") > 3
	})
	d, err := db.Open(context.Background(), "sqlite://"+filepath.Join(dir, "kraite.db"))
	if err != nil {
		t.Fatal(err)
	}
	count := func(q string) int {
		var n int
		if err := d.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	testkit.Eventually(t, 60*time.Second, "audit rows, mark prices and dispatched orders in the dev database", func() bool {
		return count("SELECT COUNT(*) FROM api_data_stream") > 10 &&
			count("SELECT COUNT(*) FROM exchange_symbols WHERE mark_price IS NOT NULL") > 1500 &&
			count("SELECT COUNT(*) FROM orders") > 0
	})
	d.Close()
	// A second dev on the same data directory fails at once, naming the owner.
	second := &syncBuffer{}
	err = newApp(nil, second, second).main(context.Background(), []string{"dev", "--data-dir", dir,
		"--broker-addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--for", "5s"})
	if err == nil || !strings.Contains(err.Error(), "in use by process") {
		t.Fatalf("a second dev on the same data dir: %v\n%s", err, second)
	}
	// /readyz names every sink, processor and the producer, and turns 200
	// once all of them are ready.
	testkit.Eventually(t, 60*time.Second, "/readyz to report every component ready", func() bool {
		resp, err := http.Get("http://" + opsAddr + "/readyz")
		if err != nil {
			return false
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, n := range []string{"kafka-producer", "orders-sink", "audit-sink", "markprice-sink", "dispatch", "regime", "gate"} {
			if !strings.Contains(string(body), n+": ok") {
				return false
			}
		}
		return resp.StatusCode == 200
	})
	for _, c := range []struct{ path, want string }{
		{"/metrics", "kraite_producer_frame_to_ack_seconds_bucket"},
		{"/metrics", "kraite_kafka_"}, // franz-go's kprom hooks
		{"/healthz", "kafka-producer: ok"},
	} {
		path, want := c.path, c.want
		resp, err := http.Get("http://" + opsAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Fatalf("%s: %d, missing %q", path, resp.StatusCode, want)
		}
	}
	if kcat, err := exec.LookPath("kcat"); err == nil {
		// A non-Go Kafka client (librdkafka) lists, consumes with keys and
		// headers, and joins a consumer group.
		list, err := exec.Command(kcat, "-b", addr, "-L").CombinedOutput()
		if err != nil || !strings.Contains(string(list), `topic "kraite.user-data-stream" with 12 partitions`) {
			t.Fatalf("kcat -L: %v\n%s", err, list)
		}
		cons, err := exec.Command(kcat, "-b", addr, "-C", "-t", "kraite.user-data-stream", "-o", "beginning", "-c", "5",
			"-f", "%k|%h|%s\n").CombinedOutput()
		if err != nil || !strings.Contains(string(cons), "acct-") || !strings.Contains(string(cons), "kind=") {
			t.Fatalf("kcat consume: %v\n%s", err, cons)
		}
		grp, err := exec.Command(kcat, "-b", addr, "-G", "kcat-inspect", "-c", "3", "-o", "beginning", "kraite.mark-price").CombinedOutput()
		if err != nil {
			t.Fatalf("kcat group consume: %v\n%s", err, grp)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
		if err != nil {
			t.Fatal(err)
		}
		groups, err := kadm.NewClient(cl).ListGroups(context.Background())
		cl.Close()
		if err != nil || !strings.Contains(strings.Join(groups.Groups(), ","), "kcat-inspect") {
			t.Fatalf("group list %v: %v", groups.Groups(), err)
		}
	} else {
		t.Log("kcat not installed: skipping the non-Go client checks")
	}
	before := endOffsets(t, addr, "kraite.user-data-stream")
	stop()

	addr, stop = startDev(t, dir)
	defer stop()
	if got := endOffsets(t, addr, "kraite.user-data-stream"); got < before {
		t.Fatalf("restart lost records: %d < %d", got, before)
	}
	testkit.Eventually(t, 30*time.Second, "new records after the restart", func() bool {
		return endOffsets(t, addr, "kraite.user-data-stream") > before+10
	})
}

func TestHelpTeachesEveryCommand(t *testing.T) {
	out := &syncBuffer{}
	if err := newApp(nil, out, out).main(context.Background(), []string{"help"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range commands() {
		if !strings.Contains(out.String(), c.Name) {
			t.Errorf("help does not mention %s", c.Name)
		}
	}
	err := newApp(nil, out, out).main(context.Background(), []string{"nope"})
	if err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("unknown command: %v", err)
	}
}

func TestBadEnvironmentIsReportedClearly(t *testing.T) {
	t.Setenv("KRAITE_LOG_LEVEL", "loud")
	out := &syncBuffer{}
	err := newApp(nil, out, out).main(context.Background(), []string{"topics", "list"})
	if err == nil || !strings.Contains(err.Error(), "KRAITE_LOG_LEVEL") {
		t.Fatalf("got %v", err)
	}
	// A value of the wrong type names the variable, not the Go field.
	t.Setenv("KRAITE_LOG_LEVEL", "info")
	t.Setenv("KRAITE_ACCOUNTS_POLL", "10 parsecs")
	t.Setenv("KRAITE_BROKERS", "127.0.0.1:1")
	err = newApp(nil, out, out).main(context.Background(), []string{"run", "--components", "userdata-producer"})
	if err == nil || !strings.Contains(err.Error(), `KRAITE_ACCOUNTS_POLL: "10 parsecs" is not a valid time.Duration`) || strings.Contains(err.Error(), "AccountsPoll") {
		t.Fatalf("got %v", err)
	}
}

func TestBenchIngestReportsLatencyAndRatio(t *testing.T) {
	t.Setenv("KRAITE_LOG_LEVEL", "error")
	out := &syncBuffer{}
	err := newApp(nil, out, out).main(context.Background(),
		[]string{"bench", "ingest", "--accounts", "5", "--duration", "500ms", "--warmup", "300ms", "--order-interval", "20ms"})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"kraite (linger 0)", "baseline", "p99", "ratio baseline/kraite"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
}
