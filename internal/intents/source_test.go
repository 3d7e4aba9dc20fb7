package intents_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/topics"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func exec(t *testing.T, d *db.DB, q string, args ...any) {
	t.Helper()
	if _, err := d.ExecContext(context.Background(), d.Rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func intent(acct, sym, side, size string, reduce bool) topics.OpenIntent {
	return topics.OpenIntent{Account: acct, Exchange: "binance", Symbol: sym, Side: side, Size: size, Reduce: reduce, ClientID: "c"}
}

func newSim(t *testing.T) *simulator.Simulator {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Seed: 1, Accounts: 2, OrderInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sim.Close)
	return sim
}

// seed stores the simulator's exchangeInfo, marks for BTCUSDT and ETHUSDT
// at 95,000 and 3,300 written at `at`, an accounts table row disabling
// acct-off, and positions of acct-0001: 0.3 BTC long (observed only) and
// ETH where the exchange says -5 and the observed amount says -4.
func seed(t *testing.T, d *db.DB, sim *simulator.Simulator, at time.Time) {
	t.Helper()
	ctx := context.Background()
	if _, err := marketjobs.ImportExchangeInfo(ctx, d, "binance", sim.ExchangeInfo(), at); err != nil {
		t.Fatal(err)
	}
	exec(t, d, "UPDATE exchange_symbols SET mark_price = ?, mark_price_synced_at = ? WHERE exchange = 'binance' AND symbol = 'BTCUSDT'", "95000", at)
	exec(t, d, "UPDATE exchange_symbols SET mark_price = ?, mark_price_synced_at = ? WHERE exchange = 'binance' AND symbol = 'ETHUSDT'", "3300", at)
	exec(t, d, "INSERT INTO accounts (exchange, account, active) VALUES ('binance', 'acct-off', ?)", false)
	exec(t, d, "INSERT INTO positions (exchange, account, symbol, position_side, status, amount) VALUES ('binance', 'acct-0001', 'BTCUSDT', 'BOTH', 'open', '0.3')")
	exec(t, d, "INSERT INTO positions (exchange, account, symbol, position_side, status, amount, exchange_amount) VALUES ('binance', 'acct-0001', 'ETHUSDT', 'BOTH', 'open', '-4', '-5')")
}

func fileAccounts(ids ...string) func(context.Context) ([]intents.AccountKey, error) {
	return func(context.Context) ([]intents.AccountKey, error) {
		var out []intents.AccountKey
		for _, id := range ids {
			out = append(out, intents.AccountKey{Exchange: "binance", Account: id})
		}
		return out, nil
	}
}

func TestSourceOnEachDatabase(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			sim := newSim(t)
			clk := &clock{t: time.Now().UTC().Truncate(time.Millisecond)}
			seed(t, d, sim, clk.now())
			src, err := intents.NewSource(intents.SourceConfig{DB: d, Now: clk.now,
				Accounts: fileAccounts("acct-0001", "acct-0002", "acct-off")})
			if err != nil {
				t.Fatal(err)
			}
			// Never loaded: everything is refused.
			if r := src.Validate(intent("acct-0001", "BTCUSDT", "BUY", "0.01", false), clk.now()); r == nil || r.Reason != intents.ReasonUnavailable {
				t.Fatalf("before the first load: %v", r)
			}
			if src.Ready(clk.now()) == nil {
				t.Fatal("ready before the first load")
			}
			if err := src.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			snap := src.Snapshot()
			if snap.AccountsUnknown || len(snap.Symbols) < 500 {
				t.Fatalf("snapshot: unknown accounts %v, %d symbols", snap.AccountsUnknown, len(snap.Symbols))
			}
			cases := []struct {
				in   topics.OpenIntent
				want string
			}{
				{intent("acct-0002", "BTCUSDT", "BUY", "0.01", false), ""},
				{intent("acct-0001", "BTCUSDT", "BUY", "1e9", false), intents.ReasonBadSize},
				{intent("acct-0001", "BTCUSDT", "BUY", "1000000000", false), intents.ReasonSizeAboveMax},
				{intent("acct-0001", "BTCUSDT", "BUY", "120.001", false), intents.ReasonSizeAboveMax},
				{intent("acct-0002", "BTCUSDT", "BUY", "120", false), intents.ReasonOrderNotional},
				{intent("acct-0002", "BTCUSDT", "BUY", "0.001", false), intents.ReasonNotionalMin},
				{intent("acct-0002", "BTCUSDT", "BUY", "0.0001", false), intents.ReasonSizeStep},
				{intent("acct-0002", "NOSUCHUSDT", "BUY", "1", false), intents.ReasonUnknownSymbol},
				{intent("acct-0002", "SOLUSDT", "BUY", "1", false), intents.ReasonNoMarkPrice},
				{intent("acct-9999", "BTCUSDT", "BUY", "0.01", false), intents.ReasonUnknownAccount},
				{intent("acct-off", "BTCUSDT", "BUY", "0.01", false), intents.ReasonAccountDisabled},
				// acct-0001 holds 0.3 x 95,000 + 5 x 3,300 = 45,000.
				{intent("acct-0001", "BTCUSDT", "BUY", "0.05", false), ""},                            // 49,750
				{intent("acct-0001", "BTCUSDT", "BUY", "0.06", false), intents.ReasonAccountNotional}, // 50,700
				{intent("acct-0001", "BTCUSDT", "SELL", "0.3", true), ""},
				{intent("acct-0001", "BTCUSDT", "SELL", "0.301", true), intents.ReasonReduceExceeds},
				// The exchange's -5, not the observed -4, bounds the reduction.
				{intent("acct-0001", "ETHUSDT", "BUY", "5", true), ""},
				{intent("acct-0001", "ETHUSDT", "BUY", "5.001", true), intents.ReasonReduceExceeds},
			}
			for _, c := range cases {
				got := ""
				if r := src.Validate(c.in, clk.now()); r != nil {
					got = r.Reason
				}
				if got != c.want {
					t.Errorf("%s %s %s reduce=%v: %q, want %q", c.in.Account, c.in.Symbol, c.in.Size, c.in.Reduce, got, c.want)
				}
			}

			// The mark ages out before the snapshot does.
			clk.add(61 * time.Second)
			if err := src.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if r := src.Validate(intent("acct-0002", "BTCUSDT", "BUY", "0.01", false), clk.now()); r == nil || r.Reason != intents.ReasonStaleMarkPrice {
				t.Fatalf("stale mark: %v", r)
			}
			if r := src.Validate(intent("acct-0001", "BTCUSDT", "SELL", "0.1", true), clk.now()); r != nil {
				t.Fatalf("a reduction needs no fresh mark: %v", r)
			}

			// A position the validator cannot read refuses, it does not count as zero.
			exec(t, d, "UPDATE positions SET exchange_amount = 'garbage' WHERE symbol = 'ETHUSDT'")
			exec(t, d, "UPDATE exchange_symbols SET mark_price_synced_at = ? WHERE exchange = 'binance' AND symbol IN ('BTCUSDT', 'ETHUSDT')", clk.now())
			if err := src.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			if r := src.Validate(intent("acct-0001", "BTCUSDT", "BUY", "0.01", false), clk.now()); r == nil || r.Reason != intents.ReasonUnavailable {
				t.Fatalf("unreadable position: %v", r)
			}
			if r := src.Validate(intent("acct-0002", "BTCUSDT", "BUY", "0.01", false), clk.now()); r != nil {
				t.Fatalf("another account is not affected: %v", r)
			}

			// The database goes away: the last snapshot serves until it is
			// too old, then everything is refused (fail closed).
			other, err := db.Open(context.Background(), dbtest.URL(d))
			if err != nil {
				t.Fatal(err)
			}
			broken, _ := intents.NewSource(intents.SourceConfig{DB: other, Now: clk.now, Accounts: fileAccounts("acct-0002")})
			if err := broken.Refresh(context.Background()); err != nil {
				t.Fatal(err)
			}
			other.Close()
			if err := broken.Refresh(context.Background()); err == nil {
				t.Fatal("refresh on a closed database succeeded")
			}
			if r := broken.Validate(intent("acct-0002", "BTCUSDT", "BUY", "0.01", false), clk.now()); r != nil {
				t.Fatalf("the previous snapshot still serves: %v", r)
			}
			clk.add(31 * time.Second)
			if r := broken.Validate(intent("acct-0002", "BTCUSDT", "SELL", "0.01", true), clk.now()); r == nil || r.Reason != intents.ReasonUnavailable {
				t.Fatalf("a snapshot 31 s old: %v", r)
			}
			if broken.Ready(clk.now()) == nil {
				t.Fatal("ready on an old snapshot")
			}
		})
	}
}

// Without an accounts hook and with an empty accounts table (kraite open
// on a box without an accounts file) the account is not judged; with rows
// in the table it is.
func TestSourceAccountsFromTheTable(t *testing.T) {
	d := dbtest.SQLite(t)
	sim := newSim(t)
	now := time.Now().UTC()
	if _, err := marketjobs.ImportExchangeInfo(context.Background(), d, "binance", sim.ExchangeInfo(), now); err != nil {
		t.Fatal(err)
	}
	exec(t, d, "UPDATE exchange_symbols SET mark_price = ?, mark_price_synced_at = ? WHERE exchange = 'binance' AND symbol = 'BTCUSDT'", "95000", now)
	src, _ := intents.NewSource(intents.SourceConfig{DB: d})
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !src.Snapshot().AccountsUnknown {
		t.Fatal("accounts known without any source")
	}
	if r := src.Validate(intent("whoever", "BTCUSDT", "BUY", "0.01", false), time.Now()); r != nil {
		t.Fatalf("account not judged: %v", r)
	}
	exec(t, d, "INSERT INTO accounts (exchange, account, active) VALUES ('binance', 'acct-0001', ?)", true)
	if err := src.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if r := src.Validate(intent("whoever", "BTCUSDT", "BUY", "0.01", false), time.Now()); r == nil || r.Reason != intents.ReasonUnknownAccount {
		t.Fatalf("table rows: %v", r)
	}
	if r := src.Validate(intent("acct-0001", "BTCUSDT", "BUY", "0.01", false), time.Now()); r != nil {
		t.Fatalf("table account: %v", r)
	}
	// A hook that fails fails the load.
	failing, _ := intents.NewSource(intents.SourceConfig{DB: d, Accounts: func(context.Context) ([]intents.AccountKey, error) {
		return nil, errors.New("accounts file: invalid")
	}})
	if err := failing.Refresh(context.Background()); err == nil {
		t.Fatal("a failing accounts hook loaded")
	}
}

// Run refreshes in the background: a change in the database reaches the
// decisions within a few refresh periods, and Run ends with its context.
func TestSourceRunRefreshes(t *testing.T) {
	d := dbtest.MySQL(t)
	sim := newSim(t)
	now := time.Now().UTC()
	seed(t, d, sim, now)
	src, err := intents.NewSource(intents.SourceConfig{DB: d, Refresh: 50 * time.Millisecond, Accounts: fileAccounts("acct-0002")})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx) }()
	testkit.Eventually(t, 5*time.Second, "the first load", func() bool { return src.Ready(time.Now()) == nil })
	if r := src.Validate(intent("acct-0002", "BTCUSDT", "BUY", "0.01", false), time.Now()); r != nil {
		t.Fatal(r)
	}
	exec(t, d, "INSERT INTO accounts (exchange, account, active) VALUES ('binance', 'acct-0002', ?)", false)
	testkit.Eventually(t, 5*time.Second, "the account disabled", func() bool {
		r := src.Validate(intent("acct-0002", "BTCUSDT", "BUY", "0.01", false), time.Now())
		return r != nil && r.Reason == intents.ReasonAccountDisabled
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, err := intents.NewSource(intents.SourceConfig{DB: d, Refresh: time.Minute}); err == nil {
		t.Fatal("a refresh slower than the age limit was accepted")
	}
}

// The 1e9 BTCUSDT: the validator refuses it (size_above_max, and
// order_notional_above_limit inside the market lot limit), and the
// simulator, sent it anyway, refuses it with -4005 like Binance; every
// refusal of the validator on the exchange's own rules is one of the
// exchange's too.
func TestSimulatorRefusesWhatTheValidatorRefuses(t *testing.T) {
	d := dbtest.MySQL(t)
	sim := newSim(t)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	rest := binanceapi.New(srv.URL)
	ctx := context.Background()
	if _, err := marketjobs.RefreshSymbols(ctx, rest, d, "binance"); err != nil {
		t.Fatal(err)
	}
	mark, _ := sim.MarkPrice("BTCUSDT")
	exec(t, d, "UPDATE exchange_symbols SET mark_price = ?, mark_price_synced_at = ? WHERE exchange = 'binance' AND symbol = 'BTCUSDT'",
		strconv.FormatFloat(mark, 'f', -1, 64), time.Now().UTC())
	acct := sim.Accounts()[0]
	src, _ := intents.NewSource(intents.SourceConfig{DB: d, Accounts: fileAccounts(acct.ID)})
	if err := src.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	creds := binanceapi.Credentials{APIKey: acct.APIKey, APISecret: acct.APISecret}
	place := func(size string, reduce bool) int {
		p := url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"MARKET"}, "quantity": {size}}
		if reduce {
			p.Set("reduceOnly", "true")
		}
		err := rest.Signed(ctx, "POST", "/fapi/v1/order", creds, p, nil)
		code, _, _ := binanceapi.CodeOf(err)
		if err != nil && code == 0 {
			t.Fatalf("placing %s: %v", size, err)
		}
		return code
	}
	for _, c := range []struct {
		size   string
		reason string
		code   int
	}{
		{"1000000000", intents.ReasonSizeAboveMax, -4005},
		{"1e9", intents.ReasonBadSize, -1100},
		{"120.001", intents.ReasonSizeAboveMax, -4005},
		{"-1", intents.ReasonBadSize, -1100},
		{"0", intents.ReasonBadSize, -4003},
		{"abc", intents.ReasonBadSize, -1100},
		{"0.0105", intents.ReasonSizeStep, -1111},
		{"0.001", intents.ReasonNotionalMin, -4164},
	} {
		r := src.Validate(intent(acct.ID, "BTCUSDT", "BUY", c.size, false), time.Now())
		if r == nil || r.Reason != c.reason {
			t.Errorf("validator on %s: %v, want %s", c.size, r, c.reason)
		}
		if code := place(c.size, false); code != c.code {
			t.Errorf("simulator on %s: code %d, want %d", c.size, code, c.code)
		}
	}
	// 120 BTC is within the exchange's filters; only the notional cap
	// stands between it and the exchange.
	if r := src.Validate(intent(acct.ID, "BTCUSDT", "BUY", "120", false), time.Now()); r == nil || r.Reason != intents.ReasonOrderNotional {
		t.Errorf("120 BTC: %v", r)
	}
	if n := len(sim.Orders(acct.ID)); n != 0 {
		t.Fatalf("%d orders reached the simulator's ground truth", n)
	}
	// What the validator allows, the simulator fills.
	if r := src.Validate(intent(acct.ID, "BTCUSDT", "BUY", "0.01", false), time.Now()); r != nil {
		t.Fatal(r)
	}
	if code := place("0.01", false); code != 0 {
		t.Fatalf("0.01 BTC: code %d", code)
	}
}
