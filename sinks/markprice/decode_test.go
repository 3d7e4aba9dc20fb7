package markprice

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/validate"
)

// FuzzDecodeTick: DecodeTick never panics; every price it returns has a
// symbol and a plain decimal price that Scale accepts; an error means no
// price at all.
func FuzzDecodeTick(f *testing.F) {
	paths := testkit.SharedFiles(f, "binance-frames/*markPrice*.json")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`[{"e":"markPriceUpdate","E":"1","s":"X","p":"1.5"},{"e":"x"}]`))
	f.Add([]byte(`{"stream":"!markPrice@arr","data":[]}`))
	f.Add([]byte(`[{"e":"markPriceUpdate","s":"X","p":"-1"}]`))
	f.Add([]byte(`[{"e":"markPriceUpdate","E":4102444800000,"s":"BTCUSDT","p":"1"},{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"1e999999","P":"5"}]`))
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1234567890123456789"},{"E":1,"s":"X","p":"0"},7,null]`))
	now := time.Now()
	f.Fuzz(func(t *testing.T, frame []byte) {
		prices, skipped, err := DecodeTickAt(frame, now, time.Minute)
		if err != nil {
			if len(prices) != 0 {
				t.Fatal("prices with an error")
			}
			return
		}
		for _, p := range prices {
			if err := validate.Symbol(p.Symbol); err != nil {
				t.Fatal(err)
			}
			if err := validate.MarkPrice(p.Price); err != nil {
				t.Fatalf("decoded price: %v", err)
			}
			if p.EventTime <= 0 || p.EventTime > now.Add(time.Minute).UnixMilli() {
				t.Fatalf("event time %d", p.EventTime)
			}
		}
		for _, e := range skipped {
			if len(e.Error()) > 4096 {
				t.Fatalf("unbounded reason (%d bytes)", len(e.Error()))
			}
		}
	})
}

func TestDecodeTickReadsTheRealFrames(t *testing.T) {
	paths := testkit.SharedFiles(t, "binance-frames/*markPrice*arr*.json")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		prices, err := DecodeTick(b)
		if err != nil || len(prices) == 0 || !strings.HasSuffix(prices[0].Symbol, "USDT") || prices[0].EventTime == 0 {
			t.Errorf("%s: %v %+v", filepath.Base(p), err, prices)
		}
	}
}

func TestMailboxMergesInsteadOfQueueing(t *testing.T) {
	m := newMailbox()
	m.put([]Price{{Symbol: "A", Price: "1", EventTime: 1}, {Symbol: "B", Price: "1", EventTime: 1}}, &kgo.Record{Offset: 1})
	m.put([]Price{{Symbol: "A", Price: "2", EventTime: 2}}, &kgo.Record{Offset: 2})
	m.put([]Price{{Symbol: "B", Price: "0.5", EventTime: 0}}, &kgo.Record{Offset: 3}) // older than the pending B
	prices, recs := m.take()
	if len(prices) != 2 || prices["A"].Price != "2" || prices["B"].Price != "1" {
		t.Fatalf("prices = %+v", prices)
	}
	if len(recs) != 3 || m.skippedTicks() != 2 {
		t.Fatalf("recs %d skipped %d", len(recs), m.skippedTicks())
	}
	if p, r := m.take(); p != nil || r != nil {
		t.Fatal("take did not empty the slot")
	}
}

// Issue 10 item 5: the mark price is "p", never "P" (the estimated settle
// price) nor "i" (the index price). encoding/json matches keys
// case-insensitively, so a decoder declaring only "p" took the later "P".
// These real frames carry three different values.
func TestDecodeTickTakesPAndOnlyP(t *testing.T) {
	paths := testkit.SharedFiles(t, "binance-frames/*markPrice*.json")
	checked := 0
	for _, path := range paths {
		b, _ := os.ReadFile(path)
		var generic any
		if err := json.Unmarshal(b, &generic); err != nil {
			t.Fatal(err)
		}
		if m, ok := generic.(map[string]any); ok && m["data"] != nil {
			generic = m["data"]
		}
		elems, ok := generic.([]any)
		if !ok {
			elems = []any{generic}
		}
		want := map[string]string{}
		differ := false
		for _, e := range elems {
			m := e.(map[string]any)
			want[m["s"].(string)] = m["p"].(string)
			if P, ok := m["P"].(string); ok && P != m["p"] && m["i"] != m["p"] && m["i"] != P {
				differ = true
			}
		}
		if !differ {
			continue
		}
		prices, _, err := DecodeTickAt(b, time.UnixMilli(1<<62), time.Minute) // frames from 2019-2023
		if err != nil || len(prices) != len(want) {
			t.Fatalf("%s: %v %+v", filepath.Base(path), err, prices)
		}
		for _, p := range prices {
			if p.Price != want[p.Symbol] {
				t.Errorf("%s: %s decoded %s, want p = %s", filepath.Base(path), p.Symbol, p.Price, want[p.Symbol])
			}
		}
		checked++
	}
	if checked < 3 {
		t.Fatalf("only %d frames with p, i and P all different", checked)
	}
}

// Issue 10 item 4: a bad tick inside a good frame is skipped with its
// reason and the other symbols keep theirs; a frame with nothing usable is
// an error carrying the reasons.
func TestDecodeTickSkipsBadTicksOnly(t *testing.T) {
	now := time.Now()
	ms := now.UnixMilli()
	frame := fmt.Sprintf(`{"stream":"!markPrice@arr","data":[
		{"e":"markPriceUpdate","E":%[1]d,"s":"BTCUSDT","p":"65000.5","P":"1","i":"2"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"ETHUSDT","p":"1234567890123456789"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"SOLUSDT","p":"0"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"XRPUSDT","p":"-1.5"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"ADAUSDT","p":"NaN"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"DOTUSDT","p":"1e999999"},
		{"e":"markPriceUpdate","E":4102444800000,"s":"BNBUSDT","p":"600"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"bad symbol","p":"1"},
		{"e":"markPriceUpdate","E":%[1]d,"s":"LTCUSDT","p":12},
		{"e":"markPriceUpdate","s":"DOGEUSDT","p":"0.1"},
		"junk",
		{"e":"markPriceUpdate","E":"%[1]d","s":"TRXUSDT","p":"0.12"}
	]}`, ms)
	prices, skipped, err := DecodeTickAt([]byte(frame), now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(prices) != 2 || prices[0].Symbol != "BTCUSDT" || prices[0].Price != "65000.5" || prices[1].Symbol != "TRXUSDT" {
		t.Fatalf("prices %+v", prices)
	}
	if len(skipped) != 10 {
		t.Fatalf("%d skipped: %v", len(skipped), skipped)
	}
	for i, want := range []string{"integer digits", "is zero", "is negative", "not a plain decimal", "not a plain decimal",
		"ahead of this consumer's clock", "symbol", "not a markPriceUpdate object", "not a positive", "not a markPriceUpdate object"} {
		if !strings.Contains(skipped[i].Error(), want) {
			t.Errorf("skipped[%d] = %v, want %q", i, skipped[i], want)
		}
	}
	_, skipped, err = DecodeTickAt([]byte(`[{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"0"}]`), now, time.Minute)
	if err == nil || len(skipped) != 1 || !strings.Contains(err.Error(), "is zero") {
		t.Fatalf("an all-bad frame: %v %v", err, skipped)
	}
}
