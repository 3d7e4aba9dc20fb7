package gate

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/control"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

type gateTest struct {
	tt                        *tester.Tester
	p                         *Runner
	g                         *gate
	positions, rejected, quar *tester.QueueTracker

	mu       sync.Mutex
	controlQ []*topics.QuarantineRecord // quarantined override records
}

// newGateTest runs the gate graph with its clock at now.
func newGateTest(t *testing.T) *gateTest {
	t.Helper()
	tt := tester.New(t)
	cfg := DefaultConfig(nil, prefix)
	cfg.ViewOptions = []goka.ViewOption{goka.WithViewTester(tt)}
	cfg.Now = func() time.Time { return time.UnixMilli(now) }
	g := &gateTest{tt: tt}
	cfg.ControlQuarantined = func(_ string, q *topics.QuarantineRecord) {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.controlQ = append(g.controlQ, q)
	}
	p, gt, err := newGate(cfg, goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	g.g = gt
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
		t.Fatal(err)
	}
	g.p, g.positions, g.rejected = p, tt.NewQueueTracker(string(PositionsTopic(prefix))), tt.NewQueueTracker(string(RejectedTopic(prefix)))
	g.quar = tt.NewQueueTracker(string(QuarantineTopic(prefix)))
	return g
}

// setOverride writes one raw record to the overrides topic and waits until
// the overrides View's Guard handled it.
func (g *gateTest) setOverride(t *testing.T, raw []byte) {
	t.Helper()
	guard := g.guard(regime.OverridesTable(prefix))
	seen := guard.Seen()
	g.tt.Consume(string(regime.OverridesTable(prefix)), regimestate.OverrideScope, raw)
	testkit.Eventually(t, 20*time.Second, "the overrides view to handle the record", func() bool { return guard.Seen() > seen })
}

// nextControlQuarantine returns the n-th quarantine record of a refused
// override record (1-based).
func (g *gateTest) nextControlQuarantine(t *testing.T, n int64) *topics.QuarantineRecord {
	t.Helper()
	g.mu.Lock()
	defer g.mu.Unlock()
	if int64(len(g.controlQ)) < n {
		t.Fatalf("%d quarantined override records, want %d", len(g.controlQ), n)
	}
	return g.controlQ[n-1]
}

func (g *gateTest) guard(table goka.Table) *lookups.Guard {
	for _, gd := range g.p.Guards() {
		if gd.Table() == table {
			return gd
		}
	}
	panic("no guard of " + table)
}

// setState writes a regime state to the table topic and waits until the
// regime View's Guard handled it. It goes through the View's update
// callback as every production write does: the tester's SetTableValue
// writes the storage behind the callback's back, which no goka View ever
// does, and the gate's decoded state (lookups.Decoded) would not see it.
func (g *gateTest) setState(t *testing.T, st *regimestate.State) {
	t.Helper()
	b, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	guard := g.guard(regime.Table(prefix))
	seen := guard.Seen()
	g.tt.Consume(string(regime.Table(prefix)), "binance", b)
	testkit.Eventually(t, 20*time.Second, "the regime view to handle the record", func() bool { return guard.Seen() > seen })
}

func (g *gateTest) nextRejected(t *testing.T) *topics.RejectedIntent {
	t.Helper()
	_, v, ok := g.rejected.Next()
	if !ok {
		t.Fatal("no rejection")
	}
	return v.(*topics.RejectedIntent)
}

func (g *gateTest) send(t *testing.T, in topics.OpenIntent) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	g.tt.Consume(string(InputTopic(prefix)), in.Account, b)
}

func TestGateRoutesIntentsByTheRegimeTable(t *testing.T) {
	g := newGateTest(t)
	open, reduce := intent(false), intent(true)
	open.CreatedMs, reduce.CreatedMs = now, now

	g.setState(t, state(regimestate.Critical, 0))
	g.send(t, open)
	g.send(t, reduce)
	_, v, ok := g.rejected.Next()
	if !ok {
		t.Fatal("open in Critical was not rejected")
	}
	rej := v.(*topics.RejectedIntent)
	if rej.Band != "Critical" || rej.Score != 80 || rej.Reason == "" || rej.Intent.ClientID != "c1" {
		t.Fatalf("rejected record %+v", rej)
	}
	_, v, ok = g.positions.Next()
	if !ok || !v.(*topics.PositionEvent).Intent.Reduce || v.(*topics.PositionEvent).Kind != KindOpenAllowed {
		t.Fatalf("reduction not passed: %+v", v)
	}

	g.setState(t, state(regimestate.Calm, 0))
	g.send(t, open)
	if _, v, ok := g.positions.Next(); !ok || v.(*topics.PositionEvent).Band != "Calm" {
		t.Fatalf("open in Calm not allowed: %+v", v)
	}
	if _, _, ok := g.rejected.Next(); ok {
		t.Fatal("unexpected rejection")
	}
}

func TestGateQuarantinesUndecodableIntents(t *testing.T) {
	g := newGateTest(t)
	q := g.quar
	g.tt.Consume(string(InputTopic(prefix)), "a", []byte("{"), tester.WithHeaders(goka.Headers{"source": []byte("strategy-7")}))
	_, v, ok := q.Next()
	if !ok {
		t.Fatal("bad intent not quarantined")
	}
	// The same record as dispatch's quarantine: headers kept, the consumer named.
	if r := v.(*topics.QuarantineRecord); r.Headers["source"] != "strategy-7" || r.Consumer != string(Group(prefix)) || r.Value != "{" {
		t.Fatalf("quarantine record %+v", r)
	}
}

func TestNewRefusesAConfigWithoutBrokersOrViewOptions(t *testing.T) {
	_, err := New(DefaultConfig(nil, prefix))
	if err == nil || !strings.Contains(err.Error(), "ViewOptions") {
		t.Fatalf("New without brokers or view options: %v", err)
	}
}

func overrideRecord(t *testing.T, action string, until int64) []byte {
	t.Helper()
	b, err := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: action, UntilMs: until,
		Reason: "ops", By: "test", CreatedMs: now - 1000})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Issue 10 item 6: a garbage record on regime-overrides after an active
// block: the block stays, the record is quarantined, an alert is raised.
func TestGateKeepsTheBlockOverrideWhenAGarbageOverrideArrives(t *testing.T) {
	g := newGateTest(t)
	g.setState(t, state(regimestate.Calm, 0))
	g.setOverride(t, overrideRecord(t, "block", now+3_600_000))
	open := intent(false)
	open.CreatedMs = now
	g.send(t, open)
	if r := g.nextRejected(t); r.Reason != regimestate.GateOverrideBlock {
		t.Fatalf("rejection %+v, want override_block", r)
	}

	garbage := [][]byte{
		[]byte("{not json"),
		[]byte(`{"scope":"global","action":"clear"}`), // no times at all
		[]byte(`{"scope":"global","action":"allow","until":253402300799000,"reason":"x","created_at":1}`),
		[]byte(`{"scope":"global","action":"allow","until":-5,"reason":"x","created_at":-10}`),
		[]byte(`{"scope":"global","action":"open-sesame","until":1800000060000,"reason":"x","created_at":1800000000000}`),
		[]byte(`{"scope":"everything","action":"allow","until":1800000060000,"reason":"x","created_at":1800000000000}`),
		[]byte(`{"scope":"global","action":"allow","until":1800000060000,"reason":"\xff\xfe","created_at":1800000000000}`),
		[]byte(`{"scope":"global","action":"allow","until":1800000060000,"reason":"","created_at":1800000000000}`),
		[]byte(`{"scope":"global","action":"allow","until":1800000060000,"reason":"` + strings.Repeat("<", 5000) + `","created_at":1800000000000}`),
		nil, // a tombstone
	}
	for i, raw := range garbage {
		g.setOverride(t, raw)
		g.send(t, open)
		if r := g.nextRejected(t); r.Reason != regimestate.GateOverrideBlock {
			t.Fatalf("garbage %d opened the gate: rejection %+v", i, r)
		}
		if _, _, ok := g.positions.Next(); ok {
			t.Fatalf("garbage %d let an open through", i)
		}
		q := g.nextControlQuarantine(t, int64(i+1))
		if q.SourceTopic != string(regime.OverridesTable(prefix)) || q.Consumer != string(Group(prefix)) ||
			!strings.Contains(q.Error, "last good value kept") {
			t.Fatalf("quarantine record %+v", q)
		}
	}
	alerts := g.p.Alerts()
	if len(alerts) != 1 || alerts[0].Key != regimestate.OverrideScope || !alerts[0].KeptLastGood {
		t.Fatalf("alerts %+v", alerts)
	}
	if got := g.guard(regime.OverridesTable(prefix)).Rejected(); got != int64(len(garbage)) {
		t.Fatalf("refused %d records, want %d", got, len(garbage))
	}

	// A valid record ends the alert and takes effect.
	g.setOverride(t, overrideRecord(t, "clear", now-1000))
	if alerts := g.p.Alerts(); len(alerts) != 0 {
		t.Fatalf("alerts after a good record: %+v", alerts)
	}
	g.send(t, open)
	if _, v, ok := g.positions.Next(); !ok || v.(*topics.PositionEvent).Intent.ClientID != "c1" {
		t.Fatalf("open after clear not allowed: %+v", v)
	}
}

// When the only override record is garbage (first record, or the only one
// left after compaction), opens are refused: fail closed.
func TestGateRefusesOpensWhenTheOnlyOverrideIsGarbage(t *testing.T) {
	g := newGateTest(t)
	g.setState(t, state(regimestate.Calm, 0))
	g.setOverride(t, []byte(`{"scope":"global","action":"allow","until":"tomorrow"}`))
	open, reduce := intent(false), intent(true)
	open.CreatedMs, reduce.CreatedMs = now, now
	g.send(t, open)
	if r := g.nextRejected(t); r.Reason != ReasonOverrideUnreadable || !strings.Contains(r.Detail, "override unreadable") {
		t.Fatalf("rejection %+v", r)
	}
	g.send(t, reduce)
	if _, v, ok := g.positions.Next(); !ok || !v.(*topics.PositionEvent).Intent.Reduce {
		t.Fatalf("reduction refused: %+v", v)
	}
	if alerts := g.p.Alerts(); len(alerts) != 1 || alerts[0].KeptLastGood {
		t.Fatalf("alerts %+v", alerts)
	}
	if q := g.nextControlQuarantine(t, 1); !strings.Contains(q.Error, "fail closed") {
		t.Fatalf("quarantine %+v", q)
	}
	g.setOverride(t, overrideRecord(t, "clear", now-1000))
	g.send(t, open)
	if _, v, ok := g.positions.Next(); !ok || v.(*topics.PositionEvent).Intent.Reduce {
		t.Fatalf("open after a valid override not allowed: %+v", v)
	}
}

// Issue 10 item 9 on the graph: the gate's clock decides, not created_at.
func TestGateJudgesIntentsByItsOwnClock(t *testing.T) {
	g := newGateTest(t)
	g.setState(t, state(regimestate.Critical, 0))
	// An allow window that ended half an hour ago.
	g.setOverride(t, func() []byte {
		b, _ := json.Marshal(topics.Override{Scope: "global", Action: "allow", UntilMs: now - 1_800_000, Reason: "ops", CreatedMs: now - 3_600_000})
		return b
	}())
	for _, c := range []struct {
		created int64
		reason  string
	}{
		{now - 2_700_000, ReasonStaleIntent},  // backdated into the expired window
		{now + 3_600_000, ReasonFutureIntent}, // claims the future
		{now, regimestate.GateBlocked},        // honest: Critical refuses
	} {
		in := intent(false)
		in.CreatedMs = c.created
		g.send(t, in)
		if r := g.nextRejected(t); r.Reason != c.reason || r.AtMs != now {
			t.Fatalf("created_at %d: rejection %+v, want %s at %d", c.created, r, c.reason, now)
		}
	}
	if _, _, ok := g.positions.Next(); ok {
		t.Fatal("an open was allowed")
	}
}

// An oversized or unechoable intent is quarantined, bounded, and the next
// intent is decided.
func TestGateQuarantinesOversizedIntents(t *testing.T) {
	g := newGateTest(t)
	g.setState(t, state(regimestate.Calm, 0))
	huge := []byte(`{"account":"a","symbol":"BTCUSDT","side":"BUY","size":"1","client_id":"` + strings.Repeat("<", 200<<10) + `"}`)
	bad := []byte(`{"account":"a","symbol":"BTCUSDT","side":"BUY","size":"1","client_id":"` + strings.Repeat("<", 100) + `"}`)
	g.tt.Consume(string(InputTopic(prefix)), "a", huge)
	g.tt.Consume(string(InputTopic(prefix)), "a", bad)
	for i := range 2 {
		_, v, ok := g.quar.Next()
		if !ok {
			t.Fatalf("intent %d not quarantined", i)
		}
		b, _ := json.Marshal(v)
		if len(b) > topics.MaxQuarantineBytes {
			t.Fatalf("quarantine record of %d bytes", len(b))
		}
	}
	open := intent(false)
	open.CreatedMs = now
	g.send(t, open)
	if _, _, ok := g.positions.Next(); !ok {
		t.Fatal("the next intent was not decided")
	}
}

// A garbage record on the regime table (any producer can write the topic)
// neither stops the gate nor opens it: the last good state stays, and
// with none the gate refuses opens as state_unreadable.
func TestGateSurvivesGarbageOnTheRegimeTable(t *testing.T) {
	g := newGateTest(t)
	guard := g.guard(regime.Table(prefix))
	table := string(regime.Table(prefix))
	consume := func(raw []byte) {
		seen := guard.Seen()
		g.tt.Consume(table, "binance", raw)
		testkit.Eventually(t, 20*time.Second, "the regime view to handle the record", func() bool { return guard.Seen() > seen })
	}
	open := intent(false)
	open.CreatedMs = now

	consume([]byte(`{"band":"Calm","score":"zero"`))
	g.send(t, open)
	if r := g.nextRejected(t); r.Reason != ReasonStateUnreadable {
		t.Fatalf("rejection %+v", r)
	}
	critical, _ := json.Marshal(state(regimestate.Critical, 0))
	consume(critical)
	for _, raw := range [][]byte{[]byte(`{"band":"Calm","score":0,"at":1800000000000}`)[:20], []byte(`{"band":"Sunny","score":0,"at":1}`),
		[]byte(`{"band":"Calm","score":-1,"at":1}`), []byte(`{"band":"Calm","score":0}`), nil} {
		consume(raw)
		g.send(t, open)
		if r := g.nextRejected(t); r.Reason != regimestate.GateBlocked {
			t.Fatalf("after %q: rejection %+v, want blocked (last good state)", raw, r)
		}
	}
	if _, _, ok := g.positions.Next(); ok {
		t.Fatal("an open was allowed")
	}
	if a := g.p.Alerts(); len(a) != 1 || a[0].Topic != table || !a[0].KeptLastGood {
		t.Fatalf("alerts %+v", a)
	}
}

// A regime-state write is decoded once, by the View's Guard: the state
// the gate decides on is the very value the Guard parsed (the same
// pointer, so no second decode), for every intent until the next write,
// and the override likewise.
func TestGateDecodesARegimeStateWriteOnce(t *testing.T) {
	g := newGateTest(t)
	g.setState(t, state(regimestate.Calm, 0))
	guard := g.guard(regime.Table(prefix))
	parsed, version, ok := guard.Parsed("binance")
	if !ok || version != guard.Version("binance") {
		t.Fatalf("the Guard kept no parsed state (ok %v, version %d of %d)", ok, version, guard.Version("binance"))
	}
	for range 3 {
		st, derr, err := g.g.state.Read("binance")
		if err != nil || derr != nil || st != parsed.(*regimestate.State) {
			t.Fatalf("the gate read %p (%v, %v), the Guard parsed %p: decoded twice", st, derr, err, parsed)
		}
	}
	g.setState(t, state(regimestate.Critical, 0))
	parsed2, _, _ := guard.Parsed("binance")
	if st, _, _ := g.g.state.Read("binance"); st != parsed2.(*regimestate.State) || st.Band != regimestate.Critical {
		t.Fatalf("after a new write the gate read %+v", st)
	}
	g.setOverride(t, overrideRecord(t, "block", now+3_600_000))
	ovParsed, _, ok := g.guard(regime.OverridesTable(prefix)).Parsed(control.ScopeGlobal)
	if ov, _, _ := g.g.override.Read(control.ScopeGlobal); !ok || ov != ovParsed.(*topics.Override) {
		t.Fatalf("the override was decoded again: %p, parsed %p", ov, ovParsed)
	}
}
