package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/topics"
)

// httpGet GETs url with a bearer token ("" for none).
func httpGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// driftAlerts reads kraite.priority and returns the drift alerts (order
// sync and position drift) produced at or after since.
func driftAlerts(t *testing.T, brokerAddr string, since time.Time) []string {
	t.Helper()
	end := endOffsets(t, brokerAddr, "kraite.priority")
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.ConsumeTopics("kraite.priority"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var (
		out  []string
		read int64
	)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for read < end {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of %d records of kraite.priority: %v", read, end, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			read++
			var j topics.Job
			if json.Unmarshal(r.Value, &j) != nil || r.Timestamp.Before(since) {
				return
			}
			if j.Type == reconcile.JobDrift || j.Type == positions.JobDrift {
				out = append(out, fmt.Sprintf("%s %s %s", j.Type, j.Account, j.Payload))
			}
		})
	}
	return out
}

// startDevOnce is startDevOpsOut whose stop runs at most once, and at the
// end of the test if the test did not call it.
func startDevOnce(t *testing.T, dir string, out *syncBuffer, args ...string) (string, string, func()) {
	addr, ops, stop := startDevOpsOut(t, dir, out, args...)
	var once sync.Once
	stopOnce := func() { once.Do(stop) }
	t.Cleanup(stopOnce)
	return addr, ops, stopOnce
}

// simAddrOf is the simulator address in a dev banner.
func simAddrOf(t *testing.T, banner string) string {
	t.Helper()
	m := regexp.MustCompile(`simulator\s+http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no simulator address in:\n%s", banner)
	}
	return m[1]
}

// TestDevRestartKeepsTheExchange: `kraite dev` trades, stops and starts
// again on the same data directory. The simulator comes back with its
// orders, positions and id sequences (DIR/simulator/state.json), so the
// pipeline's sweeps find the exchange equal to what they stored: no drift
// alert, and new order ids are new. The control: the same restart with the
// state file removed (the explicit fresh start) raises drift alerts.
func TestDevRestartKeepsTheExchange(t *testing.T) {
	if raceOn {
		// Seen on the shared 2-core machine (load 10-20): with -race the
		// observed positions did not settle to the exchange's within 3 min
		// after trading paused, before any restart. Run it without -race.
		t.Skip("needs the pipeline at normal speed to settle the positions before the restart: run without -race")
	}
	dir := t.TempDir()
	// Sweeps every second, position drift alerted after 3 s.
	args := []string{"--accounts", "2", "--order-interval", "150ms", "--sync-every", "1s", "--allowlist", everyType, "--rest-weight-limit", "1000000"}
	out := &syncBuffer{}
	addr, _, stop := startDevOnce(t, dir, out, args...)
	sim := simAddrOf(t, out.String())
	d, err := db.Open(context.Background(), "sqlite://"+filepath.Join(dir, "kraite.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	count := func(q string) int64 {
		var n int64
		if err := d.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	testkit.Eventually(t, 180*time.Second, "orders and open positions in the dev database", func() bool {
		return count("SELECT COUNT(*) FROM orders") > 30 && count("SELECT COUNT(*) FROM positions WHERE status = 'open'") > 0
	})
	adminFault(t, sim, map[string]any{"fault": "pause"})
	// Let the pipeline catch up with the exchange before the stop: every
	// observed position equal to the exchange's, no drift outstanding.
	var diff string
	defer func() {
		if t.Failed() && diff != "" {
			t.Logf("last positions difference:\n%s", diff)
		}
	}()
	testkit.Eventually(t, 180*time.Second, "the positions to equal the exchange's", func() bool {
		diff = ""
		for _, a := range []string{"acct-0001", "acct-0002"} {
			diff += positionsDiff(t, d, a, getJSON[[]simulator.Position](t, "http://"+sim+"/admin/positions?account="+a))
		}
		return diff == ""
	})
	before := map[string][]simulator.Order{}
	for _, a := range []string{"acct-0001", "acct-0002"} {
		before[a] = getJSON[[]simulator.Order](t, "http://"+sim+"/admin/orders?account="+a)
	}
	t.Logf("before the stop: %d drift alerts (the machine's load can hold the positions worker back longer than the 3 s grace)",
		len(driftAlerts(t, addr, time.Time{})))
	stop()
	st, err := os.Stat(filepath.Join(dir, "simulator", "state.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the simulator state after the stop: %v", err)
	}

	restart := func(out *syncBuffer) (string, string, func(), time.Time) {
		at := time.Now()
		// Order steps only when the test asks: the sweeps see a still exchange.
		addr, _, stop := startDevOnce(t, dir, out, append(args, "--order-interval", "1h")...)
		return addr, simAddrOf(t, out.String()), stop, at
	}
	out2 := &syncBuffer{}
	addr, sim, stop, restartedAt := restart(out2)
	for _, a := range []string{"acct-0001", "acct-0002"} {
		if got := getJSON[[]simulator.Order](t, "http://"+sim+"/admin/orders?account="+a); len(got) != len(before[a]) {
			t.Fatalf("%s: %d orders after the restart, %d before", a, len(got), len(before[a]))
		}
	}
	// Every account swept well after the drift grace since the restart.
	swept := restartedAt.Add(5 * time.Second).UnixMilli()
	testkit.Eventually(t, 60*time.Second, "sweeps of every account 5 s after the restart", func() bool {
		return count(fmt.Sprintf("SELECT COUNT(*) FROM order_sync_state WHERE synced_until_ms > %d", swept)) == 2
	})
	t.Logf("restarted at %s", restartedAt.Format(time.RFC3339Nano))
	if alerts := driftAlerts(t, addr, restartedAt); len(alerts) > 0 {
		t.Fatalf("drift alerts after a restart with the simulator's state kept:\n%s", strings.Join(alerts, "\n"))
	}
	adminFault(t, sim, map[string]any{"fault": "step", "account": "acct-0001", "n": 30})
	old := map[int64]bool{}
	for _, o := range before["acct-0001"] {
		old[o.OrderID] = true
	}
	after := getJSON[[]simulator.Order](t, "http://"+sim+"/admin/orders?account=acct-0001")
	if len(after) <= len(before["acct-0001"]) {
		t.Fatal("no new orders after the restart")
	}
	for _, o := range after[len(before["acct-0001"]):] {
		if old[o.OrderID] {
			t.Fatalf("order id %d reused after the restart", o.OrderID)
		}
	}
	if !strings.Contains(out2.String(), "state in") {
		t.Fatalf("the banner does not say where the simulator's state is:\n%s", out2)
	}
	stop()

	// The control: without the state the exchange forgets everything, and
	// the same sweeps raise drift alerts.
	if err := os.Remove(filepath.Join(dir, "simulator", "state.json")); err != nil {
		t.Fatal(err)
	}
	addr, _, _, restartedAt = restart(&syncBuffer{})
	testkit.Eventually(t, 60*time.Second, "drift alerts once the simulator forgot its state", func() bool {
		time.Sleep(500 * time.Millisecond)
		return len(driftAlerts(t, addr, restartedAt)) > 0
	})
}

// A corrupt simulator state stops kraite dev at start, naming the file.
func TestDevRefusesACorruptSimulatorState(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "simulator", "state.json")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(`{"version":1,"seed":1,"accounts":[{"idx":`), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KRAITE_LOG_LEVEL", "error")
	_, _, err := runKraite(t.Context(), "dev", "--data-dir", dir, "--broker-addr", "127.0.0.1:0", "--sim-addr", "127.0.0.1:0",
		"--http-addr", "127.0.0.1:0", "--for", "30s")
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "remove it") {
		t.Fatalf("dev on a corrupt simulator state: %v", err)
	}
}

// kraite simulator: a non-loopback listen address is refused unless
// --allow-remote, the banner shows no API key or secret in full, and the
// admin API needs the token.
func TestSimulatorCommandGuardsItsAdminAPI(t *testing.T) {
	t.Setenv("KRAITE_LOG_LEVEL", "error")
	for _, addr := range []string{"0.0.0.0:0", ":0", "example.com:0"} {
		_, _, err := runKraite(t.Context(), "simulator", "--addr", addr, "--data-dir", t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "--allow-remote") {
			t.Fatalf("simulator --addr %s: %v", addr, err)
		}
	}
	_, _, err := runKraite(t.Context(), "simulator", "--addr", "127.0.0.1:0", "--data-dir", "")
	if err == nil || !strings.Contains(err.Error(), "KRAITE_SIM_ADMIN_TOKEN") {
		t.Fatalf("no data dir and no token: %v", err)
	}

	dir := t.TempDir()
	p := startKraite(t, "simulator", "--addr", "127.0.0.1:0", "--data-dir", dir, "--order-interval", "0")
	var addr string
	testkit.Eventually(t, 20*time.Second, "the simulator banner", func() bool {
		m := regexp.MustCompile(`REST base\s+http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return addr != "" && strings.Contains(p.out.String(), "acct-0003")
	})
	tok, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	status, _ := httpGet(t, "http://"+addr+"/admin/accounts", "")
	if status != 401 {
		t.Fatalf("/admin/accounts without the token: %d", status)
	}
	status, body := httpGet(t, "http://"+addr+"/admin/accounts", strings.TrimSpace(string(tok)))
	if status != 200 {
		t.Fatalf("/admin/accounts with the token: %d", status)
	}
	accts, err := userdata.ParseAccounts([]byte(body))
	if err != nil || len(accts) != 3 {
		t.Fatalf("/admin/accounts is not an accounts file: %v\n%s", err, body)
	}
	for _, a := range accts {
		for _, secret := range []string{a.APIKey, a.APISecret} {
			if strings.Contains(p.out.String(), secret) {
				t.Fatalf("the banner prints a credential of %s in full:\n%s", a.ID, p.out)
			}
		}
	}
	if strings.Contains(p.out.String(), strings.TrimSpace(string(tok))) {
		t.Fatal("the banner prints the admin token")
	}
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, "state.json")); err != nil {
		t.Fatalf("no state saved at the stop: %v", err)
	}
}
