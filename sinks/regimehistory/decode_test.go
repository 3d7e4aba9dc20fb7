package regimehistory

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRealChangesCarryEveryKindOfChange(t *testing.T) {
	cs := realChanges(t)
	seen := map[string]bool{}
	for _, c := range cs {
		seen["to "+c.To] = true
		seen["gate "+c.Gate] = true
		if c.Degraded != "" {
			seen["degraded"] = true
		}
	}
	for _, want := range []string{"to Critical", "to Calm", "gate " + regimestate.GateBlocked, "gate " + regimestate.GateCooldown,
		"gate " + regimestate.GateOpen, "gate " + regimestate.GateDegraded, "degraded"} {
		if !seen[want] {
			t.Errorf("no change with %s among %d real changes", want, len(cs))
		}
	}
}

func TestDecodeAcceptsEveryRealChange(t *testing.T) {
	now := time.Now()
	for i, rec := range changeRecords(t, "kraite.", realChanges(t)) {
		row, err := Decode(rec, now, 0)
		if err != nil {
			t.Fatalf("real change %d refused: %v\n%s", i, err, rec.Value)
		}
		if row.Gate == nil || row.Inputs == nil || row.Scope != "binance" {
			t.Fatalf("real change %d: row %+v", i, row)
		}
	}
}

// hostileChange is a change record that must be refused, with a word the
// reason must contain.
type hostileChange struct {
	name, key string
	value     []byte
	reason    string
}

func hostileChanges(t testing.TB, good topics.RegimeChange) []hostileChange {
	mod := func(f func(*topics.RegimeChange)) []byte {
		c := good
		c.Inputs = map[string]float64{}
		for k, v := range good.Inputs {
			c.Inputs[k] = v
		}
		f(&c)
		return mustJSON(t, c)
	}
	huge := map[string]float64{}
	for i := range 8000 {
		huge[strings.Repeat("k", 16)+string(rune('a'+i%26))+strings.Repeat("x", i%7)+string(rune('A'+i/26%26))+string(rune('0'+i/676))] = 1
	}
	hugeRec := mustJSON(t, topics.RegimeChange{Scope: "binance", From: "Calm", To: "Elevated", Score: 30, AtMs: good.AtMs, Inputs: huge})
	return []hostileChange{
		{"NaN score", "binance", []byte(strings.Replace(string(mod(func(*topics.RegimeChange) {})), `"score":`, `"score":NaN,"x":`, 1)), "decoding"},
		{"score 1e999", "binance", []byte(strings.Replace(string(mod(func(*topics.RegimeChange) {})), `"score":`, `"score":1e999,"x":`, 1)), "decoding"},
		{"score 101", "binance", mod(func(c *topics.RegimeChange) { c.Score = 101 }), "score"},
		{"negative score", "binance", mod(func(c *topics.RegimeChange) { c.Score = -1 }), "score"},
		{"year 9999", "binance", mod(func(c *topics.RegimeChange) { c.AtMs = 253402300799000 }), "at"},
		{"from 2100", "binance", mod(func(c *topics.RegimeChange) { c.AtMs = 4102444800000 }), "ahead"},
		{"an hour ahead", "binance", mod(func(c *topics.RegimeChange) { c.AtMs = time.Now().Add(time.Hour).UnixMilli() }), "ahead"},
		{"at 0", "binance", mod(func(c *topics.RegimeChange) { c.AtMs = 0 }), "at"},
		{"negative at", "binance", mod(func(c *topics.RegimeChange) { c.AtMs = -5 }), "at"},
		{"unknown band", "binance", mod(func(c *topics.RegimeChange) { c.To = "Apocalyptic" }), "to_band"},
		{"lower-case band", "binance", mod(func(c *topics.RegimeChange) { c.To = "critical" }), "to_band"},
		{"unknown from band", "binance", mod(func(c *topics.RegimeChange) { c.From = "'; DROP TABLE regime_history; --" }), "from_band"},
		{"none as to band", "binance", mod(func(c *topics.RegimeChange) { c.To = "none" }), "to_band"},
		{"unknown gate", "binance", mod(func(c *topics.RegimeChange) { c.Gate = "wide_open" }), "gate"},
		{"cooldown in 9999", "binance", mod(func(c *topics.RegimeChange) { c.CooldownMs = 253402300799000 }), "cooldown"},
		{"negative cooldown", "binance", mod(func(c *topics.RegimeChange) { c.CooldownMs = -1 }), "cooldown"},
		{"degraded of 300 characters", "binance", mod(func(c *topics.RegimeChange) { c.Degraded = strings.Repeat("é", 300) }), "degraded"},
		{"degraded with NUL", "binance", mod(func(c *topics.RegimeChange) { c.Degraded = "silent\x00" }), "degraded"},
		{"200 KB inputs", "binance", hugeRec, "bytes"},
		{"40 inputs", "binance", mod(func(c *topics.RegimeChange) {
			for i := range 40 {
				c.Inputs["in"+string(rune('a'+i%26))+string(rune('a'+i/26))] = 1
			}
		}), "inputs"},
		{"input 1e300", "binance", mod(func(c *topics.RegimeChange) { c.Inputs["breadth"] = 1e300 }), "input"},
		{"input name with a newline", "binance", mod(func(c *topics.RegimeChange) { c.Inputs["a\nb"] = 1 }), "input name"},
		{"invalid UTF-8 scope", "binance", []byte(strings.Replace(string(mod(func(*topics.RegimeChange) {})), `"scope":"binance"`, "\"scope\":\"bin\xffance\"", 1)), "scope"},
		{"invalid UTF-8 key", "bin\xffance", mod(func(*topics.RegimeChange) {}), "key"},
		{"unknown scope", "nasdaq", mod(func(c *topics.RegimeChange) { c.Scope = "nasdaq" }), "scope"},
		{"key differs from scope", "bybit", mod(func(*topics.RegimeChange) {}), "key"},
		{"not json", "binance", []byte("{not json\x00\xff"), "decoding"},
		{"array", "binance", []byte(`[1,2,3]`), "decoding"},
		{"tombstone", "binance", nil, "tombstone"},
	}
}

func TestDecodeRefusesEveryHostileChange(t *testing.T) {
	good := realChanges(t)[0]
	now := time.Now()
	for _, h := range hostileChanges(t, good) {
		_, err := Decode(&kgo.Record{Key: []byte(h.key), Value: h.value}, now, 0)
		if err == nil {
			t.Errorf("%s: accepted", h.name)
			continue
		}
		if !strings.Contains(err.Error(), h.reason) {
			t.Errorf("%s: reason %q does not say %q", h.name, err, h.reason)
		}
	}
	for _, h := range hostileChanges(t, good) {
		if h.name == "200 KB inputs" && len(h.value) < 200<<10 {
			t.Fatalf("the 200 KB record has %d bytes", len(h.value))
		}
	}
}

func TestDecodeKeepsNullsAndBounds(t *testing.T) {
	c := topics.RegimeChange{Scope: "binance", From: FromNone, To: "Calm", Score: 0, AtMs: time.Now().UnixMilli()}
	row, err := Decode(&kgo.Record{Key: []byte("binance"), Value: mustJSON(t, c)}, time.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if row.Gate != nil || row.Degraded != nil || row.Inputs != nil {
		t.Fatalf("empty gate, degraded and inputs are not NULL: %+v", row)
	}
	c.Score, c.Degraded = 100, strings.Repeat("é", MaxDegraded)
	if _, err := Decode(&kgo.Record{Key: []byte("binance"), Value: mustJSON(t, c)}, time.Now(), 0); err != nil {
		t.Fatalf("a degraded of exactly %d characters and score 100: %v", MaxDegraded, err)
	}
}

// FuzzDecode: whatever the record, Decode returns a row that fits the
// table and its bounds, or an error; it never panics.
func FuzzDecode(f *testing.F) {
	for _, rec := range changeRecords(f, "kraite.", realChanges(f)) {
		f.Add(string(rec.Key), rec.Value)
	}
	f.Add("binance", []byte(`{"scope":"binance","from_band":"none","to_band":"Calm","score":0,"at":1}`))
	f.Add("binance", []byte(`{"scope":"binance","score":1e999}`))
	now := time.Now()
	f.Fuzz(func(t *testing.T, key string, value []byte) {
		row, err := Decode(&kgo.Record{Key: []byte(key), Value: value}, now, 0)
		if err != nil {
			return
		}
		if row.Score < 0 || row.Score > 100 || math.IsNaN(row.Score) || row.AtMs <= 0 || row.AtMs > now.Add(topics.DefaultMaxAhead).UnixMilli() ||
			row.CooldownUntilMs < 0 || len(row.Scope) > 32 || len(row.To) > 16 || len(row.From) > 16 {
			t.Fatalf("row out of bounds: %+v", row)
		}
		if row.Degraded != nil && len([]rune(*row.Degraded)) > MaxDegraded {
			t.Fatalf("degraded too long: %d", len(*row.Degraded))
		}
		if row.Gate != nil && len(*row.Gate) > 32 {
			t.Fatalf("gate too long: %q", *row.Gate)
		}
	})
}
