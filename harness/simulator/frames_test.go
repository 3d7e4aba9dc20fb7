package simulator

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/testkit"
)

// realShapes collects, per event type, the union and the intersection of
// the key sets seen in ../shared/binance-frames at each level ("" for the
// top level, "o", "a", "a.B", "a.P", "[]" for array elements).
type shape struct{ union, common map[string]map[string]bool }

func realShapes(t *testing.T) map[string]*shape {
	t.Helper()
	paths := testkit.SharedFiles(t, "binance-frames/*.json")
	shapes := map[string]*shape{}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		env, err := binance.ParseEnvelope(raw)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for level, keys := range keySets(t, env.Payload) {
			sh := shapes[env.Event]
			if sh == nil {
				sh = &shape{union: map[string]map[string]bool{}, common: map[string]map[string]bool{}}
				shapes[env.Event] = sh
			}
			if sh.union[level] == nil {
				sh.union[level], sh.common[level] = map[string]bool{}, copyKeys(keys)
			}
			for k := range keys {
				sh.union[level][k] = true
			}
			for k := range sh.common[level] {
				if !keys[k] {
					delete(sh.common[level], k)
				}
			}
		}
	}
	return shapes
}

func copyKeys(m map[string]bool) map[string]bool {
	out := map[string]bool{}
	for k := range m {
		out[k] = true
	}
	return out
}

// keySets returns the key set of each level of a payload.
func keySets(t *testing.T, payload []byte) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	var add func(level string, v any)
	add = func(level string, v any) {
		switch x := v.(type) {
		case map[string]any:
			if out[level] == nil {
				out[level] = map[string]bool{}
			}
			for k, child := range x {
				out[level][k] = true
				if level == "" && (k == "o" || k == "a") || level == "a" && (k == "B" || k == "P") {
					add(strings.TrimPrefix(level+"."+k, "."), child)
				}
			}
		case []any:
			for _, e := range x {
				name := level
				if level == "" {
					name = "[]"
				}
				add(name, e)
			}
		}
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatalf("payload %s: %v", payload, err)
	}
	add("", v)
	return out
}

// stepFrames drives n lifecycle steps of the first account with one socket
// attached and returns what the socket received.
func stepFrames(t *testing.T, cfg Config, n int) [][]byte {
	t.Helper()
	h := start(t, cfg)
	a := h.acct(0)
	c := h.dial("/private/ws?listenKey=" + h.listenKey(a))
	h.connected(1)
	for range n {
		h.sim.Step(a.ID)
	}
	h.drained(a)
	testkit.Eventually(t, 15*time.Second, "the client to read every frame", func() bool {
		return len(c.got()) == len(h.sim.PushedFrames(a.ID))
	})
	return c.got()
}

// TestFramesHaveTheRealShapes checks every frame type the lifecycle makes
// against the real frames: it parses with binance.ParseEnvelope, has every
// key all real frames of its type share, and no key no real frame has.
func TestFramesHaveTheRealShapes(t *testing.T) {
	shapes := realShapes(t)
	seen := map[string]int{}
	for _, f := range stepFrames(t, Config{Now: fixedClock()}, 3000) {
		env, err := binance.ParseEnvelope(f)
		if err != nil {
			t.Fatalf("frame does not parse: %v\n%s", err, f)
		}
		sh := shapes[env.Event]
		if sh == nil {
			t.Fatalf("event %q has no real frame to compare with", env.Event)
		}
		seen[env.Event]++
		for level, keys := range keySets(t, env.Payload) {
			for k := range keys {
				if !sh.union[level][k] {
					t.Errorf("%s level %q: key %q is in no real frame\n%s", env.Event, level, k, f)
				}
			}
			for k := range sh.common[level] {
				if !keys[k] {
					t.Errorf("%s level %q: key %q is missing (every real frame has it)\n%s", env.Event, level, k, f)
				}
			}
		}
		if t.Failed() {
			return
		}
	}
	for _, e := range []string{"ORDER_TRADE_UPDATE", "TRADE_LITE", "ACCOUNT_UPDATE", "ALGO_UPDATE"} {
		if seen[e] == 0 {
			t.Errorf("the lifecycle never produced %s", e)
		}
	}
}

// TestLifecycleCoversEveryState checks that the generator reaches every
// execution type, order and algo status, expiry reason and id edge case.
func TestLifecycleCoversEveryState(t *testing.T) {
	got := map[string]bool{}
	var orderIDs = map[int64]bool{}
	var triggered []string
	var lastE int64
	for _, f := range stepFrames(t, Config{Now: fixedClock()}, 3000) {
		var probe struct {
			Event string          `json:"e"`
			E     int64           `json:"E"`
			O     json.RawMessage `json:"o"`
		}
		if err := json.Unmarshal(f, &probe); err != nil {
			t.Fatal(err)
		}
		if probe.E < lastE {
			t.Fatalf("E went backwards: %d after %d", probe.E, lastE)
		}
		lastE = probe.E
		got[probe.Event] = true
		var o map[string]any
		json.Unmarshal(probe.O, &o)
		var ids struct {
			I json.Number `json:"i"`
			X string      `json:"X"` // Go matches keys case-insensitively: claim "X" so "x" cannot land on I's neighbours
		}
		dec := json.NewDecoder(strings.NewReader(string(probe.O)))
		dec.UseNumber()
		_ = dec.Decode(&ids) // other fields are ignored
		switch probe.Event {
		case "ORDER_TRADE_UPDATE":
			got["x="+o["x"].(string)+" X="+o["X"].(string)] = true
			if o["x"] == "EXPIRED" {
				got["er="+o["er"].(string)] = true
			}
			if strings.HasPrefix(o["c"].(string), "autoclose-") {
				got["autoclose"] = true
			}
			id, err := strconv.ParseInt(string(ids.I), 10, 64)
			if err != nil {
				t.Fatalf("order id %q: %v", ids.I, err)
			}
			orderIDs[id] = true
			if id > 1<<53 {
				got["order id > 2^53"] = true
			}
			if o["x"] == "TRADE" && (o["t"].(float64) == 0 || o["n"] == "0") {
				t.Errorf("trade without trade id or fee: %s", f)
			}
		case "ALGO_UPDATE":
			got["algo "+o["X"].(string)] = true
			if o["X"] == "FINISHED" {
				if o["aq"] == o["q"] {
					got["algo FINISHED filled"] = true
				} else if o["aq"] == "0" {
					got["algo FINISHED unfilled"] = true
				}
			}
			if ai, ok := o["ai"].(string); !ok {
				t.Fatalf("ai is not a string: %s", f)
			} else if ai != "" {
				triggered = append(triggered, ai)
			}
		}
	}
	for _, ai := range triggered {
		id, err := strconv.ParseInt(ai, 10, 64)
		if err != nil || !orderIDs[id] {
			t.Errorf("ai %q has no ORDER_TRADE_UPDATE", ai)
		}
	}
	want := []string{
		"ORDER_TRADE_UPDATE", "TRADE_LITE", "ACCOUNT_UPDATE", "ALGO_UPDATE",
		"x=NEW X=NEW", "x=TRADE X=PARTIALLY_FILLED", "x=TRADE X=FILLED", "x=CANCELED X=CANCELED",
		"x=EXPIRED X=EXPIRED", "x=AMENDMENT X=NEW", "x=CALCULATED X=FILLED",
		"er=0", "er=2", "er=9", "autoclose", "order id > 2^53",
		"algo NEW", "algo TRIGGERING", "algo TRIGGERED", "algo FINISHED filled", "algo FINISHED unfilled",
		"algo CANCELED", "algo EXPIRED", "algo REJECTED",
	}
	var missing []string
	for _, w := range want {
		if !got[w] {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		have := make([]string, 0, len(got))
		for k := range got {
			have = append(have, k)
		}
		sort.Strings(have)
		t.Fatalf("never generated: %v\ngenerated: %v", missing, have)
	}
}

// TestGroundTruthMatchesTheFrames replays the frames onto a map of orders
// and compares the result with Orders and AlgoOrders.
func TestGroundTruthMatchesTheFrames(t *testing.T) {
	h := start(t, Config{Now: fixedClock()})
	a := h.acct(0)
	c := h.dial("/private/ws?listenKey=" + h.listenKey(a))
	h.connected(1)
	for range 800 {
		h.sim.Step(a.ID)
	}
	h.drained(a)
	testkit.Eventually(t, 15*time.Second, "every frame", func() bool { return len(c.got()) == len(h.sim.PushedFrames(a.ID)) })
	type state struct{ status, z, ap string }
	orders := map[int64]state{}
	algos := map[int64]string{}
	for _, f := range c.got() {
		// Go matches JSON keys case-insensitively, so both cases of e/E,
		// x/X, z/Z are declared.
		var fr struct {
			Event string `json:"e"`
			E     any    `json:"E"`
			O     struct {
				Exec   string `json:"x"`
				X      string `json:"X"`
				I      int64  `json:"i"`
				Z      string `json:"z"`
				Ap     string `json:"ap"`
				Aid    int64  `json:"aid"`
				UpperT int64  `json:"T"`
				LowerT int64  `json:"t"`
			} `json:"o"`
		}
		if err := json.Unmarshal(f, &fr); err != nil {
			t.Fatal(err)
		}
		switch fr.Event {
		case "ORDER_TRADE_UPDATE":
			orders[fr.O.I] = state{fr.O.X, fr.O.Z, fr.O.Ap}
		case "ALGO_UPDATE":
			algos[fr.O.Aid] = fr.O.X
		}
	}
	truth := h.sim.Orders(a.ID)
	if len(truth) != len(orders) {
		t.Fatalf("ground truth has %d orders, frames %d", len(truth), len(orders))
	}
	for _, o := range truth {
		s := orders[o.OrderID]
		z, _ := strconv.ParseFloat(s.z, 64)
		ex, _ := strconv.ParseFloat(o.ExecutedQty, 64)
		if s.status != o.Status || math.Abs(z-ex) > 1e-9 {
			t.Errorf("order %d: frames say %s z=%s, truth %s executed %s", o.OrderID, s.status, s.z, o.Status, o.ExecutedQty)
		}
	}
	for _, g := range h.sim.AlgoOrders(a.ID) {
		if algos[g.AlgoID] != g.Status {
			t.Errorf("algo %d: frames say %s, truth %s", g.AlgoID, algos[g.AlgoID], g.Status)
		}
	}
}

func TestStepIsDeterministic(t *testing.T) {
	run := func(seed int64) [][]byte { return stepFrames(t, Config{Seed: seed, Now: fixedClock()}, 400) }
	a, b := run(7), run(7)
	if !slices.EqualFunc(a, b, func(x, y []byte) bool { return string(x) == string(y) }) {
		for i := range min(len(a), len(b)) {
			if string(a[i]) != string(b[i]) {
				t.Fatalf("frame %d differs:\n%s\n%s", i, a[i], b[i])
			}
		}
		t.Fatalf("one seed, different frame counts: %d vs %d", len(a), len(b))
	}
	if c := run(8); slices.EqualFunc(a, c, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Fatal("two seeds gave identical frames")
	}
}
