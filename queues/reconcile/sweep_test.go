package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

const day = 24 * time.Hour

// rig is one account on the simulator, reached through a proxy that holds
// the REST answers to Binance's history rules (a window of 7 days or more
// is refused with -1127) and records every history request; the backfill
// frames go through a real broker into the orders sink's store on MariaDB;
// the order-sync handler is the one the worker runs.
type rig struct {
	t       *testing.T
	sim     *simulator.Simulator
	acct    simulator.Account
	cr      binanceapi.Credentials
	rest    *binanceapi.Client
	offset  atomic.Int64 // the simulator's clock is wall time plus this (ms)
	frozen  atomic.Int64 // unless this is set: then it is this (ms)
	d       *db.DB
	prefix  string
	frames  *testkit.Reader
	prio    *testkit.Reader
	applied int
	rec     *Reconciler
	handle  worker.JobHandler

	mu      sync.Mutex
	reqs    []histReq
	failOn  string // a path answered 429
	refused int    // history requests refused for breaking Binance's rules
}

type histReq struct {
	path     string
	from, to int64
}

func newRig(t *testing.T, every time.Duration, tune func(*Reconciler)) *rig {
	t.Helper()
	r := &rig{t: t, prefix: "kraite."}
	var base string
	r.sim, r.acct, r.cr, base = serveSimAt(t, func() time.Time {
		if f := r.frozen.Load(); f != 0 {
			return time.UnixMilli(f)
		}
		return time.Now().Add(time.Duration(r.offset.Load()) * time.Millisecond)
	})
	r.rest = binanceapi.New(r.proxy(base))
	r.d = dbtest.MySQL(t)
	b := testkit.Broker(t, r.prefix)
	prod, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	r.frames = testkit.NewReader(t, b.Addr(), topics.UserDataStream.Name(r.prefix))
	r.prio = testkit.NewReader(t, b.Addr(), topics.Priority.Name(r.prefix))
	r.rec = &Reconciler{Exchange: "binance", Prefix: r.prefix, REST: r.rest, DB: r.d, Producer: prod, Log: testkit.Logger(t)}
	if tune != nil {
		tune(r.rec)
	}
	r.handle = OrderSyncHandler(Deps{Reconciler: r.rec, Every: every, GapLookback: time.Hour,
		Account: func(id string) (binanceapi.Credentials, error) {
			if id != r.acct.ID {
				return binanceapi.Credentials{}, fmt.Errorf("account %q is not configured", id)
			}
			return r.cr, nil
		}})
	return r
}

// proxy serves the simulator behind Binance's history rules.
func (r *rig) proxy(target string) string {
	u, err := url.Parse(target)
	if err != nil {
		r.t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, q *http.Request) {
		r.mu.Lock()
		fail := r.failOn != "" && q.URL.Path == r.failOn
		r.mu.Unlock()
		if fail {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			fmt.Fprint(w, `{"code":-1003,"msg":"Too many requests."}`)
			return
		}
		if q.URL.Path == "/fapi/v1/allOrders" || q.URL.Path == "/fapi/v1/allAlgoOrders" {
			v := q.URL.Query()
			from, e1 := strconv.ParseInt(v.Get("startTime"), 10, 64)
			to, e2 := strconv.ParseInt(v.Get("endTime"), 10, 64)
			limit, e3 := strconv.Atoi(v.Get("limit"))
			if e1 != nil || e2 != nil || e3 != nil || to < from || to-from >= (7*day).Milliseconds() || limit < 1 || limit > 1000 {
				r.mu.Lock()
				r.refused++
				r.mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"code":-1127,"msg":"More than 7 days between startTime and endTime."}`)
				return
			}
			r.mu.Lock()
			r.reqs = append(r.reqs, histReq{q.URL.Path, from, to})
			r.mu.Unlock()
		}
		rp.ServeHTTP(w, q)
	}))
	r.t.Cleanup(srv.Close)
	return srv.URL
}

// history returns the history requests recorded since the last call.
func (r *rig) history() []histReq {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.reqs
	r.reqs = nil
	if r.refused > 0 {
		r.t.Fatalf("%d history requests broke Binance's window rules", r.refused)
	}
	return out
}

func (r *rig) fail(path string) {
	r.mu.Lock()
	r.failOn = path
	r.mu.Unlock()
}

// sweep runs the handler on a periodic order-sync job scheduled at sched.
func (r *rig) sweep(sched time.Time) error {
	return r.handle(context.Background(), topics.Job{ID: fmt.Sprintf("%s@%d/%s", JobOrderSync, sched.UnixMilli(), r.acct.ID),
		Type: JobOrderSync, Account: r.acct.ID, ScheduledMs: sched.UnixMilli()})
}

func (r *rig) mustSweep(sched time.Time) {
	r.t.Helper()
	if err := r.sweep(sched); err != nil {
		r.t.Fatalf("sweep: %v", err)
	}
}

func (r *rig) syncPoint() (int64, bool) {
	r.t.Helper()
	ms, ok, err := r.rec.LoadSyncPoint(context.Background(), r.acct.ID)
	if err != nil {
		r.t.Fatal(err)
	}
	return ms, ok
}

// storeSyncPoint writes any value, garbage included.
func (r *rig) storeSyncPoint(ms int64) {
	r.t.Helper()
	q := r.d.UpsertSQL("order_sync_state", []string{"exchange", "account", "synced_until_ms", "updated_at"}, 1,
		[]string{"exchange", "account"}, []string{"synced_until_ms", "updated_at"})
	if _, err := r.d.ExecContext(context.Background(), q, "binance", r.acct.ID, ms, time.Now().UTC()); err != nil {
		r.t.Fatal(err)
	}
}

// at runs fn with the simulator's clock moved by ago into the past.
func (r *rig) at(ago time.Duration, fn func()) {
	r.offset.Store(-ago.Milliseconds())
	defer r.offset.Store(0)
	fn()
}

func (r *rig) call(method, path string, p url.Values) {
	r.t.Helper()
	if err := r.rest.Signed(context.Background(), method, path, r.cr, p, nil); err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
}

// The three kinds of history a lost frame hides: a market order FILLED, a
// limit order placed and CANCELED, an algo order placed and CANCELED.
func (r *rig) marketBuy(cid string) {
	r.call("POST", "/fapi/v1/order", url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"MARKET"},
		"quantity": {"0.002"}, "newClientOrderId": {cid}})
}

func (r *rig) limitCanceled(cid string) {
	r.call("POST", "/fapi/v1/order", url.Values{"symbol": {"BTCUSDT"}, "side": {"BUY"}, "type": {"LIMIT"},
		"timeInForce": {"GTC"}, "price": {"10000.0"}, "quantity": {"0.02"}, "newClientOrderId": {cid}})
	r.call("DELETE", "/fapi/v1/order", url.Values{"symbol": {"BTCUSDT"}, "origClientOrderId": {cid}})
}

func (r *rig) algoCanceled(cid string) {
	r.call("POST", "/fapi/v1/algoOrder", url.Values{"algoType": {"CONDITIONAL"}, "symbol": {"BTCUSDT"}, "side": {"SELL"},
		"type": {"STOP_MARKET"}, "quantity": {"0.002"}, "triggerPrice": {"50000.0"}, "clientAlgoId": {cid}})
	r.call("DELETE", "/fapi/v1/algoOrder", url.Values{"clientAlgoId": {cid}})
}

// apply writes the backfill frames published since the last call through
// the orders sink's store (its forward-only guard included).
func (r *rig) apply() {
	r.t.Helper()
	recs := r.frames.PollToEnd(r.t)
	var evs []*topics.OrderEvent
	for _, rec := range recs[r.applied:] {
		if topics.Header(rec, topics.HeaderKind) != topics.KindBackfill {
			r.t.Fatalf("a record of kind %q on the user-data stream", topics.Header(rec, topics.HeaderKind))
		}
		ev, err := binance.Decode(rec.Value)
		if err != nil {
			r.t.Fatalf("a backfill frame does not decode: %v", err)
		}
		oe := ev.OrderEvent("binance", r.acct.ID, topics.SourceBackfill)
		evs = append(evs, &oe)
	}
	r.applied = len(recs)
	if len(evs) == 0 {
		return
	}
	if _, err := orders.Write(context.Background(), r.d, evs); err != nil {
		r.t.Fatal(err)
	}
}

// drift returns the order-sync drift alerts raised so far.
func (r *rig) drift() []Report {
	r.t.Helper()
	var out []Report
	for _, rec := range r.prio.Poll(r.t) {
		var j topics.Job
		if err := json.Unmarshal(rec.Value, &j); err != nil {
			r.t.Fatal(err)
		}
		if j.Type != JobDrift {
			continue
		}
		var rep Report
		if err := json.Unmarshal(j.Payload, &rep); err != nil {
			r.t.Fatal(err)
		}
		out = append(out, rep)
	}
	return out
}

// diff compares the database with the simulator's ground truth: every
// order's status and executed quantity, every algo order's status; except
// lists ids expected to be missing from the database.
func (r *rig) diff(except ...int64) []string {
	r.t.Helper()
	skip := map[int64]bool{}
	for _, id := range except {
		skip[id] = true
	}
	var out []string
	got := map[int64][]string{}
	for _, row := range dbtest.Dump(r.t, r.d, "SELECT order_id, status, cum_qty FROM orders WHERE account = ?", r.acct.ID) {
		id, _ := strconv.ParseInt(row[0], 10, 64)
		got[id] = row[1:]
	}
	for _, o := range r.sim.Orders(r.acct.ID) {
		g, ok := got[o.OrderID]
		delete(got, o.OrderID)
		switch {
		case skip[o.OrderID] && ok:
			out = append(out, fmt.Sprintf("order %d is in the database, expected missing", o.OrderID))
		case skip[o.OrderID]:
		case !ok:
			out = append(out, fmt.Sprintf("order %d (%s %s) missing", o.OrderID, o.ClientOrderID, o.Status))
		case g[0] != o.Status || !binance.SameDecimal(g[1], o.ExecutedQty):
			out = append(out, fmt.Sprintf("order %d: database %v, exchange %s %s", o.OrderID, g, o.Status, o.ExecutedQty))
		}
	}
	for id := range got {
		out = append(out, fmt.Sprintf("order %d in the database only", id))
	}
	gotAlgo := map[int64]string{}
	for _, row := range dbtest.Dump(r.t, r.d, "SELECT algo_id, status FROM algo_orders WHERE account = ?", r.acct.ID) {
		id, _ := strconv.ParseInt(row[0], 10, 64)
		gotAlgo[id] = row[1]
	}
	for _, g := range r.sim.AlgoOrders(r.acct.ID) {
		st, ok := gotAlgo[g.AlgoID]
		delete(gotAlgo, g.AlgoID)
		switch {
		case skip[g.AlgoID] && ok:
			out = append(out, fmt.Sprintf("algo order %d is in the database, expected missing", g.AlgoID))
		case skip[g.AlgoID]:
		case !ok:
			out = append(out, fmt.Sprintf("algo order %d (%s %s) missing", g.AlgoID, g.ClientAlgoID, g.Status))
		case st != g.Status:
			out = append(out, fmt.Sprintf("algo order %d: database %s, exchange %s", g.AlgoID, st, g.Status))
		}
	}
	for id := range gotAlgo {
		out = append(out, fmt.Sprintf("algo order %d in the database only", id))
	}
	return out
}

func (r *rig) mustEqualTruth(except ...int64) {
	r.t.Helper()
	r.apply()
	if d := r.diff(except...); len(d) > 0 {
		r.t.Fatalf("the database differs from the exchange:\n%v", d)
	}
}

// lastUpdate is the latest update time of any order or algo order.
func (r *rig) lastUpdate() int64 {
	var last int64
	for _, o := range r.sim.Orders(r.acct.ID) {
		last = max(last, o.UpdateTime)
	}
	for _, g := range r.sim.AlgoOrders(r.acct.ID) {
		last = max(last, g.UpdateTime)
	}
	return last
}

// The sweep test: frames lost at T, then a REST 429 storm longer
// than several sweep periods, then REST recovers. The database ends equal
// to the exchange's ground truth, and the sync point moved only on
// success. Before order_sync_state, the recovering sweep read from its
// scheduled time minus two periods, after every lost change: the FILLED
// order never reached the database.
func TestLostFramesThenA429StormLongerThanSeveralSweepsEndEqualToTheExchange(t *testing.T) {
	const every = 300 * time.Millisecond
	r := newRig(t, every, nil)

	r.mustSweep(time.Now()) // nothing to find yet; the first sync point
	p0, ok := r.syncPoint()
	if !ok {
		t.Fatal("a successful sweep stored no sync point")
	}
	r.history()

	// Frames lost: every change of the account is kept from its sockets.
	r.sim.LoseNext(r.acct.ID, 1000)
	r.marketBuy("lost-buy")
	r.limitCanceled("lost-limit")
	r.algoCanceled("lost-algo")
	lostUntil := r.lastUpdate()

	// The storm: every REST call answers 429, for eight sweep periods
	// (each sweep fails on its first call).
	const stormSweeps = 8
	r.sim.RateLimit(stormSweeps)
	for i := range stormSweeps {
		time.Sleep(every)
		err := r.sweep(time.Now())
		if !binanceapi.IsRateLimited(err) {
			t.Fatalf("storm sweep %d: %v, want a 429", i, err)
		}
		if p, _ := r.syncPoint(); p != p0 {
			t.Fatalf("storm sweep %d moved the sync point from %d to %d", i, p0, p)
		}
	}
	// A sweep failing half-way (allAlgoOrders still refused) publishes
	// nothing it read and keeps the sync point too.
	r.fail("/fapi/v1/allAlgoOrders")
	if err := r.sweep(time.Now()); !binanceapi.IsRateLimited(err) {
		t.Fatalf("half-way sweep: %v, want a 429", err)
	}
	if p, _ := r.syncPoint(); p != p0 {
		t.Fatalf("a half-failed sweep moved the sync point from %d to %d", p0, p)
	}
	r.fail("")
	r.history()

	sched := time.Now()
	if old := sched.Add(-2 * every).UnixMilli(); lostUntil >= old {
		t.Fatalf("the lost changes (until %d) are not older than the old two-period look-back (%d): the test proves nothing", lostUntil, old)
	}
	r.mustSweep(sched)
	r.mustEqualTruth()
	reqs := r.history()
	if len(reqs) == 0 || reqs[0].from != p0-DefaultOverlap.Milliseconds() {
		t.Fatalf("the recovering sweep read %+v, want from the last successful sweep's end %d minus the overlap", reqs, p0)
	}
	p1, _ := r.syncPoint()
	if p1 <= p0 || p1 < lostUntil {
		t.Fatalf("sync point %d after recovery, want past %d and %d", p1, p0, lostUntil)
	}
	if n := len(r.sim.Orders(r.acct.ID)) + len(r.sim.AlgoOrders(r.acct.ID)); n != 3 {
		t.Fatalf("ground truth holds %d orders, want 3", n)
	}

	// The next sweep starts where this one ended and finds nothing new.
	published := r.applied
	r.mustSweep(time.Now())
	if reqs := r.history(); len(reqs) == 0 || reqs[0].from != p1-DefaultOverlap.Milliseconds() {
		t.Fatalf("the next sweep read %+v, want from %d", reqs, p1-DefaultOverlap.Milliseconds())
	}
	if r.mustEqualTruth(); r.applied != published {
		t.Fatalf("an idle sweep published %d frames", r.applied-published)
	}
	if d := r.drift(); len(d) != 0 {
		t.Fatalf("drift alerts %+v, want none", d)
	}
}

// A gap of ten days is walked in windows Binance accepts (under 7 days,
// contiguous, oldest first, both history endpoints), and everything lost in
// it is recovered.
func TestALongGapIsWalkedInWindowsTheExchangeAccepts(t *testing.T) {
	r := newRig(t, time.Minute, nil)
	r.at(10*day, func() { r.marketBuy("ten-days-ago"); r.algoCanceled("algo-ten-days-ago") })
	r.at(2*day, func() { r.limitCanceled("two-days-ago") })
	start := time.Now().Add(-10*day - time.Hour).UnixMilli()
	r.storeSyncPoint(start)

	r.mustSweep(time.Now())
	r.mustEqualTruth()
	reqs := r.history()
	for _, path := range []string{"/fapi/v1/allOrders", "/fapi/v1/allAlgoOrders"} {
		var ws []histReq
		for _, q := range reqs {
			if q.path == path {
				ws = append(ws, q)
			}
		}
		if len(ws) < 2 {
			t.Fatalf("%s read in %d windows, want at least 2 over ten days", path, len(ws))
		}
		if ws[0].from != start-DefaultOverlap.Milliseconds() {
			t.Fatalf("%s first window from %d, want %d", path, ws[0].from, start-DefaultOverlap.Milliseconds())
		}
		for i := 1; i < len(ws); i++ {
			if ws[i].from != ws[i-1].to+1 {
				t.Fatalf("%s windows %+v and %+v are not contiguous", path, ws[i-1], ws[i])
			}
		}
		if p, _ := r.syncPoint(); ws[len(ws)-1].to != p {
			t.Fatalf("%s last window ends at %d, the sync point is %d", path, ws[len(ws)-1].to, p)
		}
	}
	if d := r.drift(); len(d) != 0 {
		t.Fatalf("drift alerts %+v, want none within the exchange's history", d)
	}
}

// A gap longer than the exchange keeps is said loudly: a drift alert names
// the lost part, the sweep reads what is still there (and recovers it), and
// never asks beyond the history.
func TestAGapBeyondTheExchangesHistoryRaisesADriftAlert(t *testing.T) {
	r := newRig(t, time.Minute, nil)
	var gone int64
	r.at(95*day, func() { r.marketBuy("ninety-five-days-ago") })
	gone = r.sim.Orders(r.acct.ID)[0].OrderID
	r.at(30*day, func() { r.marketBuy("thirty-days-ago") })
	r.storeSyncPoint(time.Now().Add(-100 * day).UnixMilli())

	before := time.Now()
	r.mustSweep(time.Now())
	r.mustEqualTruth(gone) // the order older than 90 days cannot be read
	for _, q := range r.history() {
		if q.from < before.Add(-DefaultHistory).UnixMilli()-1000 {
			t.Fatalf("asked %+v, beyond the exchange's history", q)
		}
	}
	var alerts []Report
	testkit.Eventually(t, 10*time.Second, "the drift alert", func() bool { alerts = r.drift(); return len(alerts) > 0 })
	if len(alerts) != 1 || alerts[0].HistoryLost == "" {
		t.Fatalf("drift alerts %+v, want one naming the lost history", alerts)
	}
	if p, _ := r.syncPoint(); p < before.UnixMilli()-1000 {
		t.Fatalf("sync point %d, want it moved to the sweep's time (%d)", p, before.UnixMilli())
	}
}

// Garbage in order_sync_state never makes a sweep skip: a sync point in the
// future, absurdly far, before futures existed or negative is ignored (and
// logged); the sweep reads the fallback look-back, recovers what was lost
// there and overwrites the garbage.
func TestAGarbageSyncPointFallsBackToTheLookBack(t *testing.T) {
	const every = time.Minute
	r := newRig(t, every, nil)
	for i, bad := range []int64{time.Now().Add(day).UnixMilli(), math.MaxInt64, 1, 0, -1, math.MinInt64} {
		r.at(time.Minute, func() { r.marketBuy(fmt.Sprintf("lost-%d", i)) })
		r.storeSyncPoint(bad)
		r.history()
		sched := time.Now()
		r.mustSweep(sched)
		reqs := r.history()
		if len(reqs) == 0 || reqs[0].from != sched.Add(-2*every).UnixMilli() {
			t.Fatalf("with sync point %d the sweep read %+v, want from the look-back %d", bad, reqs, sched.Add(-2*every).UnixMilli())
		}
		r.mustEqualTruth()
		if p, _ := r.syncPoint(); p < sched.UnixMilli()-1000 || p > time.Now().UnixMilli()+1000 {
			t.Fatalf("sync point %d kept after a sweep at %d, want it overwritten", p, sched.UnixMilli())
		}
	}
	for _, c := range []struct {
		stored, readAt int64
		bad            bool
	}{
		{1_700_000_000_000, 1_700_000_000_000, false},
		{1_700_000_000_000 + time.Minute.Milliseconds(), 1_700_000_000_000, false}, // within the clock tolerance
		{1_700_000_000_000 + time.Hour.Milliseconds(), 1_700_000_000_000, true},
		{firstFuturesMs - 1, 1_700_000_000_000, true},
		{firstFuturesMs, 1_700_000_000_000, false},
	} {
		if got := badSyncPoint(c.stored, c.readAt) != ""; got != c.bad {
			t.Errorf("badSyncPoint(%d, %d) = %v, want %v", c.stored, c.readAt, got, c.bad)
		}
	}
}

// A window whose answer fills a page is read again in halves until every
// item fits; a page still full at a second's width is reported and raises
// a drift alert instead of being passed over in silence.
func TestAFullHistoryPageIsSplitAndATruncatedOneIsReported(t *testing.T) {
	r := newRig(t, time.Minute, func(rec *Reconciler) { rec.PageLimit = 2 })
	for i := range 5 {
		r.at(time.Duration(10-i)*time.Minute, func() { r.marketBuy(fmt.Sprintf("spread-%d", i)) })
	}
	r.storeSyncPoint(time.Now().Add(-time.Hour).UnixMilli())
	r.mustSweep(time.Now())
	r.mustEqualTruth()
	if d := r.drift(); len(d) != 0 {
		t.Fatalf("drift alerts %+v, want none", d)
	}

	// Three orders in the same millisecond (a frozen clock) cannot be
	// split below a second: the sweep says so instead of passing over them.
	r.frozen.Store(time.Now().UnixMilli())
	for i := range 3 {
		r.limitCanceled(fmt.Sprintf("same-ms-%d", i))
	}
	r.frozen.Store(0)
	r.mustSweep(time.Now())
	var alerts []Report
	testkit.Eventually(t, 10*time.Second, "the drift alert", func() bool { alerts = r.drift(); return len(alerts) > 0 })
	if len(alerts) != 1 || len(alerts[0].Truncated) == 0 {
		t.Fatalf("drift alerts %+v, want one naming the truncated window", alerts)
	}
}

// A gap backfill reads its own window and never moves the sweep's sync
// point: the window between the sync point and the gap is still unread.
func TestAGapBackfillLeavesTheSyncPointAlone(t *testing.T) {
	r := newRig(t, time.Minute, nil)
	p0 := time.Now().Add(-time.Hour).UnixMilli()
	r.storeSyncPoint(p0)
	r.marketBuy("in-the-gap")
	payload, _ := json.Marshal(GapPayload{FromMs: time.Now().Add(-time.Minute).UnixMilli(), ToMs: time.Now().UnixMilli(), Reason: "socket-drop"})
	if err := r.handle(context.Background(), topics.Job{ID: "gap@0:1", Type: JobOrderSync, Account: r.acct.ID, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	r.mustEqualTruth()
	if p, _ := r.syncPoint(); p != p0 {
		t.Fatalf("a gap backfill moved the sync point from %d to %d", p0, p)
	}
}

func TestWindowsCoverTheRangeContiguouslyWithinTheLimit(t *testing.T) {
	cases := []struct {
		from, to, max int64
		want          []span
	}{
		{10, 5, 100, nil},
		{5, 5, 100, []span{{5, 5}}},
		{0, 100, 100, []span{{0, 100}}},
		{0, 101, 100, []span{{0, 100}, {101, 101}}},
		{0, 250, 100, []span{{0, 100}, {101, 201}, {202, 250}}},
		{0, 10, 0, nil},
	}
	for _, c := range cases {
		got := windows(c.from, c.to, c.max)
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("windows(%d, %d, %d) = %v, want %v", c.from, c.to, c.max, got, c.want)
		}
	}
	// Ninety days in the default window: every one under 7 days, contiguous,
	// covering the range exactly.
	to := time.Now().UnixMilli()
	from := to - DefaultHistory.Milliseconds()
	ws := windows(from, to, DefaultMaxWindow.Milliseconds())
	if ws[0].from != from || ws[len(ws)-1].to != to {
		t.Fatalf("windows cover %d..%d, want %d..%d", ws[0].from, ws[len(ws)-1].to, from, to)
	}
	for i, w := range ws {
		if w.to-w.from >= (7 * day).Milliseconds() {
			t.Fatalf("window %v spans 7 days or more", w)
		}
		if i > 0 && w.from != ws[i-1].to+1 {
			t.Fatalf("windows %v and %v are not contiguous", ws[i-1], w)
		}
	}
	// Extreme values do not loop forever or overflow.
	if ws := windows(math.MinInt64, math.MaxInt64, math.MaxInt64); len(ws) != 2 || ws[0].to != -1 {
		t.Fatalf("windows over every int64: %v", ws)
	}
	if ws := windows(math.MaxInt64-10, math.MaxInt64, 4); len(ws) != 3 || ws[2].to != math.MaxInt64 {
		t.Fatalf("windows near MaxInt64: %v", ws)
	}
}

// A gap job whose payload is garbage (a start in the future, absurd
// values) never fails the worker: it is read as a sweep or its window is
// kept within the exchange's clock and history.
func TestAGapJobWithAStartInTheFutureReadsOnlyTheOverlap(t *testing.T) {
	r := newRig(t, time.Minute, nil)
	r.marketBuy("recent")
	payload, _ := json.Marshal(GapPayload{FromMs: time.Now().Add(day).UnixMilli(), ToMs: time.Now().Add(2 * day).UnixMilli()})
	before := time.Now()
	if err := r.handle(context.Background(), topics.Job{ID: "gap@0:2", Type: JobOrderSync, Account: r.acct.ID, Payload: payload}); err != nil {
		t.Fatal(err)
	}
	r.mustEqualTruth()
	for _, q := range r.history() {
		if q.from < before.Add(-DefaultOverlap).UnixMilli()-1000 || q.from > time.Now().UnixMilli() {
			t.Fatalf("a gap starting in the future read %+v", q)
		}
	}
}

func FuzzGapPayload(f *testing.F) {
	for _, s := range []string{`{"from":1764650000000,"to":1764650060000,"reason":"socket-drop"}`, `{"to":1764650060000}`,
		`{"from":-1,"to":-1}`, `{"from":9223372036854775807}`, `null`, `[]`, `{"from":"x"}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		j := topics.Job{Type: JobOrderSync, Account: "a", Payload: payload}
		p, ok := gapPayload(j)
		since := Since(j, time.Hour)
		if !ok && !since.IsZero() {
			t.Fatalf("a sweep payload %q gave a gap start %v", payload, since)
		}
		if ok && p.FromMs > 0 && since.UnixMilli() != p.FromMs {
			t.Fatalf("gap %+v starts at %d", p, since.UnixMilli())
		}
	})
}

func TestDepsNameEveryMissingPart(t *testing.T) {
	err := Deps{}.Validate()
	for _, part := range []string{"REST", "DB", "Producer", "Account", "Every"} {
		if err == nil || !strings.Contains(err.Error(), part) {
			t.Errorf("Validate() = %v, want it to name %s", err, part)
		}
	}
	defer func() {
		if recover() == nil {
			t.Fatal("OrderSyncHandler accepted deps that do not validate")
		}
	}()
	OrderSyncHandler(Deps{})
}
