package main

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

func TestOpenHelpShowsTheLimitsAndReasons(t *testing.T) {
	out, err := runCmd(t, "", "open", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"KRAITE_MAX_ORDER_NOTIONAL", "default 10000", "KRAITE_MAX_ACCOUNT_NOTIONAL", "default 50000",
		"KRAITE_MAX_MARK_AGE", "size_above_max", "order_notional_above_limit", "validation_unavailable", "exits non-zero"} {
		if !strings.Contains(out, want) {
			t.Errorf("open --help does not mention %q:\n%s", want, out)
		}
	}
	t.Setenv("KRAITE_MAX_ORDER_NOTIONAL", "1e6")
	if _, err := runCmd(t, "", "open", "--account", "a", "--symbol", "BTCUSDT", "--side", "BUY", "--size", "1"); err == nil ||
		!strings.Contains(err.Error(), "KRAITE_MAX_ORDER_NOTIONAL") {
		t.Fatalf("a bad limit: %v", err)
	}
}

// kraite open refuses, before publishing anything, what is malformed
// (without a database) and what the exchange's rules and the limits refuse
// (with one); --wait exits non-zero on the gate's refusal and says why.
func TestOpenValidatesBeforePublishing(t *testing.T) {
	addr := startCmdBroker(t)
	intentsTopic := testkit.NewReader(t, addr, "kraite.open-intents")
	open := func(size string, extra ...string) error {
		args := append([]string{"open", "--account", "acct-0001", "--symbol", "BTCUSDT", "--side", "BUY", "--size", size}, extra...)
		_, err := runCmd(t, "", args...)
		return err
	}
	// No database: the shape only.
	for size, reason := range map[string]string{"1e9": "bad_size", "-1": "bad_size", "0": "bad_size", "abc": "bad_size", "NaN": "bad_size"} {
		if err := open(size); err == nil || !strings.Contains(err.Error(), reason) || !strings.Contains(err.Error(), "before publishing") {
			t.Errorf("--size %s without a database: %v", size, err)
		}
	}
	if _, err := runCmd(t, "", "open", "--account", "acct-0001", "--symbol", "btc usdt", "--side", "BUY", "--size", "1"); err == nil ||
		!strings.Contains(err.Error(), "unknown_symbol") {
		t.Errorf("a malformed symbol: %v", err)
	}
	if _, err := runCmd(t, "", "open", "--account", "acct-0001", "--symbol", "BTCUSDT", "--side", "LONG", "--size", "1"); err == nil ||
		!strings.Contains(err.Error(), "bad_side") {
		t.Errorf("a bad side: %v", err)
	}
	// Without a database, a well-formed 1000000000 is the gate's to refuse.
	if err := open("1000000000", "--client-id", "no-db"); err != nil {
		t.Fatalf("a well-formed intent without a database: %v", err)
	}

	// An unreachable database: a warning, and the gate decides.
	t.Setenv("KRAITE_DATABASE_URL", "mysql://root@127.0.0.1:1/nodb")
	if err := open("0.01", "--client-id", "db-down"); err != nil {
		t.Fatalf("an unreachable database: %v", err)
	}

	// With a database holding the simulator's rules and a fresh mark.
	sim, err := simulator.New(simulator.Config{Seed: 1, Accounts: 1, OrderInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	d := dbtest.SQLite(t)
	t.Setenv("KRAITE_DATABASE_URL", dbtest.URL(d))
	// Before the rules are imported the CLI cannot judge the symbol and
	// leaves it to the gate.
	if err := open("0.01", "--client-id", "no-rules"); err != nil {
		t.Fatalf("no rules yet: %v", err)
	}
	out, err := runCmd(t, "", "symbols", "import", "--rules-from", srv.URL)
	if err != nil || !strings.Contains(out, "symbol rules:") {
		t.Fatalf("symbols import: %v\n%s", err, out)
	}
	if _, err := d.ExecContext(context.Background(), "UPDATE exchange_symbols SET mark_price = 95000, mark_price_synced_at = ? WHERE exchange = 'binance' AND symbol = 'BTCUSDT'",
		time.Now().UTC()); err != nil {
		t.Fatal(err)
	}
	for size, reason := range map[string]string{"1000000000": "size_above_max", "120.001": "size_above_max", "120": "order_notional_above_limit",
		"0.0001": "size_step", "0.001": "notional_below_min"} {
		if err := open(size); err == nil || !strings.Contains(err.Error(), reason) {
			t.Errorf("--size %s: %v, want %s", size, err, reason)
		}
	}
	if _, err := runCmd(t, "", "open", "--account", "acct-0001", "--symbol", "NOSUCHUSDT", "--side", "BUY", "--size", "1"); err == nil ||
		!strings.Contains(err.Error(), "unknown_symbol") {
		t.Errorf("an unknown symbol: %v", err)
	}
	if err := open("0.01", "--client-id", "good"); err != nil {
		t.Fatalf("a valid intent: %v", err)
	}
	// The CLI sees a reduction beyond the position (there is none).
	if err := open("0.01", "--reduce"); err == nil || !strings.Contains(err.Error(), "reduce_exceeds_position") {
		t.Errorf("a reduction without a position: %v", err)
	}

	// --wait: the gate's refusal makes the command fail with the reason.
	done := make(chan error, 1)
	go func() { done <- open("0.02", "--client-id", "wait-1", "--wait", "20s") }()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	rej, _ := json.Marshal(topics.RejectedIntent{Intent: topics.OpenIntent{ClientID: "wait-1"}, Band: "Critical", Score: 90,
		Reason: "blocked", Detail: "the regime is Critical", AtMs: time.Now().UnixMilli()})
	var werr error
	for werr == nil {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "kraite.open-intents.rejected", Key: []byte("acct-0001"), Value: rej}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		select {
		case werr = <-done:
			if werr == nil {
				t.Fatal("--wait exited 0 on a refusal")
			}
		case <-time.After(300 * time.Millisecond):
		}
	}
	if !strings.Contains(werr.Error(), "refused by the gate: blocked: the regime is Critical") {
		t.Fatalf("--wait: %v", werr)
	}

	var ids []string
	testkit.Eventually(t, 10*time.Second, "the published intents", func() bool {
		ids = ids[:0]
		for _, r := range intentsTopic.Poll(t) {
			var in topics.OpenIntent
			if json.Unmarshal(r.Value, &in) == nil {
				ids = append(ids, in.ClientID)
			}
		}
		return len(ids) >= 5
	})
	if strings.Join(ids, ",") != "no-db,db-down,no-rules,good,wait-1" {
		t.Fatalf("published: %v (a refused intent reached the topic?)", ids)
	}
}
