package gate

import (
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

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
