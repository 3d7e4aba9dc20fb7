package marketjobs

import (
	"encoding/json"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/topics"
)

const klinesQuery = `SELECT exchange, symbol, interval_code, open_time, open, high, low, close, volume
FROM klines ORDER BY symbol, interval_code, open_time`

const indicatorsQuery = `SELECT symbol, interval_code, name, open_time, value, data
FROM indicators ORDER BY symbol, interval_code, name, open_time`

const balancesQuery = `SELECT exchange, account, asset, wallet_balance, available_balance, taken_at
FROM balance_snapshots ORDER BY account, asset, taken_at`

func TestFetchComputeAndSnapshotOnEachDatabase(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			h := startSim(t)
			ctx := t.Context()

			// Klines: 201 asked, the forming one (opening at t0's minute) dropped.
			fetch := func() {
				t.Helper()
				n, err := FetchKlinesAt(ctx, h.rest, d, "binance", "BTCUSDT", "1m", 201, t0)
				if err != nil {
					t.Fatalf("fetching klines: %v", err)
				}
				if n != 200 {
					t.Fatalf("stored %d klines, want 200", n)
				}
			}
			fetch()
			klines := dbtest.Dump(t, d, klinesQuery)
			fetch()
			if again := dbtest.Dump(t, d, klinesQuery); !reflect.DeepEqual(again, klines) {
				t.Fatalf("a second fetch changed klines:\nfirst  %v\nsecond %v", klines[len(klines)-1], again[len(again)-1])
			}
			forming := t0.Truncate(time.Minute).UnixMilli()
			if n := dbtest.Count(t, d, "FROM klines WHERE open_time >= ?", forming); n != 0 {
				t.Fatalf("the forming kline was stored (%d rows at or after %d)", n, forming)
			}
			if n := dbtest.Count(t, d, "FROM klines WHERE open_time = ?", forming-60000); n != 1 {
				t.Fatalf("the last closed kline is missing")
			}

			// Indicators: 100 rows of each of the four, twice the same.
			compute := func() {
				t.Helper()
				n, err := ComputeIndicators(ctx, d, "binance", "BTCUSDT", "1m")
				if err != nil {
					t.Fatalf("computing indicators: %v", err)
				}
				if n != 4*WriteKlines {
					t.Fatalf("wrote %d indicator rows, want %d", n, 4*WriteKlines)
				}
			}
			compute()
			inds := dbtest.Dump(t, d, indicatorsQuery)
			compute()
			if again := dbtest.Dump(t, d, indicatorsQuery); !reflect.DeepEqual(again, inds) {
				t.Fatal("a second computation changed indicators")
			}
			if len(inds) != 4*WriteKlines {
				t.Fatalf("%d indicator rows stored, want %d", len(inds), 4*WriteKlines)
			}
			assertIndicatorsMatchStoredKlines(t, d)

			// Balances at the job's slot, twice the same.
			acct := h.sim.Accounts()[0]
			creds, _ := h.creds(acct.ID)
			slot := time.UnixMilli(t0.Truncate(time.Minute).UnixMilli())
			for range 2 {
				n, err := SnapshotBalances(ctx, h.rest, d, "binance", acct.ID, creds, slot)
				if err != nil {
					t.Fatalf("snapshotting balances: %v", err)
				}
				if n != 2 {
					t.Fatalf("snapshot had %d assets, want 2 (USDT, USDC)", n)
				}
			}
			bal := dbtest.Dump(t, d, balancesQuery)
			if len(bal) != 2 || bal[0][2] != "USDC" || bal[1][2] != "USDT" {
				t.Fatalf("balance rows: %v", bal)
			}
			for _, r := range bal {
				if _, err := strconv.ParseFloat(r[3], 64); err != nil || r[4] == "" {
					t.Errorf("balance row %v: wallet or available balance not a decimal", r)
				}
			}
			var at db.NullTime
			if err := d.QueryRowContext(ctx, "SELECT MIN(taken_at) FROM balance_snapshots").Scan(&at); err != nil || !at.Time.Equal(slot) {
				t.Errorf("taken_at %v (err %v), want the slot %v", at.Time, err, slot)
			}
		})
	}
}

// assertIndicatorsMatchStoredKlines recomputes each indicator from the
// stored klines with the pure functions and compares the latest stored row
// (DECIMAL(36,18) keeps 18 decimals: a relative 1e-12 is far inside that).
func assertIndicatorsMatchStoredKlines(t *testing.T, d *db.DB) {
	t.Helper()
	s, err := loadSeries(t.Context(), d, "binance", "BTCUSDT", "1m", HistoryKlines)
	if err != nil {
		t.Fatal(err)
	}
	last := s.openTime[len(s.openTime)-1]
	want := map[string][]float64{
		NameEMA20: EMA(s.closes, 20), NameEMA50: EMA(s.closes, 50),
		NameRSI14: RSI(s.closes, 14), NameATR14: ATR(s.high, s.low, s.closes, 14),
	}
	for name, vals := range want {
		var got float64
		q := d.Rebind("SELECT value FROM indicators WHERE symbol = ? AND interval_code = ? AND name = ? AND open_time = ?")
		if err := d.QueryRowContext(t.Context(), q, "BTCUSDT", "1m", name, last).Scan(&got); err != nil {
			t.Fatalf("reading %s at %d: %v", name, last, err)
		}
		w := vals[len(vals)-1]
		if math.Abs(got-w) > 1e-12*math.Max(1, math.Abs(w)) {
			t.Errorf("%s at %d: stored %.18g, pure function %.18g", name, last, got, w)
		}
	}
	// A plausibility check on real prices: RSI within 0..100, ATR positive.
	rsi, atr := want[NameRSI14], want[NameATR14]
	if r := rsi[len(rsi)-1]; r < 0 || r > 100 {
		t.Errorf("rsi14 %v out of 0..100", r)
	}
	if a := atr[len(atr)-1]; a <= 0 {
		t.Errorf("atr14 %v not positive", a)
	}
}

func TestHandlersRunTheJobsIdempotently(t *testing.T) {
	d := dbtest.SQLite(t)
	h := startSim(t)
	hs := Handlers(Deps{Rest: h.rest, DB: d, Account: h.creds, KlineLimit: 101, Now: func() time.Time { return t0 }})
	slot := t0.Truncate(time.Minute).UnixMilli()
	jobs := []topics.Job{
		{ID: "k", Type: JobKlineFetch, ScheduledMs: slot},
		{ID: "k5", Type: JobKlineFetch, ScheduledMs: slot, Payload: json.RawMessage(`{"symbols":["ETHUSDT"],"interval":"5m","limit":60}`)},
		{ID: "i", Type: JobIndicators, ScheduledMs: slot},
		{ID: "i5", Type: JobIndicators, ScheduledMs: slot, Payload: json.RawMessage(`{"symbols":["ETHUSDT"],"interval":"5m"}`)},
		{ID: "b", Type: JobBalanceSnapshot, Account: h.sim.Accounts()[0].ID, ScheduledMs: slot},
	}
	var dumps [2][3][][]string
	for run := range 2 {
		for _, j := range jobs {
			if err := hs[j.Type](t.Context(), j); err != nil {
				t.Fatalf("run %d, job %s: %v", run, j.ID, err)
			}
		}
		dumps[run] = [3][][]string{dbtest.Dump(t, d, klinesQuery), dbtest.Dump(t, d, indicatorsQuery), dbtest.Dump(t, d, balancesQuery)}
	}
	if !reflect.DeepEqual(dumps[0], dumps[1]) {
		t.Fatal("running the jobs a second time changed the tables")
	}
	counts := []struct {
		what string
		got  int
		want int
	}{
		{"BTCUSDT 1m klines (default symbols)", dbtest.Count(t, d, "FROM klines WHERE symbol = 'BTCUSDT' AND interval_code = '1m'"), 100},
		{"ETHUSDT 1m klines", dbtest.Count(t, d, "FROM klines WHERE symbol = 'ETHUSDT' AND interval_code = '1m'"), 100},
		{"ETHUSDT 5m klines (payload)", dbtest.Count(t, d, "FROM klines WHERE symbol = 'ETHUSDT' AND interval_code = '5m'"), 59},
		// 100 klines: EMA20 81 values, EMA50 51, RSI14 86, ATR14 86.
		{"BTCUSDT 1m indicator rows", dbtest.Count(t, d, "FROM indicators WHERE symbol = 'BTCUSDT' AND interval_code = '1m'"), 81 + 51 + 86 + 86},
		// 59 klines: EMA20 40, EMA50 10, RSI14 45, ATR14 45.
		{"ETHUSDT 5m indicator rows", dbtest.Count(t, d, "FROM indicators WHERE symbol = 'ETHUSDT' AND interval_code = '5m'"), 40 + 10 + 45 + 45},
		{"balance rows", dbtest.Count(t, d, "FROM balance_snapshots"), 2},
	}
	for _, c := range counts {
		if c.got != c.want {
			t.Errorf("%s: %d, want %d", c.what, c.got, c.want)
		}
	}
}

func TestSymbolRefreshUpsertsTheListingIdempotently(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			h := startSim(t)
			n, err := RefreshSymbols(t.Context(), h.rest, d, "binance")
			if err != nil {
				t.Fatal(err)
			}
			if n < 100 {
				t.Fatalf("refreshed %d symbols, want the simulator's whole listing", n)
			}
			first := dbtest.Dump(t, d, "SELECT exchange, symbol, token, quote FROM exchange_symbols ORDER BY symbol")
			if len(first) != n {
				t.Fatalf("%d rows for %d symbols", len(first), n)
			}
			if dbtest.Count(t, d, "FROM exchange_symbols WHERE symbol = 'BTCUSDT' AND token = 'BTC' AND quote = 'USDT'") != 1 {
				t.Fatal("BTCUSDT missing or wrong")
			}
			h2 := Handlers(Deps{Rest: h.rest, DB: d, Account: h.creds})
			if err := h2[JobSymbolRefresh](t.Context(), topics.Job{ID: "symbol-refresh@1"}); err != nil {
				t.Fatal(err)
			}
			if again := dbtest.Dump(t, d, "SELECT exchange, symbol, token, quote FROM exchange_symbols ORDER BY symbol"); !reflect.DeepEqual(again, first) {
				t.Fatal("a second refresh changed the table")
			}
		})
	}
}
