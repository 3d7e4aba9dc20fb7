package marketjobs

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/intents"
)

// binanceBTC is BTCUSDT's entry in the shape of Binance's documented
// GET /fapi/v1/exchangeInfo answer.
const binanceBTC = `{"symbol":"BTCUSDT","pair":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT",
"filters":[{"filterType":"PRICE_FILTER","maxPrice":"4529764","minPrice":"556.80","tickSize":"0.10"},
{"filterType":"LOT_SIZE","maxQty":"1000","minQty":"0.001","stepSize":"0.001"},
{"filterType":"MARKET_LOT_SIZE","maxQty":"120","minQty":"0.001","stepSize":"0.001"},
{"filterType":"MAX_NUM_ORDERS","limit":200},{"filterType":"MAX_NUM_ALGO_ORDERS","limit":10},
{"filterType":"MIN_NOTIONAL","notional":"100"},
{"filterType":"PERCENT_PRICE","multiplierUp":"1.0500","multiplierDown":"0.9500","multiplierDecimal":"4"}]}`

func info(symbols ...string) []byte {
	return []byte(`{"timezone":"UTC","symbols":[` + strings.Join(symbols, ",") + `]}`)
}

func TestParseExchangeInfoTakesTheFiltersAsText(t *testing.T) {
	at := time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)
	hostile := []string{
		binanceBTC,
		// numbers instead of strings, an overlong value, a missing LOT_SIZE
		`{"symbol":"NUMUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"NUM","quoteAsset":"USDT","filters":[{"filterType":"LOT_SIZE","maxQty":1000,"minQty":"1","stepSize":"1"}]}`,
		`{"symbol":"LONGUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"LONG","quoteAsset":"USDT","filters":[{"filterType":"LOT_SIZE","maxQty":"` + strings.Repeat("9", 50) + `","minQty":"1","stepSize":"1"}]}`,
		`{"symbol":"NOLOTUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"NOLOT","quoteAsset":"USDT","filters":[]}`,
		`{"symbol":"SETTLEUSDT","contractType":"PERPETUAL","status":"SETTLING","baseAsset":"SETTLE","quoteAsset":"USDT","filters":[{"filterType":"LOT_SIZE","maxQty":"1","minQty":"1","stepSize":"1"}]}`,
		// a repeat (the first wins), a name that is no symbol, garbage filters
		`{"symbol":"BTCUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"BTC","quoteAsset":"USDT","filters":[{"filterType":"LOT_SIZE","maxQty":"1e9","minQty":"0","stepSize":"0.001"}]}`,
		`{"symbol":"x'); DROP TABLE symbol_rules; --","contractType":"PERPETUAL","status":"TRADING","baseAsset":"X","quoteAsset":"USDT"}`,
		`{"symbol":"JUNKUSDT","contractType":"PERPETUAL","status":"TRADING","baseAsset":"JUNK","quoteAsset":"USDT","filters":[7,null,"x",{"filterType":"LOT_SIZE","maxQty":"1","minQty":"1","stepSize":"1"}]}`,
	}
	syms, rules, err := ParseExchangeInfo("binance", info(hostile...), at)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 6 || len(syms) != 5 {
		t.Fatalf("%d rules, %d symbols: %+v", len(rules), len(syms), rules)
	}
	by := map[string]intents.Rule{}
	for _, r := range rules {
		by[r.Symbol] = intents.ParseRule(intents.RuleText{Status: r.Status, StepSize: r.StepSize, MinQty: r.MinQty, MaxQty: r.MaxQty,
			MarketStepSize: r.MarketStepSize, MarketMinQty: r.MarketMinQty, MarketMaxQty: r.MarketMaxQty, MinNotional: r.MinNotional})
	}
	btc := by["BTCUSDT"]
	if btc.Err != nil || btc.MarketMaxQty.RatString() != "120" || btc.MaxQty.RatString() != "1000" || btc.MinNotional.RatString() != "100" {
		t.Fatalf("BTCUSDT: %+v", btc)
	}
	for _, s := range []string{"NUMUSDT", "LONGUSDT", "NOLOTUSDT"} {
		if by[s].Err == nil {
			t.Errorf("%s's filters were usable: %+v", s, by[s])
		}
	}
	if by["SETTLEUSDT"].Status != "SETTLING" || by["JUNKUSDT"].Err != nil {
		t.Fatalf("SETTLEUSDT %+v JUNKUSDT %+v", by["SETTLEUSDT"], by["JUNKUSDT"])
	}
	for _, bad := range [][]byte{nil, []byte("{"), []byte(`{"symbols":[]}`), info(`{"symbol":"SETTLEUSDT","contractType":"PERPETUAL","status":"SETTLING"}`)} {
		if _, _, err := ParseExchangeInfo("binance", bad, at); err == nil {
			t.Errorf("%q accepted as a listing", bad)
		}
	}
}

func TestImportExchangeInfoStoresRulesAndUnlists(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			h := startSim(t)
			ctx := context.Background()
			n, err := RefreshSymbols(ctx, h.rest, d, "binance")
			if err != nil {
				t.Fatal(err)
			}
			if got := dbtest.Count(t, d, "FROM symbol_rules WHERE exchange = 'binance' AND status = 'TRADING'"); got != n {
				t.Fatalf("%d rules for %d symbols", got, n)
			}
			if dbtest.Count(t, d, "FROM symbol_rules WHERE symbol = 'BTCUSDT' AND step_size = '0.001' AND market_max_qty = '120.000' AND max_qty = '1000.000' AND min_notional = '100'") != 1 {
				t.Fatalf("BTCUSDT rules: %v", dbtest.Dump(t, d, "SELECT * FROM symbol_rules WHERE symbol = 'BTCUSDT'"))
			}
			// A later listing without ETHUSDT: its rules stay but say UNLISTED.
			if _, err := ImportExchangeInfo(ctx, d, "binance", info(binanceBTC), time.Now().Add(time.Second)); err != nil {
				t.Fatal(err)
			}
			if dbtest.Count(t, d, "FROM symbol_rules WHERE symbol = 'ETHUSDT' AND status = ?", db.StatusUnlisted) != 1 ||
				dbtest.Count(t, d, "FROM symbol_rules WHERE symbol = 'BTCUSDT' AND status = 'TRADING' AND market_max_qty = '120'") != 1 {
				t.Fatalf("after a shorter listing: %v", dbtest.Dump(t, d, "SELECT symbol, status, market_max_qty FROM symbol_rules WHERE symbol IN ('BTCUSDT', 'ETHUSDT')"))
			}
			// An empty listing changes nothing.
			if _, err := ImportExchangeInfo(ctx, d, "binance", info(), time.Now().Add(2*time.Second)); err == nil {
				t.Fatal("an empty listing was imported")
			}
			if dbtest.Count(t, d, "FROM symbol_rules WHERE symbol = 'BTCUSDT' AND status = 'TRADING'") != 1 {
				t.Fatal("an empty listing unlisted BTCUSDT")
			}
		})
	}
}

// FuzzParseExchangeInfo: any body is decoded or refused without a panic,
// and every rule it yields has a valid symbol and values that fit their
// columns.
func FuzzParseExchangeInfo(f *testing.F) {
	f.Add(info(binanceBTC))
	f.Add(info(binanceBTC, binanceBTC))
	f.Add([]byte(`{"symbols":[{"symbol":"A","contractType":"PERPETUAL","status":"TRADING","baseAsset":"A","quoteAsset":"USDT","filters":[{"filterType":"LOT_SIZE","stepSize":{}}]}]}`))
	f.Add([]byte(`{"symbols":null}`))
	f.Add([]byte(`[]`))
	at := time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		_, rules, err := ParseExchangeInfo("binance", body, at)
		if err != nil {
			return
		}
		for _, r := range rules {
			for _, v := range []string{r.StepSize, r.MinQty, r.MaxQty, r.MarketStepSize, r.MarketMinQty, r.MarketMaxQty, r.MinNotional} {
				if len(v) > 40 {
					t.Fatalf("value %q does not fit VARCHAR(40)", v)
				}
			}
			if utf8.RuneCountInString(r.Status) > 32 || r.Symbol == "" {
				t.Fatalf("rule %+v", r)
			}
		}
	})
}
