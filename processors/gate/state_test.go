package gate

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// ProductionSymbols is the size of the live !markPrice@arr feed the
// issue measured (568 symbols).
const ProductionSymbols = 568

// regimeStates replays the crash scenario at symbols symbols (one frame
// every step) through the regime's pure Step, as the regime processor
// does, and returns every state it wrote to the table with its encoding.
func regimeStates(tb testing.TB, symbols int, step, end time.Duration) ([]regime.State, [][]byte) {
	tb.Helper()
	sc := ptest.Crash()
	sc.Symbols, sc.Step, sc.End = symbols, step, end
	_, frames := sc.Frames()
	cfg := regime.DefaultConfig(nil, ptest.Prefix)
	st := regime.State{Scope: topics.ExchangeBinance}
	var states []regime.State
	var raws [][]byte
	for _, f := range frames {
		at, ticks, err := regime.DecodeTicks(f)
		if err != nil {
			tb.Fatal(err)
		}
		st, _ = regime.Step(cfg, st, at, ticks, nil)
		raw, err := json.Marshal(st)
		if err != nil {
			tb.Fatal(err)
		}
		states, raws = append(states, st), append(raws, raw)
	}
	return states, raws
}

// productionState is a regime state of the live feed's size: 568
// symbols after ten minutes of one frame a second (about 50 KB of JSON),
// and its event time.
func productionState(tb testing.TB) ([]byte, int64) {
	tb.Helper()
	states, raws := regimeStates(tb, ProductionSymbols, time.Second, 10*time.Minute)
	return raws[len(raws)-1], states[len(states)-1].AtMs
}

// The gate keeps only gateState's cut of a regime state (no rolling
// market): over every state of the crash (Calm, Critical, cooldown), and
// those states degraded or with an unreadable override, with no, an allow
// or a block override, at several clocks, the cut decides exactly as the
// whole decoded state.
func TestGateStateDecidesAsTheWholeState(t *testing.T) {
	states, raws := regimeStates(t, 30, 30*time.Second, 6*time.Hour)
	bands := map[regime.Band]bool{}
	for i, raw := range raws {
		whole, err := decodeState(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(whole.Market.Symbols) == 0 {
			t.Fatal("the decoded state has no market: the test proves nothing")
		}
		bands[whole.Band] = true
		variants := []*regime.State{whole}
		for _, mutate := range []func(s *regime.State){
			func(s *regime.State) { s.Degraded = "BTCUSDT silent" },
			func(s *regime.State) { s.OverrideUnreadable = "garbage" },
		} {
			v := *whole
			mutate(&v)
			variants = append(variants, &v)
		}
		for _, whole := range variants {
			cut, _ := gateState(whole, nil)
			if cut.Market.Symbols != nil {
				t.Fatal("the cut keeps the market")
			}
			at := states[i].AtMs
			for _, ov := range []*topics.Override{nil, override("allow", at+60_000), override("block", at+60_000)} {
				for _, nowMs := range []int64{at, at + 30_000, at + 10*60_000, at - 5*60_000} {
					for _, in := range []topics.OpenIntent{intent(false), intent(true)} {
						base := Input{Intent: in, ClaimedMs: nowMs, Override: ov, NowMs: nowMs}
						a, b := base, base
						a.State, b.State = whole, cut
						if da, db := Decide(a, limits), Decide(b, limits); da != db {
							t.Fatalf("state %d at %d: whole %+v, cut %+v", i, nowMs, da, db)
						}
					}
				}
			}
		}
	}
	if !bands[regime.Calm] || !bands[regime.Critical] {
		t.Fatalf("bands seen %v: the crash should pass Calm and Critical", bands)
	}
}

// A production-size state is what the issue measured (40-90 KB of JSON).
func TestProductionStateIsProductionSize(t *testing.T) {
	if testing.Short() {
		t.Skip("replays ten minutes of 568 symbols")
	}
	raw, _ := productionState(t)
	var st regime.State
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Market.Symbols) != ProductionSymbols || len(raw) < 30<<10 {
		t.Fatalf("%d symbols, %d bytes", len(st.Market.Symbols), len(raw))
	}
	t.Logf("production state: %d symbols, %d bytes, band %s", len(st.Market.Symbols), len(raw), st.Band)
}
