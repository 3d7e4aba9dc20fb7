package regime

import (
	"cmp"
	"encoding/json"
	"math"
	"os"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
)

// slowTicks decodes through binance.Decode only (the reference path).
func slowTicks(raw []byte) (int64, []Tick, bool) {
	ev, err := binance.Decode(raw)
	if err != nil || len(ev.MarkPrices) == 0 {
		return 0, nil, false
	}
	at := ev.EventTime
	var ticks []Tick
	for _, mp := range ev.MarkPrices {
		at = max(at, mp.EventTime)
		ticks = appendTick(ticks, string(mp.Symbol), string(mp.MarkPrice), cmp.Or(mp.EventTime, ev.EventTime))
	}
	return at, ticks, true
}

func markFrames(t testing.TB) [][]byte {
	t.Helper()
	paths := testkit.SharedFiles(t, "binance-frames/*markPriceUpdate*.json")
	var out [][]byte
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	_, synth := ptest.Crash().Frames()
	return append(out, synth[:3]...)
}

func TestDecodeTicksFastPathMatchesTheDecoder(t *testing.T) {
	for i, f := range markFrames(t) {
		at, ticks, err := DecodeTicks(f)
		sat, sticks, ok := slowTicks(f)
		if err != nil || !ok {
			t.Fatalf("frame %d: err=%v ok=%v", i, err, ok)
		}
		if at != sat || !reflect.DeepEqual(ticks, sticks) || len(ticks) == 0 {
			t.Fatalf("frame %d: fast (%d %v) != slow (%d %v)", i, at, ticks, sat, sticks)
		}
	}
}

// FuzzDecodeTicks: never panics; an accepted frame agrees with the
// reference decoder on time and ticks.
func FuzzDecodeTicks(f *testing.F) {
	for _, fr := range markFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte(`[{"e":"markPriceUpdate","E":"12","s":"X","p":"1e400"}]`))
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1,"s":"X","p":"1","P":"2"}]`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		at, ticks, err := DecodeTicks(frame)
		if err != nil {
			return
		}
		sat, sticks, ok := slowTicks(frame)
		if !ok || at != sat || len(ticks) != len(sticks) {
			t.Fatalf("fast (%d %v) vs slow (%d %v %v)", at, ticks, sat, sticks, ok)
		}
	})
}

// FuzzStepKeepsTheStateEncodable: whatever frame is decoded and folded
// into a warm state, the next state encodes as JSON (a codec error would
// stop the processor), the score stays within 0..100 and the band is one of
// the four.
func FuzzStepKeepsTheStateEncodable(f *testing.F) {
	for _, fr := range markFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1772324460000,"s":"BTCUSDT","p":"0.000000000000000001"}]`))
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1772324460000,"s":"BTCUSDT","p":"999999999999999999"}]`))
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1772324460000,"s":"BTCUSDT","p":"NaN"},{"e":"markPriceUpdate","E":1,"s":"x y","p":"1"}]`))
	times, frames := ptest.Crash().Frames()
	cfg := DefaultConfig(nil, "kraite.")
	warm := State{State: regimestate.State{Scope: "binance"}}
	for _, fr := range frames[:200] {
		at, ticks, err := DecodeTicks(fr)
		if err != nil {
			f.Fatal(err)
		}
		warm, _ = Step(cfg, warm, at, ticks, nil)
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		at, ticks, err := DecodeTicks(frame)
		if err != nil {
			return
		}
		at, ticks, err = BoundTicks(at, ticks, time.UnixMilli(times[199]).Add(time.Hour), 0)
		if len(ticks) == 0 || at < warm.AtMs {
			return
		}
		next, _ := Step(cfg, warm, at, ticks, nil)
		if _, err := json.Marshal(next); err != nil {
			t.Fatalf("state does not encode: %v", err)
		}
		if !(next.Score >= 0 && next.Score <= 100) || !slices.Contains([]regimestate.Band{regimestate.Calm, regimestate.Elevated, regimestate.Fragile, regimestate.Critical}, next.Band) {
			t.Fatalf("score %v band %q", next.Score, next.Band)
		}
		for _, tk := range ticks {
			if !(tk.Price > 0) || math.IsInf(tk.Price, 0) {
				t.Fatalf("tick %+v passed validation", tk)
			}
		}
	})
}
