package markprice

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzDecodeTick: DecodeTick never panics; every price it returns has a
// symbol and a plain decimal price that Scale accepts; an error means no
// price at all.
func FuzzDecodeTick(f *testing.F) {
	paths, _ := filepath.Glob("../../../shared/binance-frames/*markPrice*.json")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`[{"e":"markPriceUpdate","E":"1","s":"X","p":"1.5"},{"e":"x"}]`))
	f.Add([]byte(`{"stream":"!markPrice@arr","data":[]}`))
	f.Add([]byte(`[{"e":"markPriceUpdate","s":"X","p":"-1"}]`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		prices, err := DecodeTick(frame)
		if err != nil {
			if len(prices) != 0 {
				t.Fatal("prices with an error")
			}
			return
		}
		for _, p := range prices {
			if p.Symbol == "" {
				t.Fatal("empty symbol")
			}
			if _, err := Scale(p.Price, 10); err != nil {
				t.Fatalf("decoded price %q does not scale: %v", p.Price, err)
			}
		}
	})
}

func TestDecodeTickReadsTheRealFrames(t *testing.T) {
	paths, _ := filepath.Glob("../../../shared/binance-frames/*markPrice*arr*.json")
	if len(paths) == 0 {
		t.Skip("no frames")
	}
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
	m.put([]Price{{"A", "1", 1}, {"B", "1", 1}}, &kgo.Record{Offset: 1})
	m.put([]Price{{"A", "2", 2}}, &kgo.Record{Offset: 2})
	m.put([]Price{{"B", "0.5", 0}}, &kgo.Record{Offset: 3}) // older than the pending B
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
