package markprice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/testkit/jsonkeys"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// refDecodeTickAt is the reflection decoder that DecodeTickAt replaced (the
// frame parsed two or three times through encoding/json), kept as the
// reference of FuzzDecodeTickMatchesReference.

// refRawPrice is one markPriceUpdate element. encoding/json matches keys
// case-insensitively when no field has the exact name, so "P" (the estimated
// settle price, which follows "p" in every frame) would overwrite the mark
// price if only "p" were declared: Settle is declared to take it, and is
// never used. The same holds for "e" and "E".
type refRawPrice struct {
	Event  string          `json:"e"`
	E      json.RawMessage `json:"E"`
	Symbol string          `json:"s"`
	Price  string          `json:"p"`
	Settle json.RawMessage `json:"P"`
}

func refDecodeTickAt(frame []byte, now time.Time, maxAhead time.Duration) (prices []Price, skipped []error, err error) {
	payload, err := refUnwrap(frame)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding mark-price frame: %w", err)
	}
	var elems []json.RawMessage
	if len(payload) > 0 && payload[0] == '[' {
		if err := json.Unmarshal(payload, &elems); err != nil {
			return nil, nil, fmt.Errorf("decoding mark-price array: %w", err)
		}
	} else {
		elems = []json.RawMessage{payload}
	}
	return collect(len(elems), func(i int) (Price, error) { return refDecodeElement(elems[i], now, maxAhead) })
}

// unwrap returns the frame's payload: the frame itself, or the data of a
// combined-stream wrapper {"stream":..,"data":..}. Unlike
// binance.ParseEnvelope it looks into no element, so one malformed element
// cannot cost the others.
func refUnwrap(frame []byte) ([]byte, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return nil, errors.New("empty frame")
	}
	switch frame[0] {
	case '[':
		return frame, nil
	case '{':
	default:
		return nil, fmt.Errorf("not a JSON object or array (starts with %q)", frame[0])
	}
	var w struct {
		Stream *string         `json:"stream"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(frame, &w); err != nil {
		return nil, err
	}
	if w.Stream != nil && len(w.Data) > 0 {
		return bytes.TrimSpace(w.Data), nil
	}
	return frame, nil
}

func refDecodeElement(raw json.RawMessage, now time.Time, maxAhead time.Duration) (Price, error) {
	var e refRawPrice
	if err := json.Unmarshal(raw, &e); err != nil {
		return Price{}, fmt.Errorf("not a markPriceUpdate object: %w", err)
	}
	if e.Event != binance.EventMarkPriceUpdate {
		return Price{}, fmt.Errorf("event %q is not %s", topics.Bound(e.Event, 64), binance.EventMarkPriceUpdate)
	}
	if err := validate.Symbol(e.Symbol); err != nil {
		return Price{}, fmt.Errorf("symbol: %w", err)
	}
	if err := validate.MarkPrice(e.Price); err != nil {
		return Price{}, fmt.Errorf("%s mark price p: %w", e.Symbol, err)
	}
	at := eventTime(e.E)
	if err := topics.CheckEventTime(at, now, maxAhead); err != nil {
		return Price{}, fmt.Errorf("%s: %w", e.Symbol, err)
	}
	return Price{Symbol: e.Symbol, Price: e.Price, EventTime: at}, nil
}

// tickNames are the keys either decoder reads; foldOnly reports a key the
// reference would have read by case-insensitive match ("S" as "s",
// "STREAM", "ſ"), which DecodeTickAt by design ignores.
var tickNames = []string{"stream", "data", "e", "E", "s", "p", "P"}

func foldOnly(k string) bool {
	for _, n := range tickNames {
		if k == n {
			return false
		}
	}
	for _, n := range tickNames {
		if strings.EqualFold(k, n) {
			return true
		}
	}
	return false
}

// caseSafe renames ("S" -> "_S") the keys foldOnly reports, so that both
// decoders see a frame on which they must agree.
func caseSafe(frame []byte) []byte { return jsonkeys.Underscore(frame, foldOnly) }

func compareTicks(t *testing.T, frame []byte, now time.Time) {
	t.Helper()
	frame = caseSafe(frame)
	got, gskip, gerr := DecodeTickAt(frame, now, time.Minute)
	want, wskip, werr := refDecodeTickAt(frame, now, time.Minute)
	if (gerr == nil) != (werr == nil) || len(gskip) != len(wskip) || !reflect.DeepEqual(got, want) {
		t.Fatalf("frame %q:\n DecodeTickAt %+v %d skipped %v\n reference    %+v %d skipped %v", frame, got, len(gskip), gerr, want, len(wskip), werr)
	}
}

var trickyTicks = []string{
	`[{"e":"markPriceUpdate","E":"1","s":"BTCUSDT","p":"1.5","P":"2","S":"x"},{"e":"x"},null,7,"junk",[]]`,
	`{"stream":"!markPrice@arr","data":[{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2"}]}`,
	`{"data":[{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2"}],"stream":null}`,
	`{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2","data":[1],"stream":"x","stream":null}`,
	`{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2","stream":5}`,
	`{"stream":"s","data":{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2"}}`,
	`{"stream":"s","data":null}`, `{"stream":"s","data":"x"}`, `{"stream":"s","data":[]}`,
	`[{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2","p":null,"s":null,"e":null}]`,
	`[{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":2}]`, `[{"e":5,"E":1,"s":"ETHUSDT","p":"2"}]`,
	`[{"e":"markPriceUpdate","E":"\u0031","s":"ETH\u0055SDT","p":"2"}]`, "[{\"e\":\"markPriceUpdate\",\"E\":1,\"s\":\"ETH\xffUSDT\",\"p\":\"2\"}]",
	`[{"e":"markPriceUpdate","E":1.0,"s":"ETHUSDT","p":"2"}]`, `[{"e":"markPriceUpdate","E":" 1","s":"ETHUSDT","p":"2"}]`,
	`[{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2"}]x`, `[{"e":"markPriceUpdate","E":1,"s":"ETHUSDT","p":"2"},]`,
	"\v[{\"e\":\"markPriceUpdate\",\"E\":1,\"s\":\"ETHUSDT\",\"p\":\"2\"}]", ``, `x`, `null`, `{}`, `[]`,
}

func TestDecodeTickMatchesReference(t *testing.T) {
	now := time.UnixMilli(1 << 42)
	for _, f := range trickyTicks {
		compareTicks(t, []byte(f), now)
	}
	paths := testkit.SharedFiles(t, "binance-frames/*markPrice*.json")
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		compareTicks(t, b, time.UnixMilli(1<<62))
	}
	compareTicks(t, binanceArray(time.UnixMilli(1<<42)), time.UnixMilli(1<<42))
}

// FuzzDecodeTickMatchesReference: DecodeTickAt and the reflection decoder it
// replaced return the same prices, the same number of skipped elements and
// an error on the same frames.
func FuzzDecodeTickMatchesReference(f *testing.F) {
	paths := testkit.SharedFiles(f, "binance-frames/*markPrice*.json")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	for _, s := range trickyTicks {
		f.Add([]byte(s))
	}
	now := time.UnixMilli(1 << 42)
	f.Fuzz(func(t *testing.T, frame []byte) {
		compareTicks(t, frame, now)
	})
}

// TestDecodeTickMatchesReferenceOnMutations compares the two decoders on a
// fixed set of byte mutations of the real mark-price frames.
func TestDecodeTickMatchesReferenceOnMutations(t *testing.T) {
	paths := testkit.SharedFiles(t, "binance-frames/*markPrice*.json")
	rng := rand.New(rand.NewSource(7))
	alphabet := []byte(`{}[]":,0123456789-+.eEtrufalsnSpP \\/`)
	now := time.UnixMilli(1 << 42)
	for _, p := range paths {
		frame, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for range 400 {
			m := append([]byte(nil), frame...)
			for range 1 + rng.Intn(3) {
				i := rng.Intn(len(m))
				switch rng.Intn(3) {
				case 0:
					m[i] = alphabet[rng.Intn(len(alphabet))]
				case 1:
					m = append(m[:i], m[i+1:]...)
				default:
					m = append(m[:i], append([]byte{alphabet[rng.Intn(len(alphabet))]}, m[i:]...)...)
				}
				if len(m) == 0 {
					m = []byte("[")
				}
			}
			compareTicks(t, m, now)
		}
	}
}
