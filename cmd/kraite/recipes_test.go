package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/testkit"
)

// kraiteProc is one `kraite ...` command running in-process, like a
// separate process of a deployment that can be stopped on its own.
type kraiteProc struct {
	out    *syncBuffer // stdout and stderr
	cancel context.CancelFunc
	done   chan error
	err    error
	ended  bool
}

// startKraite starts the command; t's cleanup stops it if still running.
func startKraite(t *testing.T, args ...string) *kraiteProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &kraiteProc{out: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { p.done <- newApp(strings.NewReader(""), p.out, p.out).main(ctx, args) }()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// wait returns the command's error once it ends by itself.
func (p *kraiteProc) wait(t *testing.T, timeout time.Duration) error {
	t.Helper()
	if p.ended {
		return p.err
	}
	select {
	case p.err = <-p.done:
		p.ended = true
		return p.err
	case <-time.After(timeout):
		t.Fatalf("the command did not end within %s:\n%s", timeout, p.out)
		return nil
	}
}

// stop is Ctrl-C: it cancels the command and waits for it to return.
func (p *kraiteProc) stop(t *testing.T) {
	t.Helper()
	if p.ended {
		return
	}
	p.cancel()
	if err := p.wait(t, 60*time.Second); err != nil {
		t.Errorf("stopping the command: %v\n%s", err, p.out)
	}
}

// The columns a re-apply could change; the auto-increment id is left out
// because a restore or a replay may renumber rows.
const (
	recipeOrdersQ = "SELECT account, order_id, symbol, client_order_id, side, order_type, price, orig_qty, avg_price, cum_qty, " +
		"status, execution_type, source, event_time, transaction_time, status_rank FROM orders ORDER BY account, order_id"
	recipeAlgoQ = "SELECT account, algo_id, actual_order_id, symbol, order_type, stop_price, cum_qty, status, execution_type, " +
		"source, event_time, transaction_time, status_rank FROM algo_orders ORDER BY account, algo_id"
	recipeFillsQ = "SELECT account, CONCAT(order_id, '-', trade_id), symbol, side, qty, price, commission, realized_profit, " +
		"transaction_time FROM order_fills ORDER BY account, order_id, trade_id"
)

// orderTables is a dump of the three tables the orders sink writes.
type orderTables struct{ orders, algo, fills [][]string }

func dumpOrderTables(t *testing.T, d *db.DB) orderTables {
	t.Helper()
	return orderTables{dbtest.Dump(t, d, recipeOrdersQ), dbtest.Dump(t, d, recipeAlgoQ), dbtest.Dump(t, d, recipeFillsQ)}
}

// diff lists what differs (got vs want), table by table; "" when identical.
func (got orderTables) diff(want orderTables) string {
	var out string
	for _, c := range []struct {
		name string
		g, w [][]string
	}{{"orders", got.orders, want.orders}, {"algo_orders", got.algo, want.algo}, {"order_fills", got.fills, want.fills}} {
		if d := rowDiff(c.g, c.w); d != "" || len(c.g) != len(c.w) {
			out += fmt.Sprintf("%s (%d rows vs %d):\n%s", c.name, len(c.g), len(c.w), d)
		}
	}
	return out
}

// onlyAccount keeps the rows of one account (column 0).
func onlyAccount(rows [][]string, account string, keep bool) [][]string {
	var out [][]string
	for _, r := range rows {
		if (r[0] == account) == keep {
			out = append(out, r)
		}
	}
	return out
}

// recipeEnv is `kraite dev` writing MariaDB, with the orders sink run as its
// own process (as on the eos/iris/nyx boxes) so a replay can stop it.
type recipeEnv struct {
	top        *testing.T // the sink outlives each subtest
	live       *db.DB
	brokerAddr string
	sim        string
	adm        *kadm.Client
	sink       *kraiteProc
}

func (e *recipeEnv) startSink() {
	e.sink = startKraite(e.top, "run", "--components", "orders-sink")
}

// count is SELECT COUNT(*) on the live database.
func (e *recipeEnv) count(t *testing.T, fromWhere string) int {
	t.Helper()
	return dbtest.Count(t, e.live, fromWhere)
}

// total sums the offsets of o (negative ones, "no commit", as 0).
func total(o kadm.Offsets) int64 {
	var n int64
	o.Each(func(x kadm.Offset) { n += max(x.At, 0) })
	return n
}

// settle pauses the simulator and waits until nothing moves any more: no
// new record on the orders topic, dispatch and the orders sink caught up, and the three
// tables unchanged over three polls. It returns their dump.
func (e *recipeEnv) settle(t *testing.T) orderTables {
	t.Helper()
	adminFault(t, e.sim, map[string]any{"fault": "pause"})
	var (
		last   orderTables
		lastN  int64 = -1
		stable int
	)
	testkit.Eventually(t, 120*time.Second, "the orders topic and tables to stand still", func() bool {
		time.Sleep(time.Second)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		ends, err := e.adm.ListEndOffsets(ctx, "kraite.orders")
		if err != nil {
			return false
		}
		committed, err := e.adm.FetchOffsetsForTopics(ctx, "kraite.sink.orders", "kraite.orders")
		if err != nil {
			return false
		}
		// Dispatch must have read every frame too: a frame it has not
		// dispatched yet (late under load) becomes an orders record after
		// the tables stood still, which a rebuild then holds and the
		// snapshot does not (seen once: live "behind" the rebuilt tables).
		frames, err := e.adm.ListEndOffsets(ctx, "kraite.user-data-stream")
		if err != nil {
			return false
		}
		dispatched, err := e.adm.FetchOffsetsForTopics(ctx, "kraite.dispatch", "kraite.user-data-stream")
		if err != nil {
			return false
		}
		n := total(ends.Offsets())
		now := dumpOrderTables(t, e.live)
		if n == lastN && total(committed.Offsets()) == n && total(dispatched.Offsets()) == total(frames.Offsets()) && now.diff(last) == "" {
			stable++
		} else {
			stable = 0
		}
		last, lastN = now, n
		return stable >= 3
	})
	return last
}

// accumulate resumes the simulator until the orders table holds at least n rows.
func (e *recipeEnv) accumulate(t *testing.T, n int) {
	t.Helper()
	adminFault(t, e.sim, map[string]any{"fault": "resume"})
	testkit.Eventually(t, 120*time.Second, fmt.Sprintf("%d orders, with fills and algo orders", n), func() bool {
		return e.count(t, "FROM orders") >= n && e.count(t, "FROM order_fills") > 0 && e.count(t, "FROM algo_orders") > 0
	})
}

// replayWhileStopping runs the documented `kraite replay ... --wait`: it
// names the live orders sink and waits; the test stops the sink, does what
// the recipe does to the database while nothing writes (fix), then starts
// the sink again and waits for the replay's progress bar to finish.
func (e *recipeEnv) replayWhileStopping(t *testing.T, fix func(), args ...string) string {
	t.Helper()
	rep := startKraite(t, append([]string{"replay", "--group", "kraite.sink.orders", "--topic", "orders",
		"--wait", "--progress-interval", "200ms"}, args...)...)
	testkit.Eventually(t, 30*time.Second, "replay to name the live member and wait", func() bool {
		return strings.Contains(rep.out.String(), "waiting for group kraite.sink.orders to empty")
	})
	if out := rep.out.String(); !strings.Contains(out, "stop these processes first") || !strings.Contains(out, "kraite.sink.orders") {
		t.Fatalf("replay does not name the member to stop:\n%s", out)
	}
	e.sink.stop(t)
	fix()
	testkit.Eventually(t, 30*time.Second, "the reset once the group is empty", func() bool {
		return strings.Contains(rep.out.String(), "reset applied")
	})
	e.startSink()
	if err := rep.wait(t, 120*time.Second); err != nil {
		t.Fatalf("replay: %v\n%s", err, rep.out)
	}
	out := rep.out.String()
	if !strings.Contains(out, "100.0%") {
		t.Fatalf("the replay's progress did not finish:\n%s", out)
	}
	return out
}

func execAll(t *testing.T, d *db.DB, stmts ...string) {
	t.Helper()
	for _, s := range stmts {
		if _, err := d.ExecContext(context.Background(), s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
}

// TestRecoveryRecipesThroughTheCLI runs the README's recovery recipes, with
// the exact commands documented there, against a running `kraite dev`
// writing MariaDB: a restore from an older backup, one account's rows
// repaired, and a rebuild of an empty database.
func TestRecoveryRecipesThroughTheCLI(t *testing.T) {
	live := dbtest.MySQL(t)
	t.Setenv("KRAITE_DATABASE_URL", dbtest.URL(live))
	dir := t.TempDir()
	banner := &syncBuffer{}
	brokerAddr, _, stopDev := startDevOpsOut(t, dir, banner, "--without", "orders-sink", "--accounts", "10",
		"--order-interval", "150ms", "--mark-interval", "500ms", "--allowlist", everyType,
		// A sweep between the restore and the replay would repair the
		// restored table from REST before the replay does (source backfill,
		// not stream): spread over a day, the 10 accounts' sweeps all but
		// never fall in the test (over an hour, one fell there in a CI rehearsal).
		"--sync-every", "24h")
	defer stopDev()
	m := regexp.MustCompile(`simulator\s+http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(banner.String())
	if m == nil {
		t.Fatalf("no simulator address in:\n%s", banner)
	}
	t.Setenv("KRAITE_BROKERS", brokerAddr)
	t.Setenv("KRAITE_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("KRAITE_STATE_DIR", filepath.Join(dir, "sink-state"))
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	e := &recipeEnv{top: t, live: live, brokerAddr: brokerAddr, sim: m[1], adm: kadm.NewClient(cl)}
	e.startSink()
	defer func() { e.sink.stop(t) }() // before the broker stops

	t.Run("the database was restored from last night's backup", func(t *testing.T) {
		e.accumulate(t, 60)
		e.settle(t)
		// Last night's backup, taken while nothing was in flight.
		for _, table := range []string{"orders", "algo_orders", "order_fills"} {
			execAll(t, live, "CREATE TABLE backup_"+table+" AS SELECT * FROM "+table)
		}
		backupAt := time.Now().UTC()
		backupRows := e.count(t, "FROM orders")
		// The day goes on after the backup.
		e.accumulate(t, backupRows+60)
		want := e.settle(t)

		from := backupAt.Add(-2 * time.Second).Truncate(time.Second).Format(time.RFC3339)
		dry, _, err := runKraite(t.Context(), "replay", "--group", "kraite.sink.orders", "--topic", "orders", "--from", from, "--dry-run")
		if err != nil {
			t.Fatalf("dry run: %v\n%s", err, dry)
		}
		t.Logf("kraite replay --group kraite.sink.orders --topic orders --from %s --dry-run\n%s", from, dry)
		out := e.replayWhileStopping(t, func() {
			// The restore: the tables as they were at the backup.
			for _, table := range []string{"orders", "algo_orders", "order_fills"} {
				execAll(t, live, "DELETE FROM "+table, "INSERT INTO "+table+" SELECT * FROM backup_"+table)
			}
			if n := e.count(t, "FROM orders"); n != backupRows || n >= len(want.orders) {
				t.Fatalf("the restored table has %d rows, the backup %d, the live table %d", n, backupRows, len(want.orders))
			}
		}, "--from", from)
		t.Log("\n" + out)
		ends := endOffsets(t, brokerAddr, "kraite.orders")
		if tot := regexp.MustCompile(`total: (\d+) records to replay`).FindStringSubmatch(out); tot == nil || tot[1] == "0" || tot[1] == fmt.Sprint(ends) {
			t.Fatalf("the replay from the backup time should replay some but not all of the %d records:\n%s", ends, out)
		}
		if d := dumpOrderTables(t, live).diff(want); d != "" {
			t.Fatalf("after the replay the tables differ from before the restore (replayed vs before):\n%s", d)
		}
	})

	t.Run("one account's orders are wrong", func(t *testing.T) {
		want := e.settle(t)
		// acct-0010 shares partition 8 of kraite.orders with acct-0007:
		// the replay delivers that neighbour's events again too.
		const victim, neighbour = "acct-0010", "acct-0007"
		p := groupadmin.AccountPartition(nil, "kraite.orders", victim, 12)
		if groupadmin.AccountPartition(nil, "kraite.orders", neighbour, 12) != p {
			t.Fatalf("%s and %s no longer share a partition: pick another neighbour", victim, neighbour)
		}
		if onlyAccount(want.orders, neighbour, true) == nil {
			t.Fatalf("%s has no orders: the test proves nothing about neighbours", neighbour)
		}
		// The damage: a bad script garbled one account's rows.
		execAll(t, live,
			"UPDATE orders SET status = 'GARBAGE', cum_qty = '-1' WHERE account = '"+victim+"'",
			"UPDATE algo_orders SET status = 'GARBAGE' WHERE account = '"+victim+"'",
			"DELETE FROM order_fills WHERE account = '"+victim+"' AND trade_id % 2 = 0",
			// A mark on every other account's rows: a re-apply that wrote
			// them again would erase it.
			"UPDATE orders SET source = CONCAT('x-', source) WHERE account <> '"+victim+"'",
			"UPDATE algo_orders SET source = CONCAT('x-', source) WHERE account <> '"+victim+"'")
		out := e.replayWhileStopping(t, func() {
			// The recipe: delete the account's rows, then replay its partition.
			for _, table := range []string{"orders", "algo_orders", "order_fills"} {
				execAll(t, live, "DELETE FROM "+table+" WHERE exchange = 'binance' AND account = '"+victim+"'")
			}
		}, "--account", victim, "--from", "earliest")
		t.Log("\n" + out)
		if !strings.Contains(out, fmt.Sprintf("account %s (partition %d)", victim, p)) || !strings.Contains(out, "in 1 partition(s)") {
			t.Fatalf("the plan is not limited to the account's partition:\n%s", out)
		}
		got := dumpOrderTables(t, live)
		victimGot := orderTables{onlyAccount(got.orders, victim, true), onlyAccount(got.algo, victim, true), onlyAccount(got.fills, victim, true)}
		victimWant := orderTables{onlyAccount(want.orders, victim, true), onlyAccount(want.algo, victim, true), onlyAccount(want.fills, victim, true)}
		if len(victimWant.orders) == 0 {
			t.Fatal("the victim account has no orders: the test proves nothing")
		}
		if d := victimGot.diff(victimWant); d != "" {
			t.Fatalf("%s is not restored (replayed vs before the damage):\n%s", victim, d)
		}
		for _, rows := range [][][]string{onlyAccount(got.orders, victim, false), onlyAccount(got.algo, victim, false)} {
			for _, r := range rows {
				if !strings.Contains(strings.Join(r, "|"), "|x-") {
					t.Fatalf("a row of another account was rewritten by the replay: %v", r)
				}
			}
		}
		execAll(t, live,
			"UPDATE orders SET source = SUBSTRING(source, 3) WHERE account <> '"+victim+"'",
			"UPDATE algo_orders SET source = SUBSTRING(source, 3) WHERE account <> '"+victim+"'")
		if d := dumpOrderTables(t, live).diff(want); d != "" {
			t.Fatalf("the tables differ from before the damage:\n%s", d)
		}
	})

	t.Run("rebuild an empty database from the retained topics", func(t *testing.T) {
		want := e.settle(t)
		_, _, err := runKraite(t.Context(), "rebuild", "--into", dbtest.URL(live))
		if err == nil || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--force") {
			t.Fatalf("a rebuild into the live database: %v", err)
		}
		target := dbtest.MySQL(t)
		userData := endOffsets(t, brokerAddr, "kraite.user-data-stream")
		positions := endOffsets(t, brokerAddr, "kraite.positions")
		out, errOut, err := runKraite(t.Context(), "rebuild", "--into", dbtest.URL(target), "--group-suffix", "recipes",
			"--progress-interval", "250ms")
		t.Logf("kraite rebuild --into ... --group-suffix recipes\nstdout:\n%s\nstderr:\n%s", out, errOut)
		if err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		for _, w := range []string{"records/s", "ETA", "group kraite.rebuild-recipes-orders"} {
			if !strings.Contains(errOut, w) {
				t.Fatalf("progress lacks %q", w)
			}
		}
		if !strings.Contains(out, "rebuilt ") {
			t.Fatalf("no summary on stdout: %q", out)
		}
		if d := dumpOrderTables(t, target).diff(want); d != "" {
			t.Fatalf("the rebuilt tables differ from the live ones (rebuilt vs live):\n%s", d)
		}
		// Audit rows: every one rebuilt equals the live one; at least every
		// record retained at the start is there.
		const auditQ = "SELECT source_partition, source_offset, account, event_type, execution_type, kind, MD5(payload) FROM api_data_stream ORDER BY 1, 2"
		liveAudit := map[string]string{}
		for _, r := range dbtest.Dump(t, live, auditQ) {
			liveAudit[r[0]+"/"+r[1]] = fmt.Sprint(r)
		}
		rebuilt := dbtest.Dump(t, target, auditQ)
		if int64(len(rebuilt)) < userData {
			t.Fatalf("%d audit rows rebuilt, %d records were retained", len(rebuilt), userData)
		}
		for _, r := range rebuilt {
			if l, ok := liveAudit[r[0]+"/"+r[1]]; ok && l != fmt.Sprint(r) {
				t.Fatalf("rebuilt audit row %v differs from the live %s", r, l)
			}
		}
		if n := dbtest.Count(t, target, "FROM exchange_symbols WHERE mark_price IS NOT NULL"); n < 1500 {
			t.Fatalf("only %d symbols have a mark price after the rebuild", n)
		}
		if n := dbtest.Count(t, target, "FROM order_outbox WHERE published_at IS NULL"); n != 0 {
			t.Fatalf("%d outbox rows left unpublished", n)
		}
		if got := endOffsets(t, brokerAddr, "kraite.positions"); got != positions {
			t.Fatalf("the rebuild published %d transitions again to kraite.positions", got-positions)
		}
		// The observed positions, folded live by the positions worker from
		// the transitions, and by the rebuild from the rebuilt orders.
		const positionsQ = "SELECT CONCAT(account, '/', symbol, '/', position_side), exchange, status, amount, entry_price, orders_counted FROM positions ORDER BY 1"
		var posDiff string
		testkit.Eventually(t, 60*time.Second, "the rebuilt positions to equal the live ones", func() bool {
			got, live := dbtest.Dump(t, target, positionsQ), dbtest.Dump(t, live, positionsQ)
			posDiff = rowDiff(got, live)
			return posDiff == "" && len(got) > 0
		})
		groups, err := e.adm.ListGroups(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups.Groups() {
			if strings.Contains(g, "rebuild-recipes") {
				t.Fatalf("group %s was left behind", g)
			}
		}
	})
}

func TestRebuildReportsBadInputClearly(t *testing.T) {
	t.Setenv("KRAITE_BROKERS", "127.0.0.1:1") // never reached: the flags are checked first
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no target names the flag", []string{"rebuild"}, "--into is required"},
		{"a bad url says so", []string{"rebuild", "--into", "oracle://x"}, "--into"},
		{"an unknown topic lists the known ones", []string{"rebuild", "--into", "sqlite:///tmp/x.db", "--topics", "orders,positions"},
			`"positions" is not one of orders, user-data-stream, mark-price`},
		{"an empty topic list is refused", []string{"rebuild", "--into", "sqlite:///tmp/x.db", "--topics", ","}, "name at least one"},
		{"a group suffix with a comma is refused", []string{"rebuild", "--into", "sqlite:///tmp/x.db", "--group-suffix", "a,b"}, "--group-suffix"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runKraite(t.Context(), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}
