package regime

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// withoutSymbols rewrites a !markPrice@arr frame keeping only the elements
// keep accepts (a partly silent feed).
func withoutSymbols(t *testing.T, frame []byte, keep func(sym string) bool) []byte {
	t.Helper()
	var arr []map[string]any
	if err := json.Unmarshal(frame, &arr); err != nil {
		t.Fatal(err)
	}
	out := arr[:0]
	for _, e := range arr {
		if keep(e["s"].(string)) {
			out = append(out, e)
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isBTC(s string) bool { return s == "BTCUSDT" }

// TestRegimeDegradedFeedBlocksOpensAndIsRecorded: BTCUSDT silent for ten
// minutes of a quiet market (30 s cadence). The gate goes to "degraded"
// within a minute of event time, with the reason in the state and in a
// RegimeChange; it reopens Recovery after the last degraded record, with
// a RegimeChange too.
func TestRegimeDegradedFeedBlocksOpensAndIsRecorded(t *testing.T) {
	r := newRegimeTest(t)
	times, frames := ptest.Crash().Frames()
	for _, f := range frames[:60] {
		r.feed(f)
	}
	if cs := r.drain(t); len(cs) != 1 || cs[0].Gate != regimestate.GateOpen {
		t.Fatalf("quiet start: %v", path(cs))
	}
	for _, f := range frames[60:80] {
		r.feed(withoutSymbols(t, f, func(s string) bool { return !isBTC(s) }))
	}
	st := r.state(t)
	if st.Gate != regimestate.GateDegraded || !strings.Contains(st.Degraded, "BTCUSDT silent") {
		t.Fatalf("BTC silent for 10 min: gate %s, degraded %q", st.Gate, st.Degraded)
	}
	if reason, blocked := st.Blocked(); !blocked || !strings.HasPrefix(reason, "regime degraded: BTCUSDT silent") {
		t.Fatalf("Blocked() = %q, %v", reason, blocked)
	}
	if g, _ := regimestate.GateStatus(&st.State, nil, st.AtMs); g != regimestate.GateDegraded {
		t.Fatalf("GateStatus = %s", g)
	}
	cs := r.drain(t)
	if len(cs) != 1 || cs[0].Gate != regimestate.GateDegraded || cs[0].To != string(regimestate.Calm) || !strings.Contains(cs[0].Degraded, "BTCUSDT") {
		t.Fatalf("entering degraded: %+v", cs)
	}
	if silentFor := cs[0].AtMs - times[59]; silentFor > time.Minute.Milliseconds() {
		t.Fatalf("degraded after %s of silence, want within a minute", time.Duration(silentFor)*time.Millisecond)
	}
	i := 80
	for ; times[i] < times[79]+(15*time.Minute).Milliseconds(); i++ {
		r.feed(frames[i])
	}
	if st := r.state(t); st.Gate != regimestate.GateDegraded || !strings.Contains(st.Degraded, "recovering") {
		t.Fatalf("right after BTC returned: gate %s, degraded %q", st.Gate, st.Degraded)
	}
	r.feed(frames[i])
	cs = r.drain(t)
	if len(cs) != 1 || cs[0].Gate != regimestate.GateOpen || cs[0].Degraded != "" || cs[0].AtMs != times[i] {
		t.Fatalf("leaving degraded: %+v", cs)
	}
}

func TestRegimeAltcoinsSilentIsDegradedAndAnAllowOverrideBeatsIt(t *testing.T) {
	r := newRegimeTest(t)
	times, frames := ptest.Crash().Frames()
	for _, f := range frames[:10] {
		r.feed(f)
	}
	for _, f := range frames[10:13] {
		r.feed(withoutSymbols(t, f, isBTC))
	}
	st := r.state(t)
	if st.Gate != regimestate.GateDegraded || !strings.Contains(st.Degraded, "of 30 symbols ticked") {
		t.Fatalf("altcoins silent: gate %s, degraded %q", st.Gate, st.Degraded)
	}
	ov, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "allow", UntilMs: times[20], Reason: "feed known bad", CreatedMs: times[12]})
	r.tt.Consume(string(OverridesTable(prefix)), regimestate.OverrideScope, ov)
	r.feed(withoutSymbols(t, frames[13], isBTC))
	if st := r.state(t); st.Gate != regimestate.GateOverrideAllow || st.Degraded == "" {
		t.Fatalf("allow override during degraded: gate %s, degraded %q", st.Gate, st.Degraded)
	}
	for _, f := range frames[14:21] {
		r.feed(withoutSymbols(t, f, isBTC))
	}
	if st := r.state(t); st.Gate != regimestate.GateDegraded {
		t.Fatalf("after the override expired: gate %s", st.Gate)
	}
}

func TestRegimeTooFewSymbolsIsDegraded(t *testing.T) {
	r := newRegimeTest(t)
	_, frames := ptest.Crash().Frames()
	r.feed(withoutSymbols(t, frames[0], func(s string) bool { return s <= "ALT03USDT" || isBTC(s) }))
	if st := r.state(t); st.Gate != regimestate.GateDegraded || !strings.Contains(st.Degraded, "4 symbols known") {
		t.Fatalf("4 symbols: gate %s, degraded %q", st.Gate, st.Degraded)
	}
}

// TestStepIsPureOnOneSecondData replays an hour of a real crash at 1 s
// through Step twice: identical states and changes, and Step never
// modifies the state it is given.
func TestStepIsPureOnOneSecondData(t *testing.T) {
	var c struct {
		tape
		start int64
	}
	for _, x := range crashTapes(t) {
		if x.name == "crash-2025-10-10.csv" {
			c = x
		}
	}
	run := func() ([]byte, []byte) {
		cfg := cadenceConfig(c.tape)
		st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
		var changes []topics.RegimeChange
		k := 0
		for at := c.start; at < c.start+hour; at += 1000 {
			for k+1 < len(c.times) && c.times[k+1] <= at {
				k++
			}
			ticks := make([]Tick, 0, len(c.syms))
			for i, s := range c.syms {
				f := float64(at-c.times[k]) / float64(c.times[k+1]-c.times[k])
				ticks = append(ticks, Tick{Symbol: s, Price: c.closes[k][i] + f*(c.closes[k+1][i]-c.closes[k][i]), AtMs: at})
			}
			before, _ := json.Marshal(st)
			next, ch := Step(cfg, st, at, ticks, nil)
			if after, _ := json.Marshal(st); string(after) != string(before) {
				t.Fatalf("Step modified its input state at %s", utc(at))
			}
			if ch != nil {
				changes = append(changes, *ch)
			}
			st = next
		}
		a, _ := json.Marshal(changes)
		b, _ := json.Marshal(st)
		return a, b
	}
	c1, s1 := run()
	c2, s2 := run()
	if string(c1) != string(c2) || string(s1) != string(s2) {
		t.Fatal("two replays of the same records differ")
	}
	if !strings.Contains(string(c1), `"to_band":"Critical"`) {
		t.Fatalf("the hour of the crash never went Critical: %s", c1)
	}
}

func TestTransitionLeavesABandOnlyAfterTheHold(t *testing.T) {
	cfg := DefaultConfig(nil, "kraite.")
	cfg.DownHold = 10 * time.Minute
	const t0 = int64(1_700_000_000_000)
	st, _ := Transition(cfg, State{}, 90, t0, "", nil)
	if st.Band != regimestate.Critical {
		t.Fatalf("band %s", st.Band)
	}
	// Dips below the floor shorter than the hold do not leave Critical.
	for i, sc := range []float64{60, 80, 60, 60} {
		st, _ = Transition(cfg, st, sc, t0+int64(i+1)*minute*4, "", nil)
		if st.Band != regimestate.Critical {
			t.Fatalf("left Critical on a dip at step %d: %s", i, st.Band)
		}
	}
	// Score 60 since t0+12 min; the hold ends at t0+22 min.
	st, _ = Transition(cfg, st, 60, t0+22*minute-1, "", nil)
	if st.Band != regimestate.Critical {
		t.Fatalf("left before the hold: %s", st.Band)
	}
	st, ch := Transition(cfg, st, 60, t0+22*minute, "", nil)
	if st.Band != regimestate.Fragile || !ch || st.Gate != regimestate.GateCooldown || st.CooldownUntilMs != t0+22*minute+cfg.Cooldown.Milliseconds() {
		t.Fatalf("after the hold: band %s gate %s cooldown %d", st.Band, st.Gate, st.CooldownUntilMs)
	}
	cfg.DownHold = 0
	st, _ = Transition(cfg, State{State: regimestate.State{Band: regimestate.Critical}}, 10, t0, "", nil)
	if st.Band != regimestate.Calm {
		t.Fatalf("without a hold: %s", st.Band)
	}
}

// frameOf renders ticks as a live !markPrice@arr frame.
func frameOf(at int64, ticks []Tick) []byte {
	b := []byte{'['}
	for i, tk := range ticks {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"e":"markPriceUpdate","E":%d,"s":"%s","p":"%s","P":"0","i":"0","r":"0","T":%d}`,
			at, tk.Symbol, strconv.FormatFloat(tk.Price, 'f', -1, 64), at)
	}
	return append(b, ']')
}

// TestRegimeProcessorClosesTheGateWhenBTCGoesSilentInARealCrash runs the
// processor graph (goka's tester) on the 2025-10-10 crash at 1 s cadence,
// BTCUSDT silent from the onset: within a minute of event time the table
// holds a degraded state and kraite.regime-changes has the change.
func TestRegimeProcessorClosesTheGateWhenBTCGoesSilentInARealCrash(t *testing.T) {
	var c struct {
		tape
		start int64
	}
	for _, x := range crashTapes(t) {
		if x.name == "crash-2025-10-10.csv" {
			c = x
		}
	}
	end := c.start + 5*minute
	r := newRegimeTest(t, clockAt(time.UnixMilli(end)))
	k := 0
	for at := c.start - 20*minute; at <= end; at += 1000 {
		for k+1 < len(c.times) && c.times[k+1] <= at {
			k++
		}
		var ticks []Tick
		for i, s := range c.syms {
			if s == "BTCUSDT" && at >= c.start {
				continue
			}
			f := float64(at-c.times[k]) / float64(c.times[k+1]-c.times[k])
			ticks = append(ticks, Tick{Symbol: s, Price: c.closes[k][i] + f*(c.closes[k+1][i]-c.closes[k][i])})
		}
		r.feed(frameOf(at, ticks))
	}
	cs := r.drain(t)
	i := indexAfter(cs, 0, func(ch topics.RegimeChange) bool { return ch.Gate == regimestate.GateDegraded })
	if i < 0 || cs[i].AtMs > c.start+minute || !strings.Contains(cs[i].Degraded, "BTCUSDT silent") {
		t.Fatalf("no degraded change within a minute of %s: %+v", utc(c.start), cs)
	}
	if st := r.state(t); st.Gate != regimestate.GateDegraded || st.Records != 25*60+1 {
		t.Fatalf("final state: gate %s, %d records", st.Gate, st.Records)
	}
}
