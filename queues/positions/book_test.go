package positions

import (
	"context"
	"database/sql"
	"math/big"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/topics"
)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// Hand-computed one-way accounting.
func TestApplyFillAveragesReducesAndFlips(t *testing.T) {
	pos, entry := new(big.Rat), new(big.Rat)
	step := func(q, p, wantPos, wantEntry string) {
		t.Helper()
		entry = applyFill(pos, entry, rat(q), rat(p))
		pos = new(big.Rat).Add(pos, rat(q))
		if formatDec(pos) != wantPos || formatDec(entry) != wantEntry {
			t.Fatalf("after %s @ %s: %s @ %s, want %s @ %s", q, p, formatDec(pos), formatDec(entry), wantPos, wantEntry)
		}
	}
	step("1", "100", "1", "100")
	step("3", "120", "4", "115")  // (100*1 + 120*3) / 4
	step("-1", "200", "3", "115") // reducing keeps the entry
	step("-5", "90", "-2", "90")  // flipped: the rest opens at the fill price
	step("-2", "60", "-4", "75")  // (90*2 + 60*2) / 4
	step("4", "10", "0", "0")     // closed
	step("0.001", "65000.5", "0.001", "65000.5")
}

func TestFormatDecIsCanonical(t *testing.T) {
	for in, want := range map[string]string{"1.500": "1.5", "-0.000": "0", "0": "0", "20": "20", "-10.0100": "-10.01", "0.00000001": "0.00000001"} {
		if got := Canonical(in); got != want {
			t.Errorf("Canonical(%q) = %q, want %q", in, got, want)
		}
	}
}

type orderRow struct {
	id     int64
	side   string
	cum    string
	fills  [][2]string // qty, price
	status string
}

func insertOrders(t *testing.T, d *db.DB, account, symbol string, orders []orderRow) {
	t.Helper()
	ctx := context.Background()
	trade := int64(0)
	for i, o := range orders {
		_, err := d.ExecContext(ctx, d.Rebind(`INSERT INTO orders (exchange, account, order_id, symbol, side, position_side,
			cum_qty, status, event_time, transaction_time, status_rank) VALUES ('binance', ?, ?, ?, ?, 'BOTH', ?, ?, ?, ?, 5)`),
			account, o.id, symbol, o.side, o.cum, o.status, int64(1000+i), int64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range o.fills {
			trade++
			_, err := d.ExecContext(ctx, d.Rebind(`INSERT INTO order_fills (exchange, account, order_id, trade_id, symbol, side, qty, price,
				transaction_time) VALUES ('binance', ?, ?, ?, ?, ?, ?, ?, ?)`),
				account, o.id, o.id*100+trade, symbol, o.side, f[0], f[1], int64(1000+i))
			if err != nil {
				t.Fatal(err)
			}
		}
	}
}

type posRow struct {
	status, amount, entry, exAmount string
	driftSince                      int64
	opened, closed                  bool
}

func readPos(t *testing.T, d *db.DB, account, symbol string) posRow {
	t.Helper()
	var r posRow
	var ex sql.NullString
	var opened, closed db.NullTime
	err := d.QueryRowContext(context.Background(), d.Rebind(`SELECT status, amount, entry_price, exchange_amount, drift_since,
		opened_at, closed_at FROM positions WHERE exchange = 'binance' AND account = ? AND symbol = ? AND position_side = 'BOTH'`),
		account, symbol).Scan(&r.status, &r.amount, &r.entry, &ex, &r.driftSince, &opened, &closed)
	if err != nil {
		t.Fatal(err)
	}
	r.exAmount, r.opened, r.closed = ex.String, opened.Valid, closed.Valid
	return r
}

func TestBookOnEveryDialect(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			t.Parallel()
			testBook(t, f.New(t))
		})
	}
}

func testBook(t *testing.T, d *db.DB) {
	ctx := context.Background()
	now := time.UnixMilli(1_800_000_000_000)
	b := &Book{DB: d, Now: func() time.Time { return now }}

	// BUY 0.003 (two fills), SELL 0.001, a canceled order without fills.
	insertOrders(t, d, "a1", "BTCUSDT", []orderRow{
		{id: 1, side: "BUY", cum: "0.003", status: "FILLED", fills: [][2]string{{"0.001", "60000"}, {"0.002", "60300"}}},
		{id: 2, side: "SELL", cum: "0.001", status: "FILLED", fills: [][2]string{{"0.001", "61000"}}},
		{id: 3, side: "BUY", cum: "0", status: "CANCELED"},
	})
	for range 2 { // refolding is idempotent
		if err := b.Refold(ctx, "binance", "a1", "BTCUSDT"); err != nil {
			t.Fatal(err)
		}
	}
	got := readPos(t, d, "a1", "BTCUSDT")
	if got.status != "open" || got.amount != "0.002" || got.entry != "60200" || !got.opened || got.closed {
		t.Fatalf("observed position %+v, want open 0.002 @ 60200", got)
	}
	if got.exAmount != "" || got.driftSince != 0 {
		t.Fatalf("no exchange report yet, but %+v", got)
	}

	// The exchange reports the same amount: no drift. An older report is ignored.
	rep := func(amount string, at int64) {
		t.Helper()
		err := b.RecordExchange(ctx, "binance", "a1", "stream", []topics.ExchangePosition{
			{Symbol: "BTCUSDT", PositionSide: "BOTH", Amount: amount, EntryPrice: "60200.00", EventMs: at}})
		if err != nil {
			t.Fatal(err)
		}
	}
	rep("0.0020", 5000)
	rep("0.5", 4000) // older: ignored
	if got := readPos(t, d, "a1", "BTCUSDT"); got.exAmount != "0.002" || got.driftSince != 0 {
		t.Fatalf("after an equal report %+v", got)
	}

	// The exchange moves ahead (its ACCOUNT_UPDATE came first): drift starts
	// but is not due within the grace period.
	rep("0.003", 6000)
	if got := readPos(t, d, "a1", "BTCUSDT"); got.driftSince != now.UnixMilli() {
		t.Fatalf("drift not marked: %+v", got)
	}
	if due, err := b.DueDrifts(ctx, "binance", "a1", time.Minute); err != nil || len(due) != 0 {
		t.Fatalf("due within grace: %v %v", due, err)
	}
	// The fill lands: the sides agree again, drift cleared.
	now = now.Add(10 * time.Second)
	insertOrders(t, d, "a1", "BTCUSDT", []orderRow{{id: 4, side: "BUY", cum: "0.001", status: "FILLED", fills: [][2]string{{"0.001", "60000"}}}})
	if err := b.Refold(ctx, "binance", "a1", "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	if got := readPos(t, d, "a1", "BTCUSDT"); got.amount != "0.003" || got.driftSince != 0 {
		t.Fatalf("drift not cleared: %+v", got)
	}

	// A disagreement that outlives the grace period is due once.
	rep("0.01", 7000)
	since := now.UnixMilli()
	now = now.Add(2 * time.Minute)
	due, err := b.DueDrifts(ctx, "binance", "a1", time.Minute)
	if err != nil || len(due) != 1 {
		t.Fatalf("due drifts %v %v, want one", due, err)
	}
	if dr := due[0]; dr.Symbol != "BTCUSDT" || dr.Amount != "0.003" || dr.ExchangeAmount != "0.01" || dr.SinceMs != since || dr.ExchangeSource != "stream" {
		t.Fatalf("drift %+v", dr)
	}
	if err := b.MarkAlerted(ctx, due[0]); err != nil {
		t.Fatal(err)
	}
	if due, _ := b.DueDrifts(ctx, "binance", "a1", time.Minute); len(due) != 0 {
		t.Fatalf("alerted twice: %v", due)
	}

	// A REST snapshot that does not list the symbol says it is flat; the
	// observed side closes with sells: both agree at zero.
	if err := b.RecordSnapshot(ctx, "binance", "a1", nil, 8000); err != nil {
		t.Fatal(err)
	}
	insertOrders(t, d, "a1", "BTCUSDT", []orderRow{{id: 5, side: "SELL", cum: "0.003", status: "FILLED", fills: [][2]string{{"0.003", "59000"}}}})
	if err := b.Refold(ctx, "binance", "a1", "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	got = readPos(t, d, "a1", "BTCUSDT")
	if got.status != "flat" || got.amount != "0" || got.exAmount != "0" || got.driftSince != 0 || !got.closed {
		t.Fatalf("after closing: %+v", got)
	}

	// Fills that do not explain the amount (a backfilled order): no entry price.
	insertOrders(t, d, "a1", "ETHUSDT", []orderRow{{id: 6, side: "SELL", cum: "2", status: "FILLED"}})
	if err := b.Refold(ctx, "binance", "a1", "ETHUSDT"); err != nil {
		t.Fatal(err)
	}
	if got := readPos(t, d, "a1", "ETHUSDT"); got.amount != "-2" || got.entry != "" || got.status != "open" {
		t.Fatalf("backfilled position %+v", got)
	}
}

// RefoldAll folds every (account, symbol) the orders table holds, as a
// rebuild needs: two accounts, two symbols, one pair each.
func TestRefoldAllFoldsEveryTradedSymbol(t *testing.T) {
	d := dbtest.SQLite(t)
	insertOrders(t, d, "a1", "BTCUSDT", []orderRow{{id: 1, side: "BUY", cum: "0.002", status: "FILLED", fills: [][2]string{{"0.002", "60000"}}}})
	insertOrders(t, d, "a1", "ETHUSDT", []orderRow{{id: 2, side: "SELL", cum: "0.1", status: "FILLED", fills: [][2]string{{"0.1", "3000"}}}})
	insertOrders(t, d, "a2", "BTCUSDT", []orderRow{{id: 3, side: "BUY", cum: "0", status: "CANCELED"}})
	n, err := (&Book{DB: d}).RefoldAll(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("refolded %d pairs, %v; want 3", n, err)
	}
	if got := readPos(t, d, "a1", "BTCUSDT"); got.amount != "0.002" || got.entry != "60000" {
		t.Errorf("a1 BTCUSDT %+v", got)
	}
	if got := readPos(t, d, "a1", "ETHUSDT"); got.amount != "-0.1" || got.entry != "3000" {
		t.Errorf("a1 ETHUSDT %+v", got)
	}
}
