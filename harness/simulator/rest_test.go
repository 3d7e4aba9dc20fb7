package simulator

import (
	"encoding/json"
	"math"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/testkit"
)

func TestListenKeyLifecycle(t *testing.T) {
	h := start(t, Config{})
	a := h.acct(0)

	k1 := h.listenKey(a)
	if len(k1) != 64 {
		t.Fatalf("listenKey %q is not 64 characters", k1)
	}
	if k2 := h.listenKey(a); k2 != k1 {
		t.Fatalf("a second POST while the key is active returned %q, want the same %q", k2, k1)
	}
	status, _, m, body := h.call("PUT", "/fapi/v1/listenKey", a.APIKey, nil)
	if status != 200 || m["listenKey"] != k1 {
		t.Fatalf("PUT: %d %s, want the key echoed", status, body)
	}
	if status, _, _, body = h.call("DELETE", "/fapi/v1/listenKey", a.APIKey, nil); status != 200 || string(body) != "{}\n" {
		t.Fatalf("DELETE: %d %s", status, body)
	}
	status, _, m, body = h.call("PUT", "/fapi/v1/listenKey", a.APIKey, nil)
	if status != 400 || m["code"] != -1125.0 || m["msg"] != "This listenKey does not exist." {
		t.Fatalf("PUT after DELETE: %d %s, want -1125", status, body)
	}
	if k3 := h.listenKey(a); k3 == k1 {
		t.Fatal("POST after DELETE returned the dead key")
	}
	if k := h.listenKey(h.acct(1)); k == k1 {
		t.Fatal("two accounts share a listenKey")
	}
}

func TestListenKeyExpiresAfterTTL(t *testing.T) {
	h := start(t, Config{ListenKeyTTL: 60 * time.Millisecond})
	h.run()
	a := h.acct(0)
	key := h.listenKey(a)
	c := h.dial("/private/ws?listenKey=" + key)
	testkit.Eventually(t, 15*time.Second, "listenKeyExpired", func() bool { return len(c.got()) == 1 })
	var f struct {
		E         json.RawMessage `json:"E"`
		Event     string          `json:"e"`
		ListenKey string          `json:"listenKey"`
	}
	if err := json.Unmarshal(c.got()[0], &f); err != nil {
		t.Fatal(err)
	}
	if f.Event != "listenKeyExpired" || f.ListenKey != key || f.E[0] != '"' {
		t.Fatalf("expiry frame %s: want listenKeyExpired with the key and E as a string", c.got()[0])
	}
	status, _, m, _ := h.call("PUT", "/fapi/v1/listenKey", a.APIKey, nil)
	if status != 400 || m["code"] != -1125.0 {
		t.Fatalf("PUT after expiry: %d %v", status, m)
	}
	h.sim.Step(a.ID)
	time.Sleep(30 * time.Millisecond)
	if n := len(c.got()); n != 1 {
		t.Fatalf("socket bound to an expired key got %d frames after expiry", n-1)
	}
}

func TestListenKeyNeedsAKnownAPIKey(t *testing.T) {
	h := start(t, Config{})
	for _, c := range []struct {
		key  string
		code float64
	}{{"", -2014}, {"nope", -2015}} {
		status, _, m, body := h.call("POST", "/fapi/v1/listenKey", c.key, nil)
		if status != 401 || m["code"] != c.code {
			t.Errorf("api key %q: %d %s, want 401 %v", c.key, status, body, c.code)
		}
	}
}

func TestSignedRequestsAreVerified(t *testing.T) {
	h := start(t, Config{})
	a := h.acct(0)
	if status, _, body := h.signed("GET", "/fapi/v1/openOrders", a, nil); status != 200 || string(body) != "[]\n" {
		t.Fatalf("good signature: %d %s", status, body)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	for _, c := range []struct {
		name, query, key string
		status           int
		code             float64
	}{
		{"wrong signature", "timestamp=" + ts + "&signature=" + binanceapi.Sign("other secret", "timestamp="+ts), a.APIKey, 400, -1022},
		{"tampered parameters", "symbol=BTCUSDT&timestamp=" + ts + "&signature=" + binanceapi.Sign(a.APISecret, "timestamp="+ts), a.APIKey, 400, -1022},
		{"no signature", "timestamp=" + ts, a.APIKey, 400, -1102},
		{"unknown api key", "timestamp=" + ts + "&signature=" + binanceapi.Sign(a.APISecret, "timestamp="+ts), "unknown", 401, -2015},
		{"stale timestamp", "timestamp=1000&signature=" + binanceapi.Sign(a.APISecret, "timestamp=1000"), a.APIKey, 400, -1021},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, _, m, body := h.do("GET", h.srv.URL+"/fapi/v1/openOrders?"+c.query, c.key)
			if status != c.status || m["code"] != c.code {
				t.Fatalf("%d %s, want %d %v", status, body, c.status, c.code)
			}
		})
	}
}

func TestOrdersOverREST(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	mark := h.sim.market.markOf("BTCUSDT")
	below := strconv.FormatFloat(mark*0.9, 'f', 1, 64)

	place := url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"LIMIT"}, "timeInForce": {"GTC"},
		"quantity": {"0.010"}, "price": {below}, "newClientOrderId": {"kraite-1"}}
	status, first, body := h.signed("POST", "/fapi/v1/order", a, place)
	if status != 200 || first["status"] != "NEW" || first["clientOrderId"] != "kraite-1" {
		t.Fatalf("place: %d %s", status, body)
	}
	_, again, _ := h.signed("POST", "/fapi/v1/order", a, place)
	if again["orderId"] != first["orderId"] {
		t.Fatalf("a repeated newClientOrderId made a new order: %v vs %v", again["orderId"], first["orderId"])
	}
	if n := len(h.sim.Orders(a.ID)); n != 1 {
		t.Fatalf("ground truth has %d orders, want 1", n)
	}
	q := url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {"kraite-1"}}
	if status, got, body := h.signed("GET", "/fapi/v1/order", a, q); status != 200 || got["orderId"] != first["orderId"] {
		t.Fatalf("query: %d %s", status, body)
	}
	if status, got, body := h.signed("DELETE", "/fapi/v1/order", a, q); status != 200 || got["status"] != "CANCELED" {
		t.Fatalf("cancel: %d %s", status, body)
	}
	if status, got, _ := h.signed("DELETE", "/fapi/v1/order", a, q); status != 400 || got["code"] != -2011.0 {
		t.Fatalf("second cancel: %d %v, want -2011", status, got)
	}
	if status, got, _ := h.signed("GET", "/fapi/v1/order", a, url.Values{"symbol": {"BTCUSDT"}, "orderId": {"1"}}); status != 400 || got["code"] != -2013.0 {
		t.Fatalf("unknown order: %d %v, want -2013", status, got)
	}

	market := url.Values{"symbol": {"ETHUSDT"}, "side": {"SELL"}, "type": {"MARKET"}, "quantity": {"0.5"}}
	if status, got, body := h.signed("POST", "/fapi/v1/order", a, market); status != 200 || got["status"] != "FILLED" || got["executedQty"] != "0.500" {
		t.Fatalf("market order: %d %s", status, body)
	}
	stop := url.Values{"symbol": {"ETHUSDT"}, "side": {"SELL"}, "type": {"STOP_MARKET"}, "quantity": {"0.5"}, "stopPrice": {"1000"}}
	if status, got, _ := h.signed("POST", "/fapi/v1/order", a, stop); status != 400 || got["code"] != -4120.0 {
		t.Fatalf("conditional order on /order: %d %v, want -4120", status, got)
	}
	bad := url.Values{"symbol": {"ETHUSDT"}, "side": {"SELL"}, "type": {"MARKET"}, "quantity": {"0.5001"}}
	if status, got, _ := h.signed("POST", "/fapi/v1/order", a, bad); status != 400 || got["code"] != -1111.0 {
		t.Fatalf("quantity off the step: %d %v, want -1111", status, got)
	}
}

func TestAlgoOrdersOverREST(t *testing.T) {
	h := start(t, Config{})
	a := h.acct(0)
	place := url.Values{"algoType": {"CONDITIONAL"}, "symbol": {"BTCUSDT"}, "side": {"SELL"},
		"type": {"STOP_MARKET"}, "quantity": {"0.002"}, "triggerPrice": {"50000.0"}, "clientAlgoId": {"algo-1"}}
	status, got, body := h.signed("POST", "/fapi/v1/algoOrder", a, place)
	if status != 200 || got["algoStatus"] != "NEW" || got["clientAlgoId"] != "algo-1" {
		t.Fatalf("place: %d %s", status, body)
	}
	if _, again, _ := h.signed("POST", "/fapi/v1/algoOrder", a, place); again["algoId"] != got["algoId"] {
		t.Fatal("a repeated clientAlgoId made a new algo order")
	}
	if status, _, body := h.signed("GET", "/fapi/v1/openAlgoOrders", a, nil); status != 200 || len(body) < 10 {
		t.Fatalf("open algo orders: %d %s", status, body)
	}
	q := url.Values{"clientAlgoId": {"algo-1"}}
	if status, g, body := h.signed("GET", "/fapi/v1/algoOrder", a, q); status != 200 || g["triggerPrice"] != "50000.0" {
		t.Fatalf("query: %d %s", status, body)
	}
	if status, _, body := h.signed("DELETE", "/fapi/v1/algoOrder", a, q); status != 200 {
		t.Fatalf("cancel: %d %s", status, body)
	}
	if algos := h.sim.AlgoOrders(a.ID); len(algos) != 1 || algos[0].Status != "CANCELED" {
		t.Fatalf("ground truth: %+v", algos)
	}
}

func TestPublicEndpointsAndWeights(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	status, hdr, _, body := h.call("GET", "/fapi/v1/exchangeInfo", "", nil)
	if status != 200 || hdr.Get("X-MBX-USED-WEIGHT-1M") == "" {
		t.Fatalf("exchangeInfo: %d, weight header %q", status, hdr.Get("X-MBX-USED-WEIGHT-1M"))
	}
	var info struct {
		RateLimits []struct {
			Type  string `json:"rateLimitType"`
			Limit int    `json:"limit"`
		} `json:"rateLimits"`
		Symbols []struct {
			Symbol string `json:"symbol"`
		} `json:"symbols"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		t.Fatal(err)
	}
	if len(info.Symbols) != 568 || info.RateLimits[0].Type != "REQUEST_WEIGHT" || info.RateLimits[0].Limit != 2400 {
		t.Fatalf("exchangeInfo: %d symbols, rate limits %+v", len(info.Symbols), info.RateLimits)
	}

	q := url.Values{"symbol": {"BTCUSDT"}, "interval": {"1h"}, "limit": {"48"}}
	_, _, _, k1 := h.call("GET", "/fapi/v1/klines", "", q)
	_, _, _, k2 := h.call("GET", "/fapi/v1/klines", "", q)
	var rows [][]any
	if err := json.Unmarshal(k1, &rows); err != nil || len(rows) != 48 || string(k1) != string(k2) {
		t.Fatalf("klines: %d rows, err %v, deterministic %v", len(rows), err, string(k1) == string(k2))
	}
	if _, ok := rows[0][1].(string); !ok || rows[1][0].(float64)-rows[0][0].(float64) != 3600000 {
		t.Fatalf("kline rows are not shaped like Binance's: %v", rows[0])
	}
	if status, _, m, _ := h.call("GET", "/fapi/v1/klines", "", url.Values{"symbol": {"NOPEUSDT"}, "interval": {"1h"}}); status != 400 || m["code"] != -1121.0 {
		t.Fatalf("unknown symbol: %d %v", status, m)
	}

	a := h.acct(0)
	for _, path := range []string{"/fapi/v2/balance", "/fapi/v3/balance", "/fapi/v2/account"} {
		if status, _, body := h.signed("GET", path, a, nil); status != 200 {
			t.Errorf("%s: %d %s", path, status, body)
		}
	}
}

func TestRequestWeightLimit(t *testing.T) {
	h := start(t, Config{WeightLimit: 100})
	a := h.acct(0)
	if status, _, _ := h.signed("GET", "/fapi/v1/openOrders", a, nil); status != 200 { // weight 40
		t.Fatalf("first call: %d", status)
	}
	h.signed("GET", "/fapi/v1/openOrders", a, nil)
	status, hdr, m, _ := h.call("GET", "/fapi/v1/ping", "", nil)
	if status != 200 {
		t.Skip("the weight minute rolled over mid-test")
	}
	if status, hdr, m, _ = h.call("GET", "/fapi/v1/openOrders", "", nil); status != 429 || m["code"] != -1003.0 {
		t.Fatalf("over the limit: %d %v (weight %s)", status, m, hdr.Get("X-MBX-USED-WEIGHT-1M"))
	}
}

func TestConfigValidate(t *testing.T) {
	if err := (Config{}).Validate(); err != nil {
		t.Fatalf("the zero config is invalid: %v", err)
	}
	err := Config{Accounts: -1, PingInterval: -time.Second, ListenKeyTTL: -time.Minute}.Validate()
	if err == nil {
		t.Fatal("negative fields accepted")
	}
	for _, want := range []string{"accounts", "ping interval", "listenKey TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if _, err := New(Config{Accounts: -1}); err == nil {
		t.Fatal("New accepted an invalid config")
	}
}

// TestIncomeHistoryListsEveryFill: GET /fapi/v1/income (30 weight) lists
// the commission of every fill and the realized profit of a closing fill,
// of every symbol without naming one (the one read that finds a symbol the
// account traded without anything left open), filtered by type, symbol and
// time, oldest first, at most limit.
func TestIncomeHistoryListsEveryFill(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	income := func(q url.Values) []binanceapi.Income {
		t.Helper()
		status, _, body := h.signed("GET", "/fapi/v1/income", a, q)
		var out []binanceapi.Income
		if status != 200 || json.Unmarshal(body, &out) != nil {
			t.Fatalf("income %v: %d %s", q, status, body)
		}
		return out
	}
	if got := income(nil); len(got) != 0 {
		t.Fatalf("income before any fill: %+v", got)
	}
	for _, side := range []string{"BUY", "SELL"} { // open, then close: a realized profit
		q := url.Values{"symbol": {"ETHUSDT"}, "side": {side}, "type": {"MARKET"}, "quantity": {"0.5"}}
		if status, got, body := h.signed("POST", "/fapi/v1/order", a, q); status != 200 || got["status"] != "FILLED" {
			t.Fatalf("market %s: %d %s", side, status, body)
		}
	}
	all := income(nil)
	var commissions, pnl int
	for _, in := range all {
		if in.Symbol != "ETHUSDT" || in.Asset != "USDT" || in.TradeID == "" || in.TranID == 0 {
			t.Errorf("entry %+v", in)
		}
		switch in.IncomeType {
		case binanceapi.IncomeCommission:
			commissions++
			if !strings.HasPrefix(in.Income, "-") {
				t.Errorf("a commission is paid: %+v", in)
			}
		case binanceapi.IncomeRealizedPnL:
			pnl++
		}
	}
	if commissions != 2 || pnl > 1 {
		t.Fatalf("two fills: %d commissions, %d realized profits in %+v", commissions, pnl, all)
	}
	if got := income(url.Values{"incomeType": {binanceapi.IncomeCommission}, "limit": {"1"}}); len(got) != 1 || got[0] != all[0] {
		t.Fatalf("first commission: %+v", got)
	}
	if got := income(url.Values{"symbol": {"BTCUSDT"}}); len(got) != 0 {
		t.Fatalf("BTCUSDT, never traded: %+v", got)
	}
	after := strconv.FormatInt(all[len(all)-1].Time+1, 10)
	if got := income(url.Values{"startTime": {after}, "endTime": {after}}); len(got) != 0 {
		t.Fatalf("a window after the fills: %+v", got)
	}
	// Garbage and extreme parameters answer a bounded list, never an error
	// or everything: a limit past 1,000 or unreadable is the default.
	for _, q := range []url.Values{{"limit": {"999999999"}}, {"limit": {"-5"}}, {"limit": {"many"}}, {"startTime": {"garbage"}, "endTime": {"x"}}} {
		if got := income(q); len(got) != len(all) {
			t.Errorf("income %v: %d entries, want the %d of the default", q, len(got), len(all))
		}
	}
	future := strconv.FormatInt(math.MaxInt64, 10)
	if got := income(url.Values{"startTime": {future}}); len(got) != 0 {
		t.Fatalf("a window starting at the end of time: %+v", got)
	}
	if got := income(url.Values{"endTime": {"-1"}}); len(got) != len(all) {
		t.Fatalf("a negative end (no bound): %d entries", len(got))
	}
	if status, _, _ := h.signed("GET", "/fapi/v1/income", a, url.Values{"symbol": {"NOPEUSDT"}}); status != 400 {
		t.Fatalf("an unknown symbol: %d", status)
	}
	if status, _, _, _ := h.call("GET", "/fapi/v1/income", a.APIKey, nil); status != 400 && status != 401 { // unsigned
		t.Fatalf("an unsigned income read: %d", status)
	}
}
