package regime

import (
	"cmp"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/kraite/stream/internal/binance"
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
	paths, _ := filepath.Glob(filepath.Join("..", "..", "..", "shared", "binance-frames", "*markPriceUpdate*.json"))
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
