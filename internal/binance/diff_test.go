package binance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/kraite/stream/internal/testkit/jsonkeys"
)

// knownNames is every field name any decoded struct declares: a key equal
// to one of them is read by name; any other key is ignored by Decode.
var knownNames, foldedNames = map[string]bool{}, map[string]bool{}

func init() {
	for _, n := range []string{
		"E", "e", "stream", "data", "listenKey", "T", "t", "o", "a", "or", "ac", "ai", "j",
		"s", "c", "S", "f", "q", "p", "ap", "sp", "x", "X", "i", "l", "z", "L", "N", "n", "m", "R",
		"wt", "ot", "ps", "cp", "rp", "V", "pm", "gtd", "er", "AP", "cr", "pP", "M", "W",
		"caid", "aid", "at", "aq", "act", "tp", "tt", "rm", "wb", "cw", "bc", "pa", "ep", "bep",
		"up", "mt", "iw", "B", "P", "mp", "mm", "r",
	} {
		foldedNames[string(foldKey(n))] = true
		knownNames[n] = true
	}
}

// foldKey is encoding/json's case folding of a key (fold.go).
func foldKey(k string) []byte {
	var out []byte
	for i := 0; i < len(k); {
		if c := k[i]; c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			out = append(out, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(k[i:])
		out = utf8.AppendRune(out, unicode.ToUpper(unicode.ToLower(r)))
		i += n
	}
	return out
}

// caseSafe renames ("X" -> "_X") every key that is not a known name but
// that encoding/json would fold onto one ("STREAM", "Data", "ſ" for "s"):
// the reference would read it, Decode by design does not. Frames that are
// not valid JSON are returned as they are.
func caseSafe(frame []byte) []byte {
	return jsonkeys.Underscore(frame, func(k string) bool {
		return !knownNames[k] && foldedNames[string(foldKey(k))]
	})
}

// compareWithReference fails t when Decode and the reflection decoder
// disagree on frame: both accept it with the same Event, or both refuse it
// (with the same sentinel error, if any).
func compareWithReference(t *testing.T, frame []byte) {
	t.Helper()
	frame = caseSafe(frame)
	got, gerr := Decode(frame)
	want, werr := refDecode(frame)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("frame %q:\n Decode error: %v\n reference error: %v", frame, gerr, werr)
	}
	for _, sentinel := range []error{ErrEmptyFrame, ErrNoEventType} {
		if errors.Is(gerr, sentinel) != errors.Is(werr, sentinel) {
			t.Fatalf("frame %q: Decode error %v, reference error %v", frame, gerr, werr)
		}
	}
	if gerr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("frame %q:\n Decode    %s\n reference %s", frame, dump(got), dump(want))
	}
}

// compareEnvelope fails t when ParseEnvelope and the reflection version
// disagree on frame: the same Envelope (also on an error: callers read the
// event type of a frame whose E is wrong) and an error on the same frames.
func compareEnvelope(t *testing.T, frame []byte) {
	t.Helper()
	frame = caseSafe(frame)
	got, gerr := ParseEnvelope(frame)
	want, werr := refParseEnvelope(frame)
	if (gerr == nil) != (werr == nil) || errors.Is(gerr, ErrEmptyFrame) != errors.Is(werr, ErrEmptyFrame) || !reflect.DeepEqual(got, want) {
		t.Fatalf("frame %q:\n ParseEnvelope %+v (%v)\n reference     %+v (%v)", frame, got, gerr, want, werr)
	}
}

func dump(ev Event) string {
	b, _ := json.Marshal(ev)
	return fmt.Sprintf("%s", b)
}

// trickyFrames are frames where a one-pass decoder can go wrong: keys in
// any order, repeated keys, null where an object belongs, wrappers within
// wrappers, case-only differences, escapes and invalid UTF-8.
var trickyFrames = []string{
	`{"o":{"x":"TRADE","i":1},"E":5,"e":"ORDER_TRADE_UPDATE"}`,
	`{"e":"ORDER_TRADE_UPDATE","E":5,"o":{"x":"TRADE"},"e":"ALGO_UPDATE"}`,
	`{"e":"ALGO_UPDATE","E":5,"o":{"X":"NEW"},"e":null}`,
	`{"e":"ORDER_TRADE_UPDATE","E":5,"o":{"x":"TRADE"},"o":null}`,
	`{"e":"ORDER_TRADE_UPDATE","E":5,"o":null,"o":{"x":"TRADE"}}`,
	`{"e":"ORDER_TRADE_UPDATE","E":5,"o":{"i":"x"},"o":{"x":"TRADE"}}`,
	`{"e":"ORDER_TRADE_UPDATE","E":5,"T":"x","o":{"x":"TRADE"}}`,
	`{"e":"ORDER_TRADE_UPDATE","E":5,"o":{"x":"TRADE","P":"1","p":"2","r":true,"R":"true","M":1,"W":[]}}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"T":2,"a":{"m":"ORDER","B":[{"a":"USDT","wb":"1"},null,{"a":"BNB"}],"P":[]}}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"a":{"B":[{"a":"USDT","wb":"1"},{"a":"X"}]},"a":{"B":[{"a":"Y"}]},"a":{"B":[{},{"cw":"2"},{}]}}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"a":{"m":"X"},"a":null}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"a":null,"a":{"m":"X","P":null}}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"a":{"B":"x"}}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"a":{"B":[1]}}`,
	`{"e":"ACCOUNT_UPDATE","E":1,"a":[]}`,
	`{"e":"TRADE_LITE","E":"7","T":8,"t":"9","i":-1,"m":"false","e":null,"E":null}`,
	`{"e":"TRADE_LITE","E":7,"p":"1","P":"2","M":true,"m":""}`,
	`{"e":"MARGIN_CALL","E":1,"cw":3,"p":[{"s":"X","S":"Y","mp":"1"}],"P":[]}`,
	`{"e":"MARGIN_CALL","E":1,"p":null}`,
	`{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":{"s":"X","l":"20","S":"Y","L":5},"ai":null}`,
	`{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ai":{"j":"true"},"ai":{}}`,
	`{"e":"ACCOUNT_CONFIG_UPDATE","E":1,"ac":5}`,
	`{"e":"CONDITIONAL_ORDER_TRIGGER_REJECT","E":1,"or":{"s":"X","S":"Y","i":"3","r":"no","R":"x"}}`,
	`{"e":"CONDITIONAL_ORDER_TRIGGER_REJECT","E":1}`,
	`{"e":"markPriceUpdate","E":1,"s":"BTCUSDT","p":"1","P":"2","t":9,"T":"10","R":1,"r":"0.1"}`,
	`{"e":"markPriceUpdate","E":1,"p":true}`,
	`[{"e":"markPriceUpdate","E":"1","s":"A","p":"1"},null,{"E":2,"s":"B","S":"x","p":3,"t":1}]`,
	`[{"e":"markPriceUpdate","E":1},{"E":"x"}]`,
	`[{"e":"markPriceUpdate","E":1},{"e":5}]`,
	`[{"e":"markPriceUpdate","E":1},7]`,
	`[{"e":"other","E":1},{"p":true}]`,
	`[null]`, `[[]]`, `[{"E":""}]`, `[{"e":"markPriceUpdate","E":1,"E":2}]`, `[{"e":"markPriceUpdate","E":1,"E":"x","E":2}]`,
	`{"stream":"a","data":{"stream":"b","data":[{"e":"markPriceUpdate","E":1,"s":"X","p":"1"}]}}`,
	`{"data":{"e":"listenKeyExpired","E":1,"listenKey":"k"},"stream":"s"}`,
	`{"stream":"s","data":{"e":"listenKeyExpired"},"stream":null}`,
	`{"stream":"s","data":null}`, `{"stream":"s","data":"x"}`, `{"stream":5,"data":{}}`, `{"stream":"s","data":{},"e":5}`,
	`{"stream":"s","data":{"e":"X","E":1},"E":"not a time","listenKey":"k"}`,
	`{"e":"listenKeyExpired","E":1,"listenKey":"k","listenKey":null}`,
	`{"e":"listenKeyExpired","E":1,"listenKey":7}`,
	`{"e":"listenKeyExpired","E":1,"data":{"e":5}}`,
	`{"e":"X","E":""}`, `{"e":"X","E":"+5"}`, `{"e":"X","E":-0}`, `{"e":"X","E":1.0}`, `{"e":"X","E":true}`, `{"e":"X","E":"\u0031"}`,
	`{"e":"X","E":9223372036854775807}`, `{"e":"X","E":-9223372036854775808}`, `{"e":"X","E":9223372036854775808}`,
	`{"e":"\u004fRDER_TRADE_UPDATE","E":1,"o":{"\u0078":"TRADE","s":"\ud800","c":"a\u00e9\\"}}`,
	"{\"e\":\"ORDER_TRADE_UPDATE\",\"E\":1,\"o\":{\"x\":\"TR\xffADE\",\"s\":\"\xe2\x82\"}}",
	"\v{\"e\":\"X\",\"E\":1}\u00a0",
	`{"e":"X","E":1}x`, `{"e":"X","E":1}{}`, `{"e":"X","E":01}`, `{"e":"X","E":1,}`, `{"e":"X" "E":1}`,
	`{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"i":"0x10"}}`, `{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"i":"1_000"}}`,
	`{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"m":"True"}}`, `{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"m":"\u0074rue"}}`,
	`{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"q":false}}`, `{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":{}}}`, `{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"s":true,"q":-1.5e-3}}`,
	`{"STREAM":"x","Data":{"e":"X"},"E":1,"e":"Y","LISTENKEY":"k"}`, `{"e":"TRADE_LITE","ſ":"x","s":"y","E":1}`,
	`{"result":null,"id":1}`, `{}`, `[]`, `{"e":""}`, `{"e":"","o":1,"e":"ORDER_TRADE_UPDATE"}`,
	`{"e":"STRATEGY_UPDATE","E":1,"T":"x"}`, `{"e":"GRID_UPDATE","E":1,"o":5}`,
}

func TestDecodeMatchesReferenceOnTrickyFrames(t *testing.T) {
	for _, f := range trickyFrames {
		compareWithReference(t, []byte(f))
		compareEnvelope(t, []byte(f))
	}
	deep := bytes.Repeat([]byte("["), 10001)
	compareWithReference(t, []byte(`{"e":"X","E":1,"z":`+string(deep)+string(bytes.Repeat([]byte("]"), 10001))+`}`))
	compareWithReference(t, []byte(`{"e":"X","E":1,"z":`+string(deep[:9998])+string(bytes.Repeat([]byte("]"), 9998))+`}`))
}

// TestDecodeMatchesReferenceOnMutations compares the two decoders on a
// fixed set of byte mutations of every real frame (a cheap, deterministic
// stand-in for fuzzing in the normal test run).
func TestDecodeMatchesReferenceOnMutations(t *testing.T) {
	rng := rand.New(rand.NewSource(12))
	alphabet := []byte(`{}[]":,0123456789-+.eEtrufalsn \\/pPsSxXoOaATt`)
	for _, frame := range loadFrames(t) {
		for range 300 {
			m := append([]byte(nil), frame...)
			for range 1 + rng.Intn(3) {
				i := rng.Intn(len(m))
				switch rng.Intn(4) {
				case 0:
					m[i] = alphabet[rng.Intn(len(alphabet))]
				case 1:
					m = append(m[:i], m[i+1:]...)
				case 2:
					m = append(m[:i], append([]byte{alphabet[rng.Intn(len(alphabet))]}, m[i:]...)...)
				default:
					j := i + rng.Intn(min(40, len(m)-i))
					m = append(m[:j], append(append([]byte(nil), m[i:j]...), m[j:]...)...)
				}
				if len(m) == 0 {
					m = []byte("{")
				}
			}
			compareWithReference(t, m)
			compareEnvelope(t, m)
		}
	}
}

// FuzzDecodeMatchesReference: Decode and the reflection decoder it
// replaced agree on every input (same Event, or both an error).
func FuzzDecodeMatchesReference(f *testing.F) {
	for _, frame := range loadFrames(f) {
		f.Add(frame)
	}
	for _, s := range trickyFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		compareWithReference(t, frame)
	})
}

// TestDecodeDeepWrappersAreLinear: wrappers nested to the depth limit,
// each with its type after a body key (which makes each level read its
// body twice), decode in linear time, and the two decoders agree.
func TestDecodeDeepWrappersAreLinear(t *testing.T) {
	nested := func(depth int) []byte {
		var b bytes.Buffer
		for range depth {
			b.WriteString(`{"x":[1,2,3],"e":"ORDER_TRADE_UPDATE","E":1,"o":{"x":"NEW"},"stream":"s","data":`)
		}
		b.WriteString(`{"T":5,"e":"ORDER_TRADE_UPDATE","E":2,"o":{"x":"TRADE"}}`)
		b.WriteString(strings.Repeat("}", depth))
		return b.Bytes()
	}
	const depth = 4000
	frame := nested(depth)
	start := time.Now()
	ev, err := Decode(frame)
	if err != nil || ev.ExecutionType() != "TRADE" || ev.TransactionTime != 5 || ev.Stream != "s" {
		t.Fatalf("%v %+v", err, ev)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%d nested wrappers took %v", depth, d)
	}
	t.Logf("%d nested wrappers (%d bytes) in %v", depth, len(frame), time.Since(start))
	compareWithReference(t, nested(200)) // the reference is quadratic here
}

// FuzzParseEnvelopeMatchesReference: ParseEnvelope and the reflection
// version it replaced agree on every input.
func FuzzParseEnvelopeMatchesReference(f *testing.F) {
	for _, frame := range loadFrames(f) {
		f.Add(frame)
	}
	for _, s := range trickyFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		compareEnvelope(t, frame)
	})
}
