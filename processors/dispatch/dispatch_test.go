package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

// frame loads one real frame from ../shared/binance-frames.
func frame(t testing.TB, name string) []byte {
	t.Helper()
	return testkit.SharedFile(t, filepath.Join("binance-frames", name))
}

// allFrames returns every real frame by file name.
func allFrames(t testing.TB) map[string][]byte {
	t.Helper()
	return testkit.ReadSharedFiles(t, "binance-frames/*.json")
}

type graphTest struct {
	p       *Runner
	tt      *tester.Tester
	orders  *tester.QueueTracker
	quar    *tester.QueueTracker
	metrics *Metrics

	mu       sync.Mutex
	controlQ []*topics.QuarantineRecord // quarantined allowlist records
}

func newGraphTest(t *testing.T, mods ...func(*Config)) *graphTest {
	t.Helper()
	tt := tester.New(t)
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	g := &graphTest{tt: tt, metrics: m}
	cfg := Config{Prefix: prefix, Metrics: m, ViewOptions: []goka.ViewOption{goka.WithViewTester(tt)},
		ControlQuarantined: func(_ string, q *topics.QuarantineRecord) {
			g.mu.Lock()
			defer g.mu.Unlock()
			g.controlQ = append(g.controlQ, q)
		}}
	for _, mod := range mods {
		mod(&cfg)
	}
	p, err := New(cfg, goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	runProcessor(t, p)
	g.p, g.orders, g.quar = p, tt.NewQueueTracker(string(OrdersTopic(prefix))), tt.NewQueueTracker(string(QuarantineTopic(prefix)))
	return g
}

// setAllowlistRaw writes one raw allowlist record and waits until the
// View's Guard handled it.
func (g *graphTest) setAllowlistRaw(t *testing.T, raw []byte) {
	t.Helper()
	guard := g.p.Guards()[0]
	seen := guard.Seen()
	g.tt.Consume(string(AllowlistTable(prefix)), "binance", raw)
	testkit.Eventually(t, 20*time.Second, "the allowlist view to handle the record", func() bool { return guard.Seen() > seen })
}

func (g *graphTest) controlQuarantined() []*topics.QuarantineRecord {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.controlQ)
}

// runProcessor runs p until the test ends and waits for Run to return.
func runProcessor(t *testing.T, p *Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor run: %v", err)
		}
	})
	if err := p.WaitForReady(t.Context()); err != nil {
		t.Fatalf("waiting for the processor: %v", err)
	}
}

func (g *graphTest) send(account, kind string, value []byte) {
	g.tt.Consume(string(InputTopic(prefix)), account, value, tester.WithHeaders(goka.Headers{
		topics.HeaderExchange: []byte("binance"), topics.HeaderKind: []byte(kind),
	}))
}

func (g *graphTest) nextOrder(t *testing.T) (*topics.OrderEvent, bool) {
	t.Helper()
	_, v, ok := g.orders.Next()
	if !ok {
		return nil, false
	}
	return v.(*topics.OrderEvent), true
}

// setAllowlist writes a list and waits until the processor's lookup view
// applied it (the tester hands table records to views asynchronously).
func (g *graphTest) setAllowlist(t *testing.T, types ...string) {
	t.Helper()
	b, _ := json.Marshal(topics.AllowlistValue{Exchange: "binance", Types: append([]string{}, types...)})
	table := AllowlistTable(prefix)
	g.tt.Consume(string(table), "binance", b)
	testkit.Eventually(t, 20*time.Second, "the view to apply the allowlist", func() bool {
		v, _ := g.tt.TableValue(table, "binance").([]byte)
		return string(v) == string(b)
	})
}

func TestDispatchDefaultAllowlistPassesFillsAndHoldsBackNew(t *testing.T) {
	g := newGraphTest(t)
	g.send("acct-1", topics.KindFrame, frame(t, "moxt-ORDER_TRADE_UPDATE-1.json"))     // NEW: off by default
	g.send("acct-1", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")) // TRADE
	oe, ok := g.nextOrder(t)
	if !ok {
		t.Fatal("no order dispatched")
	}
	if oe.ExecutionType != "TRADE" || oe.Account != "acct-1" || oe.Source != "stream" ||
		oe.SourceTopic != "kraite.user-data-stream" || oe.SourceOffset != 1 {
		t.Fatalf("unexpected order event %+v", oe)
	}
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("NEW was dispatched")
	}
	if got := g.metrics.Count("binance", "NEW", Filtered); got != 1 {
		t.Fatalf("filtered NEW count %v, want 1", got)
	}
}

func TestDispatchAllowlistFlipTakesEffectOnTheNextRecord(t *testing.T) {
	g := newGraphTest(t)
	newFrame := frame(t, "moxt-ORDER_TRADE_UPDATE-1.json")
	g.send("a", topics.KindFrame, newFrame)
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("NEW dispatched before the flip")
	}
	g.setAllowlist(t, "NEW")
	g.send("a", topics.KindFrame, newFrame)
	if oe, ok := g.nextOrder(t); !ok || oe.ExecutionType != "NEW" {
		t.Fatalf("NEW not dispatched after the flip: %+v", oe)
	}
	g.send("a", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"))
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("TRADE dispatched although the new list only allows NEW")
	}
}

func TestDispatchShadowModeDispatchesNothingAndCountsEverything(t *testing.T) {
	g := newGraphTest(t)
	g.setAllowlist(t)
	frames := allFrames(t)
	for _, f := range frames {
		g.send("a", topics.KindFrame, f)
	}
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("shadow mode dispatched an event")
	}
	if _, _, ok := g.quar.Next(); ok {
		t.Fatal("a real frame was quarantined")
	}
	types := map[string]bool{}
	for _, f := range frames {
		ev, _ := binance.Decode(f)
		types[ev.ExecutionType()] = true
	}
	var shadowed float64
	for exec := range types {
		shadowed += g.metrics.Count("binance", exec, Shadowed)
	}
	if int(shadowed) != len(frames) {
		t.Fatalf("shadowed %v of %d frames", shadowed, len(frames))
	}
}

func TestDispatchQuarantinesUndecodableRecordsAndKeepsRunning(t *testing.T) {
	g := newGraphTest(t)
	g.send("a", topics.KindFrame, []byte(`{"e":"ORDER_TRADE_UPDATE","E":1,"o":"garbage"}`))
	g.send("a", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"))
	_, v, ok := g.quar.Next()
	if !ok {
		t.Fatal("nothing quarantined")
	}
	q := v.(*topics.QuarantineRecord)
	if q.SourceOffset != 0 || q.Error == "" || q.Key != "a" || q.Headers[topics.HeaderKind] != "frame" {
		t.Fatalf("unexpected quarantine record %+v", q)
	}
	if _, ok := g.nextOrder(t); !ok {
		t.Fatal("the processor stopped dispatching after a bad record")
	}
}

func TestDispatchGapMarkersAreCountedNotDispatched(t *testing.T) {
	g := newGraphTest(t)
	g.send("a", topics.KindGap, []byte(`{"kind":"gap","exchange":"binance","account":"a","from":1,"to":2}`))
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("a gap marker was dispatched")
	}
	if _, _, ok := g.quar.Next(); ok {
		t.Fatal("a gap marker was quarantined")
	}
	if got := g.metrics.Count("binance", "gap", Gap); got != 1 {
		t.Fatalf("gap count %v", got)
	}
}

func TestDispatchBackfillFramesCarryTheirSource(t *testing.T) {
	g := newGraphTest(t)
	g.send("a", topics.KindBackfill, frame(t, "nautilus-ALGO_UPDATE-5.json"))
	oe, ok := g.nextOrder(t)
	if !ok || oe.Source != "backfill" || oe.ExecutionType != binance.AlgoFilled {
		t.Fatalf("backfill frame: %+v", oe)
	}
}

func TestDecideTable(t *testing.T) {
	cases := []struct {
		name  string
		allow []string
		exec  string
		want  Outcome
	}{
		{"an empty list is shadow mode", nil, "TRADE", Shadowed},
		{"a listed type is dispatched", DefaultBinanceAllowlist(), "TRADE", Dispatched},
		{"an unlisted type is filtered", DefaultBinanceAllowlist(), "NEW", Filtered},
		{"calculated stays off by default", DefaultBinanceAllowlist(), "CALCULATED", Filtered},
		{"listenKeyExpired matches case-insensitively", []string{"LISTENKEYEXPIRED"}, "listenKeyExpired", Dispatched},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Decide(c.allow, c.exec); got != c.want {
				t.Fatalf("Decide = %s, want %s", got, c.want)
			}
		})
	}
}

func TestNewRefusesAConfigWithoutBrokersOrViewOptions(t *testing.T) {
	_, err := New(Config{Prefix: prefix})
	if err == nil || !strings.Contains(err.Error(), "ViewOptions") {
		t.Fatalf("New without brokers or view options: %v", err)
	}
}

// ACCOUNT_UPDATE is the exchange's position truth: it reaches the positions
// topic whatever the allowlist says, shadow mode included.
func TestDispatchRoutesAccountUpdatePositionsEvenInShadowMode(t *testing.T) {
	g := newGraphTest(t)
	g.setAllowlist(t) // shadow mode
	pos := g.tt.NewQueueTracker(string(PositionsTopic(prefix)))
	g.send("acct-9", topics.KindFrame, frame(t, "binance-docs-ACCOUNT_UPDATE-1.json"))
	_, v, ok := pos.Next()
	if !ok {
		t.Fatal("no position report on the positions topic")
	}
	pe := v.(*topics.PositionEvent)
	if pe.Kind != topics.PositionAccountUpdate || pe.Account != "acct-9" || pe.Exchange != "binance" || pe.AtMs != 1564745798939 {
		t.Fatalf("unexpected position event %+v", pe)
	}
	want := []topics.ExchangePosition{
		{Symbol: "BTCUSDT", PositionSide: "BOTH", Amount: "0", EntryPrice: "0.00000", EventMs: 1564745798939},
		{Symbol: "BTCUSDT", PositionSide: "LONG", Amount: "20", EntryPrice: "6563.66500", EventMs: 1564745798939},
		{Symbol: "BTCUSDT", PositionSide: "SHORT", Amount: "-10", EntryPrice: "6563.86000", EventMs: 1564745798939},
	}
	if len(pe.Positions) != len(want) {
		t.Fatalf("positions %+v, want %+v", pe.Positions, want)
	}
	for i := range want {
		if pe.Positions[i] != want[i] {
			t.Fatalf("position %d: %+v, want %+v", i, pe.Positions[i], want[i])
		}
	}
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("shadow mode dispatched an order event")
	}
	// An order update does not produce a position report.
	g.send("acct-9", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"))
	if _, _, ok := pos.Next(); ok {
		t.Fatal("an order update produced a position report")
	}
}

var garbageAllowlists = [][]byte{
	[]byte("{not json"),
	[]byte(`{"exchange":"binance"}`),              // no types: not shadow mode, garbage
	[]byte(`{"exchange":"binance","types":null}`), // same
	[]byte(`{"exchange":"binance","types":["TRADE","FILLED_EVERYTHING"]}`),
	[]byte(`{"exchange":"bitmex","types":["TRADE"]}`),
	[]byte(`{"exchange":"binance","types":["TRADE"],"updated_at":253402300799000}`),
	[]byte(`{"exchange":"binance","types":[` + strings.Repeat(`"TRADE",`, 100) + `"TRADE"]}`),
	[]byte(`"TRADE"`),
	nil, // a tombstone
}

// Issue 10 item 7: after the operator narrowed the list to NEW, no garbage
// allowlist record brings TRADE back (the built-in default allows it).
func TestDispatchGarbageAllowlistKeepsTheLastGoodList(t *testing.T) {
	g := newGraphTest(t)
	g.setAllowlist(t, "NEW")
	newFrame, trade := frame(t, "moxt-ORDER_TRADE_UPDATE-1.json"), frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	for i, raw := range garbageAllowlists {
		g.setAllowlistRaw(t, raw)
		g.send("a", topics.KindFrame, trade)
		g.send("a", topics.KindFrame, newFrame)
		oe, ok := g.nextOrder(t)
		if !ok || oe.ExecutionType != "NEW" {
			t.Fatalf("garbage %d: dispatched %+v, want NEW", i, oe)
		}
		if oe, ok := g.nextOrder(t); ok {
			t.Fatalf("garbage %d widened the allowlist: dispatched %s", i, oe.ExecutionType)
		}
	}
	qs := g.controlQuarantined()
	if len(qs) != len(garbageAllowlists) {
		t.Fatalf("%d allowlist records quarantined, want %d", len(qs), len(garbageAllowlists))
	}
	for _, q := range qs {
		if q.SourceTopic != string(AllowlistTable(prefix)) || q.Consumer != string(Group(prefix)) || !strings.Contains(q.Error, "last good value kept") {
			t.Fatalf("quarantine record %+v", q)
		}
	}
	if a := g.p.Alerts(); len(a) != 1 || a[0].Key != "binance" || !a[0].KeptLastGood {
		t.Fatalf("alerts %+v", a)
	}
	g.setAllowlist(t, "TRADE")
	if a := g.p.Alerts(); len(a) != 0 {
		t.Fatalf("alerts after a good record: %+v", a)
	}
	g.send("a", topics.KindFrame, trade)
	if oe, ok := g.nextOrder(t); !ok || oe.ExecutionType != "TRADE" {
		t.Fatalf("TRADE not dispatched after a good record: %+v", oe)
	}
}

// Garbage as the only allowlist record of an exchange (the first record,
// or all that is left after compaction): shadow mode, not the default.
func TestDispatchGarbageAsTheOnlyAllowlistIsShadowMode(t *testing.T) {
	g := newGraphTest(t)
	g.setAllowlistRaw(t, []byte(`{"exchange":"binance","types":"TRADE"}`))
	g.send("a", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"))
	if oe, ok := g.nextOrder(t); ok {
		t.Fatalf("dispatched %s on an unreadable allowlist", oe.ExecutionType)
	}
	if got := g.metrics.Count("binance", "TRADE", Shadowed); got != 1 {
		t.Fatalf("shadowed TRADE %v, want 1", got)
	}
	if a := g.p.Alerts(); len(a) != 1 || a[0].KeptLastGood {
		t.Fatalf("alerts %+v", a)
	}
	if qs := g.controlQuarantined(); len(qs) != 1 || !strings.Contains(qs[0].Error, "fail closed") {
		t.Fatalf("quarantined %+v", qs)
	}
}

// withOrder rewrites fields of the real TRADE frame's order.
func withOrder(t *testing.T, mod func(o map[string]any, data map[string]any)) []byte {
	t.Helper()
	var f map[string]any
	if err := json.Unmarshal(frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"), &f); err != nil {
		t.Fatal(err)
	}
	data := f["data"].(map[string]any)
	mod(data["o"].(map[string]any), data)
	b, err := json.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 10 item 8 at the source: absurd numbers never reach the orders topic.
func TestDispatchQuarantinesOrderEventsWithAbsurdNumbers(t *testing.T) {
	g := newGraphTest(t)
	bad := map[string][]byte{
		"cum qty 1e999999":  withOrder(t, func(o, _ map[string]any) { o["z"] = "1e999999" }),
		"last qty -3":       withOrder(t, func(o, _ map[string]any) { o["l"] = "-3" }),
		"price NaN":         withOrder(t, func(o, _ map[string]any) { o["p"] = "NaN" }),
		"19 integer digits": withOrder(t, func(o, _ map[string]any) { o["L"] = "1000000000000000000" }),
		"commission Inf":    withOrder(t, func(o, _ map[string]any) { o["n"] = "-Inf" }),
		"negative trade id": withOrder(t, func(o, _ map[string]any) { o["t"] = -5 }),
		"E in 2100":         withOrder(t, func(_, d map[string]any) { d["E"] = 4102444800000 }),
	}
	for name, f := range bad {
		g.send("a", topics.KindFrame, f)
		if oe, ok := g.nextOrder(t); ok {
			t.Fatalf("%s dispatched: %+v", name, oe)
		}
		_, v, ok := g.quar.Next()
		if !ok || !strings.Contains(v.(*topics.QuarantineRecord).Error, "order event refused") {
			t.Fatalf("%s not quarantined: %+v", name, v)
		}
	}
	if got := g.metrics.Count("binance", "TRADE", Quarantined); got != float64(len(bad)) {
		t.Fatalf("quarantined TRADE %v, want %d", got, len(bad))
	}
	g.send("a", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"))
	if _, ok := g.nextOrder(t); !ok {
		t.Fatal("the good frame after the bad ones was not dispatched")
	}
}

// Every real frame that dispatch dispatches passes the value checks.
func TestDispatchRealFramesPassTheValueChecks(t *testing.T) {
	for name, f := range allFrames(t) {
		ev, err := decode("binance", f)
		if err != nil {
			continue
		}
		oe := ev.OrderEvent("binance", "a", topics.SourceStream)
		if ev.Order == nil && ev.Algo == nil {
			continue
		}
		if err := checkOrderEvent(&oe, time.Now()); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// Item 10: a record on another partition than its key's is quarantined
// and counted, not dispatched. goka's tester has one partition, so the
// processor is told the topic has two: keys hashing to 1 are misplaced.
func TestDispatchQuarantinesRecordsOnTheWrongPartition(t *testing.T) {
	g := newGraphTest(t, func(c *Config) { c.InputPartitions = 2 })
	var right, wrong string
	for i := 0; right == "" || wrong == ""; i++ {
		k := fmt.Sprintf("acct-%d", i)
		if lookups.KeyPartition([]byte(k), 2) == 0 {
			right = k
		} else {
			wrong = k
		}
	}
	trade := frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	g.send(wrong, topics.KindFrame, trade)
	g.send(right, topics.KindFrame, trade)
	oe, ok := g.nextOrder(t)
	if !ok || oe.Account != right {
		t.Fatalf("dispatched %+v, want only %s", oe, right)
	}
	if _, ok := g.nextOrder(t); ok {
		t.Fatal("the misplaced record was dispatched")
	}
	_, v, ok := g.quar.Next()
	if q, _ := v.(*topics.QuarantineRecord); !ok || q.Key != wrong || !strings.Contains(q.Error, "hashes to partition 1 of 2") {
		t.Fatalf("quarantine %+v", v)
	}
	if got := g.metrics.Count("binance", "wrong_partition", Quarantined); got != 1 {
		t.Fatalf("wrong_partition count %v", got)
	}
}

// A hostile exchange header or execution type does not create metric
// series without bound.
func TestDispatchMetricLabelsAreBounded(t *testing.T) {
	if l := labels("binance\xff-evil", "X-RANDOM-42", Quarantined); l[0] != "unknown" || l[1] != "other" {
		t.Fatalf("labels %v", l)
	}
	if l := labels("binance", "listenkeyexpired", Dispatched); l[1] != "listenKeyExpired" {
		t.Fatalf("labels %v", l)
	}
}

func TestCheckAllowlist(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	for _, raw := range [][]byte{
		[]byte(`{"exchange":"binance","types":[]}`),
		[]byte(`{"exchange":"binance","types":["TRADE","listenKeyExpired","LISTENKEYEXPIRED","algo_filled"],"updated_at":1800000000000,"by":"ops"}`),
	} {
		if _, err := CheckAllowlist("binance", raw, now); err != nil {
			t.Errorf("%s refused: %v", raw, err)
		}
	}
	for _, raw := range garbageAllowlists {
		if _, err := CheckAllowlist("binance", raw, now); err == nil {
			t.Errorf("%q accepted", raw)
		}
	}
	if _, err := CheckAllowlist("bybit", []byte(`{"exchange":"binance","types":[]}`), now); err == nil {
		t.Error("a key that differs from the exchange accepted")
	}
	for _, typ := range DefaultBinanceAllowlist() {
		if !binance.KnownExecutionType(typ) {
			t.Errorf("default type %s is not known", typ)
		}
	}
}

// FuzzCheckAllowlist: never panics; an accepted list only names known types.
func FuzzCheckAllowlist(f *testing.F) {
	for _, raw := range garbageAllowlists {
		f.Add(raw)
	}
	f.Add([]byte(`{"exchange":"binance","types":["TRADE"]}`))
	now := time.UnixMilli(1_800_000_000_000)
	f.Fuzz(func(t *testing.T, raw []byte) {
		v, err := CheckAllowlist("binance", raw, now)
		if err != nil {
			return
		}
		if v.Types == nil || len(v.Types) > MaxAllowlistTypes {
			t.Fatalf("accepted %+v", v)
		}
		for _, typ := range v.Types {
			if !binance.KnownExecutionType(typ) {
				t.Fatalf("accepted unknown type %q", typ)
			}
		}
	})
}

// An ACCOUNT_UPDATE with absurd position values does not reach the
// positions topic; real ones do (TestDispatchRoutesAccountUpdate...).
func TestDispatchQuarantinesAbsurdPositionReports(t *testing.T) {
	g := newGraphTest(t)
	pos := g.tt.NewQueueTracker(string(PositionsTopic(prefix)))
	base := frame(t, "binance-docs-ACCOUNT_UPDATE-1.json")
	for name, f := range map[string][]byte{
		"amount 1e999999": []byte(strings.Replace(string(base), `"pa":"20"`, `"pa":"1e999999"`, 1)),
		"entry price NaN": []byte(strings.Replace(string(base), `"ep":"6563.66500"`, `"ep":"NaN"`, 1)),
		"symbol <script>": []byte(strings.Replace(string(base), `"s":"BTCUSDT"`, `"s":"<script>"`, 1)),
		"E in 2100":       []byte(strings.Replace(string(base), `"E": 1564745798939`, `"E": 4102444800000`, 1)),
	} {
		if string(f) == string(base) {
			t.Fatalf("%s: the frame was not changed", name)
		}
		g.send("acct-9", topics.KindFrame, f)
		if _, v, ok := pos.Next(); ok {
			t.Fatalf("%s reached the positions topic: %+v", name, v)
		}
		if _, v, ok := g.quar.Next(); !ok || !strings.Contains(v.(*topics.QuarantineRecord).Error, "account update refused") {
			t.Fatalf("%s not quarantined: %+v", name, v)
		}
	}
	for name, f := range allFrames(t) {
		ev, err := decode("binance", f)
		if err != nil || ev.Account == nil || len(ev.Account.Positions) == 0 {
			continue
		}
		if err := checkPositionReport(positionReport("binance", "a", ev), time.Now()); err != nil {
			t.Errorf("real frame %s refused: %v", name, err)
		}
	}
}

// A flood of garbage allowlist records under random keys changes nothing,
// and shares one alert (no growth of alerts or metric series per key).
func TestDispatchGarbageUnderUnknownKeysSharesOneAlert(t *testing.T) {
	g := newGraphTest(t)
	g.setAllowlist(t, "NEW")
	guard := g.p.Guards()[0]
	for i := range 50 {
		seen := guard.Seen()
		g.tt.Consume(string(AllowlistTable(prefix)), fmt.Sprintf("exchange-%d", i), []byte(`{"exchange":"x","types":["TRADE"]}`))
		testkit.Eventually(t, 20*time.Second, "the view to handle the record", func() bool { return guard.Seen() > seen })
	}
	a := g.p.Alerts()
	if len(a) != 1 || a[0].Key != lookups.UnknownKeys {
		t.Fatalf("alerts %+v", a)
	}
	if keys := g.tt.GetTableKeys(AllowlistTable(prefix)); len(keys) != 1 {
		t.Fatalf("allowlist storage keys %v", keys)
	}
	if got := guard.Rejected(); got != 50 {
		t.Fatalf("refused %d", got)
	}
	g.send("a", topics.KindFrame, frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json"))
	if oe, ok := g.nextOrder(t); ok {
		t.Fatalf("dispatched %s", oe.ExecutionType)
	}
}
