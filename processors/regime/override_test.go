package regime

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

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
		"allow year 9999": rec(topics.Override{Scope: OverrideScope, Action: "allow", Reason: "x", CreatedMs: at, UntilMs: 253402300799000}),
		"allow from 2100": rec(topics.Override{Scope: OverrideScope, Action: "allow", Reason: "x", CreatedMs: 4102444800000, UntilMs: 4102444900000}),
		"unknown action":  rec(topics.Override{Scope: OverrideScope, Action: "open", Reason: "x", CreatedMs: at, UntilMs: at + 60_000}),
		"no reason":       rec(topics.Override{Scope: OverrideScope, Action: "allow", CreatedMs: at, UntilMs: at + 60_000}),
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
	if st := r.state(t); st.Gate != GateOpen {
		t.Fatalf("calm market: gate %s", st.Gate)
	}
	block, _ := json.Marshal(topics.Override{Scope: OverrideScope, Action: "block", Reason: "maintenance",
		CreatedMs: times[0], UntilMs: times[len(times)-1] + 1})
	r.setOverride(t, block)
	r.feed(frames[10])
	if st := r.state(t); st.Gate != GateOverrideBlock {
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
		if st.Gate != GateOverrideBlock || st.Override == nil || st.Override.Action != "block" || st.OverrideUnreadable != "" {
			t.Fatalf("%s after a block: gate %s, override %+v, unreadable %q", name, st.Gate, st.Override, st.OverrideUnreadable)
		}
		i++
	}
	if cs := r.drain(t); slices.ContainsFunc(cs, func(c topics.RegimeChange) bool { return Allowed(c.Gate) && c.AtMs > times[10] }) {
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
			if st.Gate != GateOverrideUnreadable || st.OverrideUnreadable == "" || st.Band != Calm {
				t.Fatalf("only garbage: band %s gate %s unreadable %q", st.Band, st.Gate, st.OverrideUnreadable)
			}
			if reason, blocked := st.Blocked(); !blocked {
				t.Fatalf("state not blocked: %s", reason)
			}
			cs := r.drain(t)
			if len(cs) == 0 || cs[0].Gate != GateOverrideUnreadable || slices.ContainsFunc(cs, func(c topics.RegimeChange) bool { return Allowed(c.Gate) }) {
				t.Fatalf("changes %v", path(cs))
			}
			// A valid record ends it: "clear" reopens a calm market.
			clear, _ := json.Marshal(topics.Override{Scope: OverrideScope, Action: "clear", CreatedMs: time.Now().UnixMilli(), UntilMs: time.Now().UnixMilli()})
			r.setOverride(t, clear)
			r.feed(frames[10])
			if st := r.state(t); st.Gate != GateOpen || st.OverrideUnreadable != "" {
				t.Fatalf("after clear: gate %s unreadable %q", st.Gate, st.OverrideUnreadable)
			}
			if cs := r.drain(t); len(cs) != 1 || cs[0].Gate != GateOpen || cs[0].AtMs != times[10] {
				t.Fatalf("after clear: changes %v", path(cs))
			}
		})
	}
}
