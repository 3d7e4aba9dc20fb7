package reconcile

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// An algo order placed and canceled while every frame was lost is in no
// open list: the sweep's window must find it through allAlgoOrders and
// publish its final state as a backfill frame (found by kraite chaos).
// serveSim runs a quiet one-account simulator until the test ends.
func serveSim(t *testing.T) (*simulator.Simulator, simulator.Account, binanceapi.Credentials, *binanceapi.Client) {
	t.Helper()
	sim, acct, cr, base := serveSimAt(t, nil)
	return sim, acct, cr, binanceapi.New(base)
}

// serveSimAt is serveSim with the simulator's clock (nil = wall time); it
// returns the simulator's base URL.
func serveSimAt(t *testing.T, now func() time.Time) (*simulator.Simulator, simulator.Account, binanceapi.Credentials, string) {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Accounts: 1, OrderInterval: -1, Logger: testkit.Logger(t), Now: now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	acct := sim.Accounts()[0]
	return sim, acct, binanceapi.Credentials{APIKey: acct.APIKey, APISecret: acct.APISecret}, "http://" + ln.Addr().String()
}

// syncBroker is a broker with the catalog's topics and a producer on it,
// closed when the test ends: where a sync publishes its frames.
func syncBroker(t *testing.T) (*broker.Broker, *kgo.Client) {
	t.Helper()
	b := testkit.Broker(t, "kraite.")
	prod, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return b, prod
}

// An order the database holds open that the exchange does not know (-2013)
// cannot be backfilled: the sync reports it as drift for kraite.priority
// and publishes nothing for it.
func TestAnOrderTheExchangeDoesNotKnowIsReportedAsDrift(t *testing.T) {
	_, acct, cr, rest := serveSim(t)
	ctx := context.Background()
	d := dbtest.SQLite(t)
	if _, err := d.ExecContext(ctx, `INSERT INTO orders (exchange, account, order_id, symbol, side, cum_qty, status,
		event_time, transaction_time, status_rank) VALUES ('binance', ?, 424242, 'BTCUSDT', 'BUY', '0', 'NEW', 1, 1, 1)`, acct.ID); err != nil {
		t.Fatal(err)
	}
	_, prod := syncBroker(t)
	r := &Reconciler{Exchange: "binance", Prefix: "kraite.", REST: rest, DB: d, Producer: prod, Log: testkit.Logger(t)}
	rep, err := r.Sync(ctx, Account{ID: acct.ID, Key: cr}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.UnknownToBroker) != 1 || rep.UnknownToBroker[0] != "BTCUSDT 424242" || rep.Published != 0 {
		t.Fatalf("report %+v, want order 424242 unknown to the exchange and nothing published", rep)
	}
}

func TestTheWindowRecoversAnAlgoOrderOpenedAndClosedWhileFramesWereLost(t *testing.T) {
	sim, acct, cr, rest := serveSim(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	place := url.Values{"algoType": {"CONDITIONAL"}, "symbol": {"BTCUSDT"}, "side": {"SELL"},
		"type": {"STOP_MARKET"}, "quantity": {"0.002"}, "triggerPrice": {"50000.0"}, "clientAlgoId": {"lost-1"}}
	if err := rest.Signed(ctx, "POST", "/fapi/v1/algoOrder", cr, place, nil); err != nil {
		t.Fatal(err)
	}
	if err := rest.Signed(ctx, "DELETE", "/fapi/v1/algoOrder", cr, url.Values{"clientAlgoId": {"lost-1"}}, nil); err != nil {
		t.Fatal(err)
	}
	truth := sim.AlgoOrders(acct.ID)
	if len(truth) != 1 || truth[0].Status != "CANCELED" {
		t.Fatalf("ground truth %+v", truth)
	}

	b, prod := syncBroker(t)
	d := dbtest.SQLite(t)
	// The database knows the symbol (an earlier order), nothing of the algo order.
	if _, err := d.ExecContext(ctx, `INSERT INTO orders (exchange, account, order_id, symbol, side, cum_qty, status,
		event_time, transaction_time, status_rank) VALUES ('binance', ?, 1, 'BTCUSDT', 'BUY', '1', 'FILLED', 1, 1, 3)`, acct.ID); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Exchange: "binance", Prefix: "kraite.", REST: rest, DB: d, Producer: prod, Log: testkit.Logger(t)}
	rep, err := r.Sync(ctx, Account{ID: acct.ID, Key: cr}, since)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Published != 1 {
		t.Fatalf("published %d frames, want the algo order's final state (report %+v)", rep.Published, rep)
	}
	recs := testkit.NewReader(t, b.Addr(), topics.UserDataStream.Name("kraite.")).Poll(t)
	if len(recs) != 1 {
		t.Fatalf("%d records on the user-data stream", len(recs))
	}
	ev, err := binance.Decode(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	oe := ev.OrderEvent("binance", acct.ID, "backfill")
	if oe.AlgoID != truth[0].AlgoID || oe.Status != "CANCELED" {
		raw, _ := json.Marshal(oe)
		t.Fatalf("backfilled %s, want algo %d CANCELED", raw, truth[0].AlgoID)
	}
}

// A position opened and closed while every frame was lost, in a symbol the
// database never saw, leaves no open order and no position: only its
// commissions name the symbol. The window reads them (GET /fapi/v1/income)
// and backfills both orders.
func TestTheWindowFindsASymbolOnlyItsCommissionsName(t *testing.T) {
	sim, acct, cr, rest := serveSim(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	for _, side := range []string{"BUY", "SELL"} {
		q := url.Values{"symbol": {"SOLUSDT"}, "side": {side}, "type": {"MARKET"}, "quantity": {"1"}}
		if err := rest.Signed(ctx, "POST", "/fapi/v1/order", cr, q, nil); err != nil {
			t.Fatal(err)
		}
	}
	truth := sim.Orders(acct.ID)
	if len(truth) != 2 || truth[0].Status != "FILLED" || truth[1].Status != "FILLED" {
		t.Fatalf("ground truth %+v", truth)
	}
	b, prod := syncBroker(t)
	r := &Reconciler{Exchange: "binance", Prefix: "kraite.", REST: rest, DB: dbtest.SQLite(t), Producer: prod, Log: testkit.Logger(t)}
	rep, err := r.Sync(ctx, Account{ID: acct.ID, Key: cr}, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.IncomeSymbols) != 1 || rep.IncomeSymbols[0] != "SOLUSDT" || len(rep.Positions) != 0 {
		t.Fatalf("symbols named only by commissions %v, positions %v", rep.IncomeSymbols, rep.Positions)
	}
	if rep.Published != 2 {
		t.Fatalf("published %d frames, want both orders' final states (report %+v)", rep.Published, rep)
	}
	got := map[int64]string{}
	for _, rec := range testkit.NewReader(t, b.Addr(), topics.UserDataStream.Name("kraite.")).PollToEnd(t) {
		ev, err := binance.Decode(rec.Value)
		if err != nil {
			t.Fatal(err)
		}
		oe := ev.OrderEvent("binance", acct.ID, "backfill")
		got[oe.OrderID] = oe.Status
	}
	for _, o := range truth {
		if got[o.OrderID] != "FILLED" {
			t.Errorf("order %d: backfilled %q, want FILLED (all: %v)", o.OrderID, got[o.OrderID], got)
		}
	}
}

func TestValidSymbolRefusesGarbage(t *testing.T) {
	for _, s := range []string{"BTCUSDT", "1000PEPEUSDT", "BTCUSDT_250328", "ETHUSDC", "币安人生USDT"} {
		if !validSymbol(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "btcusdt", "BTC USDT", "BTC/USDT", "BTCUSDT&x=1", "BTCUSDT\x00", "äBCUSDT",
		strings.Repeat("A", 200)} {
		if validSymbol(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

// An income history that answers full pages forever (1,000 entries in one
// ms, a garbage symbol among them) is read a bounded number of pages, each
// starting past the last, and the window is reported truncated; the
// garbage symbol never becomes a history read.
func TestIncomePagesAreBoundedAndGarbageSymbolsDropped(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fapi/v1/income" {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		calls.Add(1)
		from, _ := strconv.ParseInt(r.URL.Query().Get("startTime"), 10, 64)
		page := make([]binanceapi.Income, 1000)
		for i := range page {
			page[i] = binanceapi.Income{Symbol: "AAAUSDT", IncomeType: "COMMISSION", Time: from}
		}
		page[7].Symbol = "bad sym&x=1"
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	r := &Reconciler{Exchange: "binance", REST: binanceapi.New(srv.URL), Log: testkit.Logger(t)}
	var rep Report
	got, err := r.tradedSymbols(context.Background(), Account{ID: "acct-0001"}, span{from: 1000, to: 1_000_000}, &rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0] != "AAAUSDT" {
		t.Fatalf("symbols %v", got)
	}
	if n := calls.Load(); n != maxIncomePages || !rep.NeedsAlert() {
		t.Fatalf("%d pages read, truncated %v", n, rep.Truncated)
	}
	all := strings.Join(rep.Truncated, "\n")
	for _, want := range []string{"over 1000 entries in one ms", "over 20000 entries", "name a symbol that is not one"} {
		if !strings.Contains(all, want) {
			t.Errorf("the report lacks %q:\n%s", want, all)
		}
	}
}

// A full page whose last entry lies outside the window (garbage, or a
// server ignoring endTime), or more entries than the limit allows, ends the
// read and is reported: the rest of the window is not silently skipped.
func TestAnIncomePageOutsideTheWindowIsReported(t *testing.T) {
	var mode atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fapi/v1/income" {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		n, at := 1000, int64(5_000_000) // past the window's end
		switch mode.Load() {
		case 1:
			at = -7 // before its start
		case 2:
			n = 5000 // more than a page holds
		}
		page := make([]map[string]any, n)
		for i := range page {
			page[i] = map[string]any{"symbol": "AAAUSDT", "time": at, "tranId": "not a number"} // an unused field changed type
		}
		_ = json.NewEncoder(w).Encode(page)
	}))
	defer srv.Close()
	r := &Reconciler{Exchange: "binance", REST: binanceapi.New(srv.URL), Log: testkit.Logger(t)}
	for m, want := range []string{"outside the window", "outside the window", "entries in a page of at most 1000"} {
		mode.Store(int64(m))
		var rep Report
		got, err := r.tradedSymbols(context.Background(), Account{ID: "acct-0001"}, span{from: 1000, to: 1_000_000}, &rep)
		if err != nil || len(rep.Truncated) != 1 || !strings.Contains(rep.Truncated[0], want) {
			t.Fatalf("mode %d: symbols %v, err %v, truncated %v (want %q)", m, got, err, rep.Truncated, want)
		}
	}
}

// A symbol the database (or the income) still names but the exchange no
// longer lists (-1121: a delisted or settled contract) is reported and
// skipped; the sync goes on and backfills the other symbols, instead of
// failing every sweep of the account on it.
func TestADelistedSymbolIsReportedAndTheSyncGoesOn(t *testing.T) {
	sim, acct, cr, rest := serveSim(t)
	ctx := context.Background()
	since := time.Now().Add(-time.Second)
	q := url.Values{"symbol": {"ETHUSDT"}, "side": {"BUY"}, "type": {"MARKET"}, "quantity": {"0.5"}}
	if err := rest.Signed(ctx, "POST", "/fapi/v1/order", cr, q, nil); err != nil {
		t.Fatal(err)
	}
	_, prod := syncBroker(t)
	d := dbtest.SQLite(t)
	if _, err := d.ExecContext(ctx, `INSERT INTO orders (exchange, account, order_id, symbol, side, cum_qty, status,
		event_time, transaction_time, status_rank) VALUES ('binance', ?, 1, 'GONEUSDT', 'BUY', '1', 'FILLED', 1, 1, 3)`, acct.ID); err != nil {
		t.Fatal(err)
	}
	r := &Reconciler{Exchange: "binance", Prefix: "kraite.", REST: rest, DB: d, Producer: prod, Log: testkit.Logger(t)}
	rep, err := r.Sync(ctx, Account{ID: acct.ID, Key: cr}, since)
	if err != nil {
		t.Fatalf("a delisted symbol failed the sync: %v", err)
	}
	all := strings.Join(rep.Truncated, "\n")
	if !strings.Contains(all, "allOrders GONEUSDT unreadable") || !rep.NeedsAlert() {
		t.Fatalf("report %+v", rep)
	}
	if truth := sim.Orders(acct.ID); len(truth) != 1 || rep.Published != 1 {
		t.Fatalf("published %d frames for the ETHUSDT order (truth %d orders)", rep.Published, len(truth))
	}
}

// An income read the exchange refuses on its merits (a key without the
// permission) cannot succeed on a retry: the sync goes on with the symbols
// it has and reports the window, so the alert says what was not looked
// for. An outage (5xx) fails the sync, which the worker retries.
func TestARefusedIncomeReadIsReportedAndAnOutageRetried(t *testing.T) {
	var status atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fapi/v1/income" {
			_, _ = w.Write([]byte(`{}`))
			return
		}
		w.WriteHeader(int(status.Load()))
		_, _ = w.Write([]byte(`{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action."}`))
	}))
	defer srv.Close()
	r := &Reconciler{Exchange: "binance", REST: binanceapi.New(srv.URL), Log: testkit.Logger(t)}
	status.Store(401)
	var rep Report
	got, err := r.tradedSymbols(context.Background(), Account{ID: "acct-0001"}, span{from: 1, to: 2}, &rep)
	if err != nil || len(got) != 0 || len(rep.Truncated) != 1 || !rep.NeedsAlert() {
		t.Fatalf("a refused read: symbols %v, err %v, truncated %v", got, err, rep.Truncated)
	}
	status.Store(503)
	rep = Report{}
	if _, err := r.tradedSymbols(context.Background(), Account{ID: "acct-0001"}, span{from: 1, to: 2}, &rep); err == nil || binanceapi.IsPermanent(err) {
		t.Fatalf("an outage: %v (want a retryable error)", err)
	}
}
