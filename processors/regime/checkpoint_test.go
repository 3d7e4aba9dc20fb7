package regime

import (
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// realCheckpoints are checkpoints of the states the regime makes of the
// real mark-price frames (../shared/binance-frames) and of the crash.
func realCheckpoints(tb testing.TB) [][]byte {
	tb.Helper()
	cfg := DefaultConfig(nil, ptest.Prefix)
	var out [][]byte
	add := func(st State) {
		st.Partition, st.Next = 2, st.Records
		b, err := json.Marshal(Checkpoint{State: st, Market: st.Market})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, b)
	}
	paths := testkit.SharedFiles(tb, "binance-frames/*markPriceUpdate*.json")
	for _, p := range paths {
		frame, err := os.ReadFile(p)
		if err != nil {
			tb.Fatal(err)
		}
		if at, ticks, err := DecodeTicks(frame); err == nil {
			st, _ := Step(cfg, State{State: regimestate.State{Scope: topics.ExchangeBinance}}, at, ticks, nil)
			add(st)
		}
	}
	_, frames := ptest.Crash().Frames()
	st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	for i, f := range frames[:240] {
		at, ticks, err := DecodeTicks(f)
		if err != nil {
			tb.Fatal(err)
		}
		st, _ = step(cfg, st, at, ticks, nil)
		if i%60 == 0 {
			add(st)
			st.Market = cloneMarket(st.Market)
		}
	}
	return out
}

// FuzzDecodeCheckpoint attacks the rebuild's read of the checkpoint
// topic, which anyone with write access can fill: whatever the bytes, the
// decoder neither panics nor accepts a checkpoint of another scope or
// partition, of invalid symbols, or of prices and variances that are not
// finite and positive. Seeds: checkpoints of the real frames and of the
// crash, and garbage.
func FuzzDecodeCheckpoint(f *testing.F) {
	for _, ck := range realCheckpoints(f) {
		f.Add(ck)
	}
	for _, s := range []string{``, `null`, `{}`, `{"state":{"scope":"binance","partition":2,"next":1,"records":1}}`,
		`{"state":{"scope":"binance","partition":2,"next":1,"records":1,"at":5},"market":{"at":5,"symbols":{"BTCUSDT":{"t":5,"p":-1}}}}`,
		`{"state":{"scope":"binance","partition":2,"next":1,"records":1,"at":5},"market":{"at":5,"symbols":{"BTCUSDT":null}}}`,
		`{"state":{"scope":"binance","partition":2,"next":1,"records":1,"at":5},"market":{"at":5,"var_fast":1e999}}`} {
		f.Add([]byte(s))
	}
	r := &regime{cfg: DefaultConfig(nil, ptest.Prefix)}
	r.cfg.Now = func() time.Time { return time.UnixMilli(1_900_000_000_000) }
	_, frames := ptest.Crash().Frames()
	at, ticks, _ := DecodeTicks(frames[len(frames)-1])
	f.Fuzz(func(t *testing.T, raw []byte) {
		ck, err := r.decodeCheckpoint(raw, 2, topics.ExchangeBinance)
		if err != nil {
			return
		}
		if ck.State.Scope != topics.ExchangeBinance || ck.State.Partition != 2 || ck.State.Next <= 0 || ck.Market.AtMs != ck.State.AtMs {
			t.Fatalf("accepted %+v", ck.State)
		}
		for sym, s := range ck.Market.Symbols {
			if validate.Symbol(sym) != nil || !(s.Last > 0) || math.IsInf(s.Last, 0) || math.IsNaN(s.Avg) || math.IsInf(s.Avg, 0) {
				t.Fatalf("accepted series %q %+v", sym, s)
			}
		}
		// What the rebuild makes of it folds and encodes.
		st := ck.State
		st.Market = ck.Market
		if at >= st.AtMs {
			next, _ := step(r.cfg, st, at, ticks, nil)
			if _, err := json.Marshal(Checkpoint{State: next, Market: next.Market}); err != nil {
				t.Fatalf("the state does not encode: %v", err)
			}
		}
	})
}

func TestDecodeCheckpointRefusesWhatIsNotThisScopesMarket(t *testing.T) {
	r := &regime{cfg: DefaultConfig(nil, ptest.Prefix)}
	cks := realCheckpoints(t)
	last := cks[len(cks)-1]
	var ck Checkpoint
	if err := json.Unmarshal(last, &ck); err != nil {
		t.Fatal(err)
	}
	r.cfg.Now = func() time.Time { return time.UnixMilli(ck.State.AtMs) }
	if _, err := r.decodeCheckpoint(last, 2, topics.ExchangeBinance); err != nil {
		t.Fatalf("a real checkpoint refused: %v", err)
	}
	mutations := map[string]func(c *Checkpoint){
		"another scope":     func(c *Checkpoint) { c.State.Scope = "bybit" },
		"another partition": func(c *Checkpoint) { c.State.Partition = 1 },
		"no offset":         func(c *Checkpoint) { c.State.Next = 0 },
		"market elsewhen":   func(c *Checkpoint) { c.Market.AtMs++ },
		"from the future":   func(c *Checkpoint) { c.State.AtMs += 3_600_000; c.Market.AtMs = c.State.AtMs },
		"a zero price":      func(c *Checkpoint) { c.Market.Symbols["BTCUSDT"].Last = 0 },
		"a bad symbol":      func(c *Checkpoint) { c.Market.Symbols["x y"] = &Series{Last: 1, LastMs: 1} },
		"score 101":         func(c *Checkpoint) { c.State.Score = 101 },
	}
	for name, mutate := range mutations {
		var c Checkpoint
		_ = json.Unmarshal(last, &c)
		mutate(&c)
		raw, _ := json.Marshal(c)
		if _, err := r.decodeCheckpoint(raw, 2, topics.ExchangeBinance); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := r.decodeCheckpoint([]byte(`{"state":`+strings.Repeat(" ", MaxCheckpointBytes)+`}`), 2, topics.ExchangeBinance); err == nil {
		t.Error("a huge checkpoint accepted")
	}
}

// A checkpoint that does not add up with the table value (forged, or of
// another history) fails the rebuild, and a failed rebuild fails closed:
// the new instance starts from an empty market and keeps the gate
// degraded until the windows refill, instead of judging the market on
// the part of it it saw.
func TestKafkaARebuildThatFailsKeepsTheGateDegraded(t *testing.T) {
	// Newest checkpoint: 50 records at offset 10, where the input holds 10.
	failedRebuild(t, func(st State) State {
		st.Records, st.Next, st.AtMs = 50, 10, st.AtMs-60_000
		return st
	})
}

// A checkpoint at an input offset past the end of the input (forged) is
// refused: taken as newer than the table value, it would make the
// processor skip every record below its offset, stopping the regime for
// good.
func TestKafkaACheckpointPastTheInputFailsTheRebuild(t *testing.T) {
	failedRebuild(t, func(st State) State {
		st.Records, st.Next = st.Records+1_000_000, 1<<40
		return st
	})
}

// failedRebuild folds 60 frames, stops, writes forge of the table value
// as the newest checkpoint, and checks that a new instance's rebuild
// fails closed on it and goes on folding.
func failedRebuild(t *testing.T, forge func(State) State) {
	t.Helper()
	c := ptest.StartCluster(t)
	_, frames := ptest.Crash().Frames()
	in := string(InputTopic(ptest.Prefix))
	start := func() (*ptest.Running, *regime) {
		cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
		cfg.ViewOptions = ptest.ViewOptions()
		cfg.CheckpointEvery = 1000
		cfg.Now = func() time.Time { return time.UnixMilli(ptest.Crash().Start.Add(ptest.Crash().End).UnixMilli()) }
		p, rg, err := newRegime(cfg, ptest.ProcessorOptions(nil)...)
		if err != nil {
			t.Fatal(err)
		}
		return ptest.Run(t, p), rg
	}
	a, _ := start()
	for _, f := range frames[:60] {
		c.Produce(t, in, topics.ExchangeBinance, f)
	}
	testkit.Eventually(t, 30*time.Second, "60 records folded", func() bool { return records(a) == 60 })
	v, _ := a.P.Get(topics.ExchangeBinance)
	st := *v.(*State)
	if err := a.Stop(); err != nil {
		t.Fatal(err)
	}
	if st.Gate != regimestate.GateOpen {
		t.Fatalf("before: gate %s", st.Gate)
	}
	forged := forge(st)
	raw, _ := json.Marshal(Checkpoint{State: forged, Market: Market{AtMs: forged.AtMs, Symbols: map[string]*Series{}}})
	c.Produce(t, string(CheckpointTopic(ptest.Prefix)), topics.ExchangeBinance, raw)

	b, rg := start()
	for _, f := range frames[60:70] {
		c.Produce(t, in, topics.ExchangeBinance, f)
	}
	testkit.Eventually(t, 30*time.Second, "70 records folded", func() bool { return records(b) == 70 })
	v, _ = b.P.Get(topics.ExchangeBinance)
	after := v.(*State)
	if rg.lost.Load() != 1 || rg.rebuilt.Load() != 0 {
		t.Fatalf("rebuilt %d, lost %d; want the rebuild to fail once", rg.rebuilt.Load(), rg.lost.Load())
	}
	if after.Gate != regimestate.GateDegraded || !strings.Contains(after.Degraded, "recovering") {
		t.Fatalf("after a failed rebuild: gate %s (%s); want degraded", after.Gate, after.Degraded)
	}
	if reason, blocked := after.Blocked(); !blocked {
		t.Fatalf("a failed rebuild lets opens through: %s", reason)
	}
}
