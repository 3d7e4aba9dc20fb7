package regime

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// garbageOverrides are override records the Guard must refuse: none may
// open the gate or lift a block.
func garbageOverrides(at int64) map[string][]byte {
	rec := func(ov topics.Override) []byte { b, _ := json.Marshal(ov); return b }
	return map[string][]byte{
		"not json":        []byte(`not json`),
		"tombstone":       nil,
		"allow year 9999": rec(topics.Override{Scope: regimestate.OverrideScope, Action: "allow", Reason: "x", CreatedMs: at, UntilMs: 253402300799000}),
		"allow from 2100": rec(topics.Override{Scope: regimestate.OverrideScope, Action: "allow", Reason: "x", CreatedMs: 4102444800000, UntilMs: 4102444900000}),
		"unknown action":  rec(topics.Override{Scope: regimestate.OverrideScope, Action: "open", Reason: "x", CreatedMs: at, UntilMs: at + 60_000}),
		"no reason":       rec(topics.Override{Scope: regimestate.OverrideScope, Action: "allow", CreatedMs: at, UntilMs: at + 60_000}),
		"other scope":     rec(topics.Override{Scope: "binance", Action: "allow", Reason: "x", CreatedMs: at, UntilMs: at + 60_000}),
		"huge":            append([]byte(`{"scope":"global","action":"allow","reason":"`), make([]byte, 100<<10)...),
	}
}

func TestRegimeGarbageOverrideAfterAnActiveBlockKeepsTheBlock(t *testing.T) {
	r := newRegimeTest(t)
	times, frames := ptest.Crash().Frames()
	for i := range 10 {
		r.feed(frames[i])
	}
	if st := r.state(t); st.Gate != regimestate.GateOpen {
		t.Fatalf("calm market: gate %s", st.Gate)
	}
	block, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "block", Reason: "maintenance",
		CreatedMs: times[0], UntilMs: times[len(times)-1] + 1})
	r.setOverride(t, block)
	r.feed(frames[10])
	if st := r.state(t); st.Gate != regimestate.GateOverrideBlock {
		t.Fatalf("after a block override: gate %s", st.Gate)
	}
	i, refused := 11, 0
	for name, raw := range garbageOverrides(times[i]) {
		r.setOverride(t, raw)
		refused++
		if got := r.controlQuarantined(); got != refused {
			t.Fatalf("%s: %d override records quarantined, want %d", name, got, refused)
		}
		r.feed(frames[i])
		st := r.state(t)
		if st.Gate != regimestate.GateOverrideBlock || st.Override == nil || st.Override.Action != "block" || st.OverrideUnreadable != "" {
			t.Fatalf("%s after a block: gate %s, override %+v, unreadable %q", name, st.Gate, st.Override, st.OverrideUnreadable)
		}
		i++
	}
	if cs := r.drain(t); slices.ContainsFunc(cs, func(c topics.RegimeChange) bool { return regimestate.Allowed(c.Gate) && c.AtMs > times[10] }) {
		t.Fatalf("garbage opened the gate: %v", path(cs))
	}
}

func TestRegimeOnlyGarbageOverridesBlock(t *testing.T) {
	for name, raw := range garbageOverrides(time.Now().UnixMilli()) {
		if raw == nil {
			continue // a tombstone on an empty key is no record at all
		}
		t.Run(name, func(t *testing.T) {
			r := newRegimeTest(t)
			times, frames := ptest.Crash().Frames()
			r.setOverride(t, raw)
			if got := r.controlQuarantined(); got != 1 {
				t.Fatalf("%d override records quarantined, want 1", got)
			}
			for i := range 10 {
				r.feed(frames[i])
			}
			st := r.state(t)
			if st.Gate != regimestate.GateOverrideUnreadable || st.OverrideUnreadable == "" || st.Band != regimestate.Calm {
				t.Fatalf("only garbage: band %s gate %s unreadable %q", st.Band, st.Gate, st.OverrideUnreadable)
			}
			if reason, blocked := st.Blocked(); !blocked {
				t.Fatalf("state not blocked: %s", reason)
			}
			cs := r.drain(t)
			if len(cs) == 0 || cs[0].Gate != regimestate.GateOverrideUnreadable || slices.ContainsFunc(cs, func(c topics.RegimeChange) bool { return regimestate.Allowed(c.Gate) }) {
				t.Fatalf("changes %v", path(cs))
			}
			// A valid record ends it: "clear" reopens a calm market.
			clear, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "clear", CreatedMs: time.Now().UnixMilli(), UntilMs: time.Now().UnixMilli()})
			r.setOverride(t, clear)
			r.feed(frames[10])
			if st := r.state(t); st.Gate != regimestate.GateOpen || st.OverrideUnreadable != "" {
				t.Fatalf("after clear: gate %s unreadable %q", st.Gate, st.OverrideUnreadable)
			}
			if cs := r.drain(t); len(cs) != 1 || cs[0].Gate != regimestate.GateOpen || cs[0].AtMs != times[10] {
				t.Fatalf("after clear: changes %v", path(cs))
			}
		})
	}
}

func decodeChanges(t *testing.T, recs []*kgo.Record) []topics.RegimeChange {
	t.Helper()
	out := make([]topics.RegimeChange, 0, len(recs))
	for _, r := range recs {
		var c topics.RegimeChange
		if err := json.Unmarshal(r.Value, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

// Over Kafka (the production View and its quarantine emitter): an override
// topic holding only garbage closes the gate with its own reason, recorded
// in regime-changes, and the garbage is quarantined by the regime; a valid
// block then applies, and garbage after it keeps the block.
func TestKafkaGarbageOverridesNeverOpenTheRegimeGate(t *testing.T) {
	c := ptest.StartCluster(t)
	r := startRegime(t, c)
	guard := r.R.Guards()[0]
	times, frames := ptest.Crash().Frames()
	in, ovs := string(InputTopic(ptest.Prefix)), string(OverridesTable(ptest.Prefix))
	changes := c.NewReader(t, string(ChangesTopic(ptest.Prefix)))
	quar := c.NewReader(t, string(QuarantineTopic(ptest.Prefix)))

	c.Produce(t, ovs, regimestate.OverrideScope, []byte(`{"scope":"global","action":"allow","until":253402300799000,"reason":"lol","created_at":1}`))
	testkit.Eventually(t, 30*time.Second, "the overrides view to handle the garbage", func() bool { return guard.Seen() >= 1 })
	for _, f := range frames[:10] {
		c.Produce(t, in, topics.ExchangeBinance, f)
	}
	testkit.Eventually(t, 30*time.Second, "the first frames to be processed", func() bool { return records(r) == 10 })
	first := decodeChanges(t, changes.WaitFor(t, 1, 30*time.Second))[0]
	if first.To != string(regimestate.Calm) || first.Gate != regimestate.GateOverrideUnreadable {
		t.Fatalf("first change %+v, want Calm/override_unreadable", first)
	}
	q := ptest.Decode[topics.QuarantineRecord](t, quar.WaitFor(t, 1, 30*time.Second))[0]
	if q.SourceTopic != ovs || q.Consumer != string(Group(ptest.Prefix)) || !strings.Contains(q.Error, "lasts more than") {
		t.Fatalf("quarantine record %+v", q)
	}

	block, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "block", Reason: "maintenance", By: "ops",
		CreatedMs: times[0], UntilMs: times[len(times)-1] + 1})
	c.Produce(t, ovs, regimestate.OverrideScope, block)
	c.Produce(t, ovs, regimestate.OverrideScope, []byte("\x00\x01 not even json"))
	c.Produce(t, ovs, regimestate.OverrideScope, nil)
	testkit.Eventually(t, 30*time.Second, "the overrides view to handle the block and the garbage", func() bool { return guard.Seen() >= 4 })
	for _, f := range frames[10:20] {
		c.Produce(t, in, topics.ExchangeBinance, f)
	}
	testkit.Eventually(t, 30*time.Second, "every frame to be processed", func() bool { return records(r) == 20 })
	cs := decodeChanges(t, changes.Quiet(300*time.Millisecond))
	if len(cs) != 2 || cs[1].Gate != regimestate.GateOverrideBlock || cs[1].AtMs != times[10] {
		t.Fatalf("changes %v at %d, %d (frames from %d)", path(cs), cs[0].AtMs, cs[len(cs)-1].AtMs, times[10])
	}
	if n := len(quar.WaitFor(t, 3, 30*time.Second)); n != 3 {
		t.Fatalf("%d quarantine records, want 3", n)
	}
	if a := r.R.Alerts(); len(a) != 1 || !a[0].KeptLastGood {
		t.Fatalf("alerts %+v", a)
	}
}
