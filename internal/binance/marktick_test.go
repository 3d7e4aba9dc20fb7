package binance

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestReadMarkTicksRealFrames(t *testing.T) {
	n := 0
	for name, frame := range loadFrames(t) {
		if !strings.Contains(name, "markPrice") {
			continue
		}
		n++
		ticks, err := ReadMarkTicks(frame)
		if err != nil || len(ticks) == 0 {
			t.Fatalf("%s: %v %+v", name, err, ticks)
		}
		for _, tk := range ticks {
			if tk.Err != nil || tk.Event != EventMarkPriceUpdate || tk.Symbol == "" || tk.Price == "" || len(tk.E) == 0 {
				t.Fatalf("%s: %+v", name, tk)
			}
		}
		ev, err := Decode(frame)
		if err != nil || len(ev.MarkPrices) != len(ticks) {
			t.Fatalf("%s: Decode gives %d mark prices (%v), ReadMarkTicks %d", name, len(ev.MarkPrices), err, len(ticks))
		}
		for i, mp := range ev.MarkPrices {
			if string(mp.Symbol) != ticks[i].Symbol || string(mp.MarkPrice) != ticks[i].Price {
				t.Fatalf("%s: element %d: %+v vs %+v", name, i, mp, ticks[i])
			}
		}
	}
	if n < 6 {
		t.Fatalf("only %d mark-price frames", n)
	}
}

func TestReadMarkTicksJudgesElementsAlone(t *testing.T) {
	ticks, err := ReadMarkTicks([]byte(`{"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":"7","s":"A","p":"1","P":"9","S":"B"},null,7,{"p":5},{"e":"markPriceUpdate","s":null}]}`))
	if err != nil || len(ticks) != 5 {
		t.Fatalf("%v %+v", err, ticks)
	}
	if tk := ticks[0]; tk.Err != nil || tk.Symbol != "A" || tk.Price != "1" || string(tk.E) != `"7"` {
		t.Fatalf("%+v", tk)
	}
	if ticks[1].Err != nil || ticks[1].Event != "" || ticks[2].Err == nil || ticks[3].Err == nil || ticks[4].Err != nil {
		t.Fatalf("%+v", ticks)
	}
	for _, bad := range []string{``, `x`, `[1,]`, `{"stream":5,"data":[]}`, `[{"e":"x"}] [`, `["\x01"]`} {
		if _, err := ReadMarkTicks([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzReadMarkTicks: ReadMarkTicks never panics, accepts only valid JSON,
// and returns one tick per element of an array frame.
func FuzzReadMarkTicks(f *testing.F) {
	for name, frame := range loadFrames(f) {
		if strings.Contains(name, "markPrice") {
			f.Add(frame)
		}
	}
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1,"s":"X","p":"1"},null,"junk",{"p":5}]`))
	f.Add([]byte(`{"stream":"s","data":{"e":"markPriceUpdate","E":"1","s":"X","p":"1"}}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		ticks, err := ReadMarkTicks(frame)
		if err != nil {
			return
		}
		trimmed := bytes.TrimSpace(frame)
		if !json.Valid(trimmed) {
			t.Fatalf("accepted invalid JSON %q", frame)
		}
		var elems []json.RawMessage
		if trimmed[0] == '[' {
			if err := json.Unmarshal(trimmed, &elems); err != nil || len(elems) != len(ticks) {
				t.Fatalf("%d ticks for %d elements (%v)", len(ticks), len(elems), err)
			}
		}
	})
}
