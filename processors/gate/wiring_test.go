package gate

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

func startRegime(t *testing.T, c *ptest.Cluster) *ptest.Running { return startRegimeForBench(t, c) }

func startRegimeForBench(t testing.TB, c *ptest.Cluster) *ptest.Running {
	t.Helper()
	cfg := regime.DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.ControlQuarantined = func(string, *topics.QuarantineRecord) {} // the regime's own quarantine of garbage overrides; these tests read the gate's
	p, err := regime.New(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	return ptest.Run(t, p)
}

// startGate starts a gate whose clock reads *clock (ms; the scenario's
// time, so intents and regime states of the synthetic market are fresh).
func startGate(t *testing.T, c *ptest.Cluster, clock *atomic.Int64) *ptest.Running {
	t.Helper()
	cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.Now = func() time.Time { return time.UnixMilli(clock.Load()) }
	p, err := New(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	return ptest.Run(t, p)
}

// feedRegime produces frames and waits until every gate instance's view
// of the regime table has applied one table write per frame.
func feedRegime(t *testing.T, c *ptest.Cluster, frames [][]byte, gates ...*ptest.Running) {
	t.Helper()
	table := string(regime.Table(ptest.Prefix))
	want := make([]int, len(gates))
	for i, g := range gates {
		want[i] = ptest.LookupCount(g.R, table) + len(frames)
	}
	for _, f := range frames {
		c.Produce(t, string(regime.InputTopic(ptest.Prefix)), topics.ExchangeBinance, f)
	}
	for i, g := range gates {
		testkit.Eventually(t, 30*time.Second, "the gate to see the regime state", func() bool {
			return ptest.LookupCount(g.R, table) >= want[i]
		})
	}
}

func produceIntent(t *testing.T, c *ptest.Cluster, in topics.OpenIntent) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	c.Produce(t, string(InputTopic(ptest.Prefix)), in.Account, b)
}

func TestKafkaCrashRefusesOpensAndPassesReductions(t *testing.T) {
	c := ptest.StartCluster(t)
	startRegime(t, c)
	times, frames := ptest.Crash().Frames()
	crashEnd := int((90*time.Minute + 15*time.Minute) / (30 * time.Second))
	var clock atomic.Int64
	clock.Store(times[crashEnd])
	g := startGate(t, c, &clock)
	feedRegime(t, c, frames[:crashEnd+1], g)

	at := times[crashEnd]
	open := topics.OpenIntent{Account: "acct-1", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01", ClientID: "open-1", CreatedMs: at}
	reduce := open
	reduce.ClientID, reduce.Reduce, reduce.Side = "reduce-1", true, "SELL"
	produceIntent(t, c, open)
	produceIntent(t, c, reduce)

	rej := c.NewReader(t, string(RejectedTopic(ptest.Prefix))).WaitFor(t, 1, 30*time.Second)
	var ri topics.RejectedIntent
	if err := json.Unmarshal(rej[0].Value, &ri); err != nil {
		t.Fatal(err)
	}
	if ri.Intent.ClientID != "open-1" || ri.Band != "Critical" || ri.Score < 75 {
		t.Fatalf("rejection %+v", ri)
	}
	pos := c.NewReader(t, string(PositionsTopic(ptest.Prefix))).WaitFor(t, 1, 30*time.Second)
	var pe topics.PositionEvent
	if err := json.Unmarshal(pos[0].Value, &pe); err != nil {
		t.Fatal(err)
	}
	if pe.Intent == nil || pe.Intent.ClientID != "reduce-1" {
		t.Fatalf("position event %+v", pe)
	}
}

func TestKafkaTwoGatesSplitPartitionsAndFailOver(t *testing.T) {
	c := ptest.StartCluster(t)
	startRegime(t, c)
	times, frames := ptest.Crash().Frames()
	var clock atomic.Int64
	clock.Store(times[9])
	a, b := startGate(t, c, &clock), startGate(t, c, &clock)
	testkit.Eventually(t, 30*time.Second, "both gates to own partitions", func() bool {
		pa, pb := ptest.Partitions(a.P), ptest.Partitions(b.P)
		return len(pa) > 0 && len(pb) > 0 && len(pa)+len(pb) == int(topics.OpenIntents.Partitions)
	})
	feedRegime(t, c, frames[:10], a, b)
	now := times[9]
	send := func(from, n int) {
		for i := from; i < from+n; i++ {
			acct := fmt.Sprintf("acct-%d", i%25)
			produceIntent(t, c, topics.OpenIntent{Account: acct, Symbol: "ETHUSDT", Side: "BUY", Size: "1",
				ClientID: fmt.Sprintf("c-%d", i), CreatedMs: now})
		}
	}
	pos := c.NewReader(t, string(PositionsTopic(ptest.Prefix)))
	send(0, 40)
	pos.WaitFor(t, 40, 20*time.Second)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the survivor to own every partition", func() bool {
		return len(ptest.Partitions(a.P)) == int(topics.OpenIntents.Partitions)
	})
	send(40, 40)
	pos.WaitFor(t, 80, 20*time.Second)
	got := pos.Quiet(500 * time.Millisecond)
	seen := map[string]bool{}
	for _, r := range got {
		var pe topics.PositionEvent
		if err := json.Unmarshal(r.Value, &pe); err != nil {
			t.Fatal(err)
		}
		if seen[pe.Intent.ClientID] {
			t.Fatalf("intent %s decided twice", pe.Intent.ClientID)
		}
		seen[pe.Intent.ClientID] = true
	}
	if len(seen) != 80 {
		t.Fatalf("%d decisions, want 80", len(seen))
	}
}

func produceOverride(t *testing.T, c *ptest.Cluster, raw []byte) {
	t.Helper()
	c.Produce(t, string(regime.OverridesTable(ptest.Prefix)), regimestate.OverrideScope, raw)
}

// waitGuard waits until g's overrides Guard handled n records in all.
func waitGuard(t *testing.T, g *ptest.Running, n int64) {
	t.Helper()
	gd := g.R.Guards()[0] // overrides, then the regime table
	testkit.Eventually(t, 30*time.Second, "the overrides view to handle the record", func() bool { return gd.Seen() >= n })
}

func rejections(t *testing.T, r *ptest.Reader, n int) []topics.RejectedIntent {
	t.Helper()
	return ptest.Decode[topics.RejectedIntent](t, r.WaitFor(t, n, 30*time.Second))
}

// Issue 10 item 6 over Kafka: a garbage override after an active block
// leaves the block in force, and is quarantined.
func TestKafkaGarbageOverrideAfterABlockStillBlocks(t *testing.T) {
	c := ptest.StartCluster(t)
	startRegime(t, c)
	times, frames := ptest.Crash().Frames()
	var clock atomic.Int64
	clock.Store(times[9])
	g := startGate(t, c, &clock)
	feedRegime(t, c, frames[:10], g) // quiet market: Calm
	rejected := c.NewReader(t, string(RejectedTopic(ptest.Prefix)))
	quar := c.NewReader(t, string(QuarantineTopic(ptest.Prefix)))
	at := times[9]

	block, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "block", UntilMs: at + 3_600_000,
		Reason: "exchange maintenance", By: "ops", CreatedMs: at - 1000})
	produceOverride(t, c, block)
	waitGuard(t, g, 1)
	open := topics.OpenIntent{Account: "acct-1", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01", ClientID: "open-1", CreatedMs: at}
	produceIntent(t, c, open)
	if r := rejections(t, rejected, 1)[0]; r.Reason != regimestate.GateOverrideBlock {
		t.Fatalf("rejection %+v, want override_block", r)
	}

	produceOverride(t, c, []byte(`{"scope":"global","action":"allow","until":253402300799000,"reason":"lol","created_at":1}`))
	produceOverride(t, c, []byte("\x00\x01 not even json"))
	waitGuard(t, g, 3)
	open.ClientID = "open-2"
	produceIntent(t, c, open)
	if r := rejections(t, rejected, 2)[1]; r.Reason != regimestate.GateOverrideBlock || r.Intent.ClientID != "open-2" {
		t.Fatalf("rejection %+v, want override_block", r)
	}
	if pos := c.NewReader(t, string(PositionsTopic(ptest.Prefix))).Quiet(300 * time.Millisecond); len(pos) != 0 {
		t.Fatalf("an open was allowed:%s", ptest.Describe(pos))
	}
	qs := ptest.Decode[topics.QuarantineRecord](t, quar.WaitFor(t, 2, 30*time.Second))
	for _, q := range qs {
		if q.SourceTopic != string(regime.OverridesTable(ptest.Prefix)) || q.Consumer != string(Group(ptest.Prefix)) ||
			!strings.Contains(q.Error, "last good value kept") {
			t.Fatalf("quarantine record %+v", q)
		}
	}
	if a := g.R.Alerts(); len(a) != 1 || !a[0].KeptLastGood || a[0].Offset != 2 {
		t.Fatalf("alerts %+v", a)
	}
}

// Issue 10 item 9 over Kafka: an intent backdated into an allow window
// that has expired, while the regime is Critical, is refused; so is one
// from the future; an honest one meets Critical.
func TestKafkaBackdatedIntentInAnExpiredAllowWindowIsRefused(t *testing.T) {
	c := ptest.StartCluster(t)
	startRegime(t, c)
	times, frames := ptest.Crash().Frames()
	crashEnd := int((90*time.Minute + 15*time.Minute) / (30 * time.Second))
	at := times[crashEnd]
	var clock atomic.Int64
	clock.Store(at)
	g := startGate(t, c, &clock)
	feedRegime(t, c, frames[:crashEnd+1], g)
	rejected := c.NewReader(t, string(RejectedTopic(ptest.Prefix)))

	window, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "allow", UntilMs: at - 30*60_000,
		Reason: "test window", By: "ops", CreatedMs: at - 60*60_000})
	produceOverride(t, c, window)
	waitGuard(t, g, 1)
	for i, created := range []int64{at - 45*60_000, at + 60*60_000, at} {
		produceIntent(t, c, topics.OpenIntent{Account: "acct-1", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01",
			ClientID: fmt.Sprint("c-", i), CreatedMs: created})
	}
	rs := rejections(t, rejected, 3)
	for i, want := range []string{ReasonStaleIntent, ReasonFutureIntent, regimestate.GateBlocked} {
		if rs[i].Reason != want || rs[i].AtMs != at || rs[i].Detail == "" {
			t.Fatalf("intent %d: rejection %+v, want %s at %d", i, rs[i], want, at)
		}
	}
	if pos := c.NewReader(t, string(PositionsTopic(ptest.Prefix))).Quiet(300 * time.Millisecond); len(pos) != 0 {
		t.Fatalf("an open was allowed:%s", ptest.Describe(pos))
	}
}

// Item 2 for the gate: a 200 KB intent is quarantined under the size
// limit and the gate decides the next intent.
func TestKafkaHugeIntentIsQuarantinedAndTheGateGoesOn(t *testing.T) {
	c := ptest.StartCluster(t)
	startRegime(t, c)
	times, frames := ptest.Crash().Frames()
	var clock atomic.Int64
	clock.Store(times[9])
	g := startGate(t, c, &clock)
	feedRegime(t, c, frames[:10], g)
	quar := c.NewReader(t, string(QuarantineTopic(ptest.Prefix)))
	pos := c.NewReader(t, string(PositionsTopic(ptest.Prefix)))

	huge := []byte(`{"account":"acct-1","symbol":"BTCUSDT","side":"BUY","size":"1","client_id":"` + strings.Repeat("<", 200<<10) + `"}`)
	c.Produce(t, string(InputTopic(ptest.Prefix)), "acct-1", huge)
	produceIntent(t, c, topics.OpenIntent{Account: "acct-1", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01", ClientID: "next", CreatedMs: times[9]})
	qs := quar.WaitFor(t, 1, 30*time.Second)
	if len(qs[0].Value) > topics.MaxQuarantineBytes {
		t.Fatalf("quarantine record of %d bytes", len(qs[0].Value))
	}
	if q := ptest.Decode[topics.QuarantineRecord](t, qs)[0]; !q.Truncated || q.ValueBytes != len(huge) {
		t.Fatalf("quarantine record truncated=%v bytes=%d", q.Truncated, q.ValueBytes)
	}
	if pe := ptest.Decode[topics.PositionEvent](t, pos.WaitFor(t, 1, 30*time.Second))[0]; pe.Intent.ClientID != "next" {
		t.Fatalf("position event %+v", pe)
	}
	select {
	case <-g.R.Done():
		t.Fatalf("the gate stopped: %v", g.R.Err())
	default:
	}
}
