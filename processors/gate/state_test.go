package gate

import (
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// ProductionSymbols is the size of the live !markPrice@arr feed the
// issue measured (568 symbols).
const ProductionSymbols = 568

// regimeStates replays the crash scenario at symbols symbols (one frame
// every step) through the regime's pure Step, as the regime processor
// does, and returns every state (with its market) and the table value it
// wrote (the state without its market).
func regimeStates(tb testing.TB, symbols int, step, end time.Duration) ([]regime.State, [][]byte) {
	tb.Helper()
	sc := ptest.Crash()
	sc.Symbols, sc.Step, sc.End = symbols, step, end
	_, frames := sc.Frames()
	cfg := regime.DefaultConfig(nil, ptest.Prefix)
	st := regime.State{State: regimestate.State{Scope: topics.ExchangeBinance}}
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

// withMarket is a regime table value of the design before the
// checkpoints (issue 12, point 3): the state with its rolling market.
type withMarket struct {
	regimestate.State
	Market regime.Market `json:"market"`
}

// productionState is a regime state of the live feed's size: 568
// symbols after ten minutes of one frame a second, as the table held it
// before the checkpoints, with its market (about 50 KB of JSON; the
// regime writes about 0.6 KB now, which only makes the gate's decode
// cheaper), and its event time. The Guard accepts it: the market is a
// field the gate does not read.
func productionState(tb testing.TB) ([]byte, int64) {
	tb.Helper()
	states, _ := regimeStates(tb, ProductionSymbols, time.Second, 10*time.Minute)
	last := states[len(states)-1]
	raw, err := json.Marshal(withMarket{State: last.State, Market: last.Market})
	if err != nil {
		tb.Fatal(err)
	}
	return raw, last.AtMs
}

// The gate reads the regime's table value (regimestate.State), which
// leaves out the rolling market (the regime keeps it in memory): over
// every state of the crash (Calm, Critical, cooldown), and those states
// degraded or with an unreadable override, with no, an allow or a block
// override, at several clocks, the decoded table value decides exactly as
// the regime's whole state, market included.
func TestGateStateDecidesAsTheWholeState(t *testing.T) {
	states, raws := regimeStates(t, 30, 30*time.Second, 6*time.Hour)
	bands := map[regimestate.Band]bool{}
	for i, raw := range raws {
		decoded, err := decodeState(raw)
		if err != nil {
			t.Fatal(err)
		}
		if len(states[i].Market.Symbols) == 0 {
			t.Fatal("the regime's state has no market: the test proves nothing")
		}
		if decoded.Scope != states[i].Scope || decoded.Band != states[i].Band || decoded.Gate != states[i].Gate {
			t.Fatalf("state %d decoded as %+v", i, decoded)
		}
		bands[states[i].Band] = true
		for _, mutate := range []func(s *regimestate.State){
			func(*regimestate.State) {},
			func(s *regimestate.State) { s.Degraded = "BTCUSDT silent" },
			func(s *regimestate.State) { s.OverrideUnreadable = "garbage" },
		} {
			whole, read := states[i].State, *decoded
			mutate(&whole)
			mutate(&read)
			at := states[i].AtMs
			for _, ov := range []*topics.Override{nil, override("allow", at+60_000), override("block", at+60_000)} {
				for _, nowMs := range []int64{at, at + 30_000, at + 10*60_000, at - 5*60_000} {
					for _, in := range []topics.OpenIntent{intent(false), intent(true)} {
						base := Input{Intent: in, ClaimedMs: nowMs, Override: ov, NowMs: nowMs}
						a, b := base, base
						a.State, b.State = &whole, &read
						if da, db := Decide(a, limits), Decide(b, limits); da != db {
							t.Fatalf("state %d at %d: whole %+v, read %+v", i, nowMs, da, db)
						}
					}
				}
			}
		}
	}
	if !bands[regimestate.Calm] || !bands[regimestate.Critical] {
		t.Fatalf("bands seen %v: the crash should pass Calm and Critical", bands)
	}
}

// A production-size state is what the issue measured (40-90 KB of JSON).
func TestProductionStateIsProductionSize(t *testing.T) {
	if testing.Short() {
		t.Skip("replays ten minutes of 568 symbols")
	}
	raw, _ := productionState(t)
	var st withMarket
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Market.Symbols) != ProductionSymbols || len(raw) < 30<<10 {
		t.Fatalf("%d symbols, %d bytes", len(st.Market.Symbols), len(raw))
	}
	t.Logf("production state: %d symbols, %d bytes, band %s", len(st.Market.Symbols), len(raw), st.Band)
}

// Through the running gate (goka's tester), every state of the crash
// written to the table one after the other, with intents of every kind
// and overrides set and cleared in between: the gate's decoded state
// decides each intent exactly as reading and decoding the View for it
// (the old path, gate.uncached), and a new state is seen by the very next
// intent.
func TestGateCachedStateDecidesAsThePerIntentRead(t *testing.T) {
	g := newGateTest(t)
	states, _ := regimeStates(t, 30, 5*time.Minute, 6*time.Hour)
	var judged, allowed, refused int
	for i := range states {
		st := states[i].State
		g.setState(t, &st)
		switch i % 7 {
		case 3:
			g.setOverride(t, overrideRecord(t, "block", now+3_600_000))
		case 4:
			g.setOverride(t, overrideRecord(t, "clear", now+3_600_000))
		case 5:
			g.setOverride(t, []byte(`{"scope":"global","action":`)) // garbage: the last good override stays
		}
		for _, nowMs := range []int64{st.AtMs, st.AtMs + 10*60_000} {
			g.g.cfg.Now = func() time.Time { return time.UnixMilli(nowMs) }
			for _, in := range []topics.OpenIntent{intent(false), intent(true), {Account: "a", Symbol: "BTCUSDT", Side: "SELL", Size: "1", Exchange: "kucoin", CreatedMs: nowMs}} {
				in.CreatedMs = nowMs
				raw, _ := json.Marshal(in)
				g.g.uncached = false
				cached := g.g.judge(raw, "a", time.Time{})
				g.g.uncached = true
				old := g.g.judge(raw, "a", time.Time{})
				g.g.uncached = false
				if cached != old {
					t.Fatalf("state %d (%s) at %d: cached %+v, per-intent read %+v", i, st.Band, nowMs, cached, old)
				}
				if in.Exchange == "" && !in.Reduce && cached.d.Band != string(st.Band) {
					t.Fatalf("state %d: decided on band %q, the table holds %q", i, cached.d.Band, st.Band)
				}
				judged++
				if cached.d.Allowed {
					allowed++
				} else {
					refused++
				}
			}
		}
	}
	if allowed == 0 || refused == 0 {
		t.Fatalf("%d judged, %d allowed, %d refused: the test proves little", judged, allowed, refused)
	}
}

// FuzzRegimeStateRead attacks the gate's read of the regime table, whose
// topic anyone with write access can fill: a value the Guard accepts
// (parseState) always decodes, to exactly the state the gate reads
// (decodeState), and every read decides every kind of intent, with and
// without overrides, at several clocks, without a panic, as the Guard's
// parse of it does. Seeds: the states the regime makes of the
// real mark-price frames (../shared/binance-frames) and of the crash, and
// garbage.
func FuzzRegimeStateRead(f *testing.F) {
	paths := testkit.SharedFiles(f, "binance-frames/*markPriceUpdate*.json")
	cfg := regime.DefaultConfig(nil, ptest.Prefix)
	for _, p := range paths {
		frame, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		at, ticks, err := regime.DecodeTicks(frame)
		if err != nil {
			continue
		}
		st, _ := regime.Step(cfg, regime.State{State: regimestate.State{Scope: topics.ExchangeBinance}}, at, ticks, nil)
		raw, _ := json.Marshal(st)
		f.Add(raw)
	}
	_, raws := regimeStates(f, 5, 30*time.Minute, 6*time.Hour)
	for _, raw := range raws {
		f.Add(raw)
	}
	for _, s := range []string{``, `null`, `{}`, `{"band":"Calm","score":0,"at":1}`, `{"band":"Critical","score":100,"at":1,"degraded":"x"}`,
		`{"band":"Calm","score":1e400,"at":1}`, `{"band":"Calm","score":0,"at":1,"market":5}`, `{"band":"Calm","score":0,"at":1,"market":{"symbols":{"X":null}}}`,
		`{"band":"Calm","score":0,"at":9223372036854775807,"cooldown_until":-1,"override":{"action":"allow","until":9223372036854775807}}`,
		"\x00kraite:unreadable\x00garbage"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		parsed, checkErr := parseState(topics.ExchangeBinance, raw)
		whole, err := decodeState(raw)
		if checkErr == nil && err != nil {
			t.Fatalf("accepted by the Guard but unreadable: %v", err)
		}
		if whole == nil {
			return
		}
		var accepted *regimestate.State
		if checkErr == nil {
			accepted = parsed.(*regimestate.State)
			if !reflect.DeepEqual(accepted, whole) {
				t.Fatalf("the Guard parsed %+v, the read is %+v", accepted, whole)
			}
		}
		for _, ov := range []*topics.Override{nil, override("allow", whole.AtMs+60_000), override("block", whole.AtMs+60_000)} {
			for _, nowMs := range []int64{whole.AtMs, whole.AtMs + 30_000, now} {
				for _, in := range []topics.OpenIntent{intent(false), intent(true)} {
					base := Input{Intent: in, ClaimedMs: nowMs, Override: ov, NowMs: nowMs}
					a, b := base, base
					a.State, b.State = whole, accepted
					if da := Decide(a, limits); accepted != nil {
						if db := Decide(b, limits); da != db {
							t.Fatalf("at %d: read %+v, parsed %+v", nowMs, da, db)
						}
					}
				}
			}
		}
	})
}
