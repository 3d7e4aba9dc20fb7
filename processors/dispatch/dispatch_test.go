package dispatch

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

// frame loads one real frame from ../shared/binance-frames, or skips.
func frame(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "shared", "binance-frames", name))
	if err != nil {
		t.Skipf("shared frames not available: %v", err)
	}
	return b
}

// allFrames returns every real frame by file name, or skips.
func allFrames(t testing.TB) map[string][]byte {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "binance-frames", "*.json"))
	if len(paths) == 0 {
		t.Skip("shared frames not available")
	}
	out := map[string][]byte{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}

type graphTest struct {
	p       *Runner
	tt      *tester.Tester
	orders  *tester.QueueTracker
	quar    *tester.QueueTracker
	metrics *Metrics
}

func newGraphTest(t *testing.T) *graphTest {
	t.Helper()
	tt := tester.New(t)
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(Config{Prefix: prefix, Metrics: m, ViewOptions: []goka.ViewOption{goka.WithViewTester(tt)}},
		goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	runProcessor(t, p)
	return &graphTest{p: p, tt: tt, orders: tt.NewQueueTracker(string(OrdersTopic(prefix))),
		quar: tt.NewQueueTracker(string(QuarantineTopic(prefix))), metrics: m}
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
	b, _ := json.Marshal(topics.AllowlistValue{Exchange: "binance", Types: types})
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
