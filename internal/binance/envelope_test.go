package binance

import (
	"strings"
	"testing"

	"github.com/kraite/stream/internal/testkit"
)

// loadFrames returns every real frame of ../shared/binance-frames by file name.
func loadFrames(t testing.TB) map[string][]byte {
	t.Helper()
	return testkit.ReadSharedFiles(t, "binance-frames/*.json")
}

func TestParseEnvelopeRealFrames(t *testing.T) {
	for name, frame := range loadFrames(t) {
		t.Run(name, func(t *testing.T) {
			env, err := ParseEnvelope(frame)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			// File names carry the event type: <source>-<EVENT>-<n>.json.
			if !strings.Contains(name, env.Event) || env.Event == "" {
				t.Fatalf("event %q does not match file name", env.Event)
			}
			if env.EventTime <= 0 {
				t.Fatalf("event time %d", env.EventTime)
			}
			if strings.Contains(name, "-arr-") && (!env.Array || env.Count == 0) {
				t.Fatalf("array frame: Array=%v Count=%d", env.Array, env.Count)
			}
			if strings.Contains(name, "combined") && env.Stream == "" {
				t.Fatal("combined frame without stream")
			}
		})
	}
}

func TestParseEnvelopeEdgeCases(t *testing.T) {
	cases := []struct {
		name    string
		frame   string
		event   string
		time    int64
		wantErr bool
	}{
		{"E given as a string", `{"e":"listenKeyExpired","E":"1736996475556","listenKey":"k"}`, "listenKeyExpired", 1736996475556, false},
		{"E absent", `{"e":"X"}`, "X", 0, false},
		{"E not numeric", `{"e":"X","E":"soon"}`, "X", 0, true},
		{"E above 2^53 still an integer", `{"e":"X","E":9007199254740993}`, "X", 9007199254740993, false},
		{"empty frame", `  `, "", 0, true},
		{"not JSON", `hello`, "", 0, true},
		{"truncated JSON", `{"e":"ORDER_TRADE_UPDATE","E":1`, "", 0, true},
		{"empty array", `[]`, "", 0, false},
		{"unknown event type", `{"e":"NEW_THING_2027","E":1}`, "NEW_THING_2027", 1, false},
		{"non-ASCII symbol", `{"e":"ORDER_TRADE_UPDATE","E":5,"o":{"s":"币安人生USDT"}}`, "ORDER_TRADE_UPDATE", 5, false},
		{"combined wrapper of an object", `{"stream":"abc","data":{"e":"ACCOUNT_UPDATE","E":7}}`, "ACCOUNT_UPDATE", 7, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env, err := ParseEnvelope([]byte(c.frame))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if err == nil && (env.Event != c.event || env.EventTime != c.time) {
				t.Fatalf("got (%q, %d), want (%q, %d)", env.Event, env.EventTime, c.event, c.time)
			}
		})
	}
}

// FuzzParseEnvelope checks that the envelope decoder never panics on any
// input, and that a frame it accepts yields a payload that is itself valid
// input (re-parsing the payload gives the same event type and time).
func FuzzParseEnvelope(f *testing.F) {
	for _, frame := range loadFrames(f) {
		f.Add(frame)
	}
	f.Add([]byte(`{"e":"listenKeyExpired","E":"1"}`))
	f.Add([]byte(`[{"e":"markPriceUpdate","E":1,"s":"1000SATSUSDT","p":"0.0003"}]`))
	f.Add([]byte(`{"stream":"x","data":[]}`))
	f.Fuzz(func(t *testing.T, frame []byte) {
		env, err := ParseEnvelope(frame)
		if err != nil {
			return
		}
		again, err := ParseEnvelope(env.Payload)
		if err != nil {
			t.Fatalf("payload of an accepted frame fails: %v", err)
		}
		if again.Event != env.Event || again.EventTime != env.EventTime {
			t.Fatalf("payload re-parse differs: %+v vs %+v", again, env)
		}
	})
}
