package simulator

import (
	"encoding/json"
	"net/url"
	"testing"
)

// exchangeInfo serves Binance's BTCUSDT filters and proportionate ones
// elsewhere.
func TestExchangeInfoFilters(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	var info struct {
		Symbols []struct {
			Symbol  string           `json:"symbol"`
			Filters []map[string]any `json:"filters"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(h.sim.ExchangeInfo(), &info); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]map[string]any{}
	for _, s := range info.Symbols {
		got[s.Symbol] = map[string]map[string]any{}
		for _, f := range s.Filters {
			got[s.Symbol][f["filterType"].(string)] = f
		}
	}
	btc := got["BTCUSDT"]
	if btc["LOT_SIZE"]["maxQty"] != "1000.000" || btc["LOT_SIZE"]["stepSize"] != "0.001" ||
		btc["MARKET_LOT_SIZE"]["maxQty"] != "120.000" || btc["MIN_NOTIONAL"]["notional"] != "100" {
		t.Fatalf("BTCUSDT filters: %v", btc)
	}
	eth := got["ETHUSDT"]
	if eth["LOT_SIZE"]["maxQty"] != "20000.000" || eth["MARKET_LOT_SIZE"]["maxQty"] != "2000.000" || eth["MIN_NOTIONAL"]["notional"] != "20" {
		t.Fatalf("ETHUSDT filters: %v", eth)
	}
	for sym, f := range got {
		if f["MARKET_LOT_SIZE"]["maxQty"] == nil || f["LOT_SIZE"]["maxQty"] == nil {
			t.Fatalf("%s: %v", sym, f)
		}
	}
}

// Order placement enforces the filters with Binance's codes, and nothing
// refused reaches the ground truth.
func TestOrderPlacementEnforcesFilters(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	market := func(sym, qty string, extra ...string) url.Values {
		v := url.Values{"symbol": {sym}, "side": {"BUY"}, "type": {"MARKET"}, "quantity": {qty}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v
	}
	for _, c := range []struct {
		name   string
		params url.Values
		code   float64
	}{
		{"the 1e9 order of issue 11", market("BTCUSDT", "1000000000"), -4005},
		{"1e9 as an exponent", market("BTCUSDT", "1e9"), -1100},
		{"above MARKET_LOT_SIZE", market("BTCUSDT", "120.001"), -4005},
		{"above LOT_SIZE for a limit", url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"LIMIT"}, "timeInForce": {"GTC"},
			"quantity": {"1000.001"}, "price": {"1000.0"}}, -4005},
		{"beyond int64 lots", market("BTCUSDT", "99999999999999999999"), -4005},
		{"negative", market("BTCUSDT", "-1"), -1100},
		{"NaN", market("BTCUSDT", "NaN"), -1100},
		{"zero", market("BTCUSDT", "0.000"), -4003},
		{"off the step", market("BTCUSDT", "0.0105"), -1111},
		{"below the minimum notional", market("BTCUSDT", "0.001"), -4164},
		{"limit below the minimum notional", url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"LIMIT"}, "timeInForce": {"GTC"},
			"quantity": {"0.010"}, "price": {"1000.0"}}, -4164},
		{"unknown symbol", market("NOSUCHUSDT", "1"), -1121},
		{"empty quantity", market("BTCUSDT", ""), -1102},
	} {
		status, got, body := h.signed("POST", "/fapi/v1/order", a, c.params)
		if status != 400 || got["code"] != c.code {
			t.Errorf("%s: %d %s, want %v", c.name, status, body, c.code)
		}
	}
	if n := len(h.sim.Orders(a.ID)); n != 0 {
		t.Fatalf("refused orders reached the ground truth: %d", n)
	}
	for _, ok := range []url.Values{
		market("BTCUSDT", "120"),                         // the market maximum
		market("BTCUSDT", "0.002"),                       // 190 USDT
		market("BTCUSDT", "0.001", "reduceOnly", "true"), // reduce-only is exempt from MIN_NOTIONAL
		market("BTCUSDT", "0.0100"),                      // trailing zeros
	} {
		if status, _, body := h.signed("POST", "/fapi/v1/order", a, ok); status != 200 {
			t.Errorf("%v: %d %s", ok, status, body)
		}
	}
}
