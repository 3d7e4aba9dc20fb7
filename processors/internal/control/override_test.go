package control

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

var clock = time.UnixMilli(1_800_000_000_000)

func record(mod func(*topics.Override)) []byte {
	ov := topics.Override{Scope: ScopeGlobal, Action: ActionBlock, UntilMs: clock.UnixMilli() + 3_600_000,
		Reason: "maintenance", By: "ops", CreatedMs: clock.UnixMilli() - 1000}
	if mod != nil {
		mod(&ov)
	}
	b, _ := json.Marshal(ov)
	return b
}

func TestCheckOverride(t *testing.T) {
	ms := clock.UnixMilli()
	good := map[string][]byte{
		"a block":                 record(nil),
		"an allow":                record(func(o *topics.Override) { o.Action = ActionAllow }),
		"a clear (until=created)": record(func(o *topics.Override) { o.Action, o.UntilMs, o.Reason = ActionClear, o.CreatedMs, "" }),
		"an expired block":        record(func(o *topics.Override) { o.CreatedMs, o.UntilMs = ms-7_200_000, ms-3_600_000 }),
		"a 30-day block":          record(func(o *topics.Override) { o.UntilMs = o.CreatedMs + MaxOverrideSpan.Milliseconds() }),
		"unknown extra fields":    []byte(`{"scope":"global","action":"block","until":1800003600000,"reason":"x","created_at":1800000000000,"ticket":"OPS-1"}`),
	}
	for name, raw := range good {
		if _, err := CheckOverride(ScopeGlobal, raw, clock); err != nil {
			t.Errorf("%s refused: %v", name, err)
		}
	}
	bad := map[string][]byte{
		"a tombstone":         nil,
		"empty":               {},
		"not json":            []byte("{"),
		"a JSON string":       []byte(`"block"`),
		"null":                []byte(`null`),
		"huge":                []byte(`{"reason":"` + strings.Repeat("x", MaxOverrideBytes) + `"}`),
		"unknown scope":       record(func(o *topics.Override) { o.Scope = "binance" }),
		"unknown action":      record(func(o *topics.Override) { o.Action = "ALLOW" }),
		"no created_at":       record(func(o *topics.Override) { o.CreatedMs = 0 }),
		"negative times":      record(func(o *topics.Override) { o.CreatedMs, o.UntilMs = -10, -5 }),
		"created in future":   record(func(o *topics.Override) { o.CreatedMs = ms + 3_600_000; o.UntilMs = ms + 7_200_000 }),
		"until year 9999":     record(func(o *topics.Override) { o.UntilMs = 253402300799000 }),
		"until before create": record(func(o *topics.Override) { o.UntilMs = o.CreatedMs - 1 }),
		"31 days":             record(func(o *topics.Override) { o.UntilMs = o.CreatedMs + MaxOverrideSpan.Milliseconds() + 1 }),
		"no reason":           record(func(o *topics.Override) { o.Reason = "" }),
		"reason with NUL":     record(func(o *topics.Override) { o.Reason = "a\x00b" }),
		"reason too long":     record(func(o *topics.Override) { o.Reason = strings.Repeat("é", MaxReason+1) }),
		"by too long":         record(func(o *topics.Override) { o.By = strings.Repeat("b", MaxBy+1) }),
	}
	for name, raw := range bad {
		if _, err := CheckOverride(ScopeGlobal, raw, clock); err == nil {
			t.Errorf("%s accepted", name)
		}
	}
	if _, err := CheckOverride("other", record(nil), clock); err == nil {
		t.Error("a key that differs from the scope accepted")
	}
}

func TestDecodeOverride(t *testing.T) {
	if ov, err := DecodeOverride(nil); ov != nil || err != nil {
		t.Fatalf("no value: %v %v", ov, err)
	}
	if ov, err := DecodeOverride(record(nil)); err != nil || ov.Action != ActionBlock {
		t.Fatalf("a block: %v %v", ov, err)
	}
	for _, v := range []any{[]byte("{"), []byte(`{"action":"open"}`)} {
		if _, err := DecodeOverride(v); !errors.Is(err, ErrUnreadable) {
			t.Errorf("%s: %v, want ErrUnreadable", v, err)
		}
	}
}

// FuzzCheckOverride: whatever the bytes, the check neither panics nor
// accepts a record that would decode to something the gate cannot use.
func FuzzCheckOverride(f *testing.F) {
	f.Add([]byte(record(nil)))
	f.Add([]byte(record(func(o *topics.Override) { o.Action = ActionClear })))
	f.Add([]byte(`{"scope":"global","action":"allow","until":253402300799000,"reason":"x","created_at":1}`))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ov, err := CheckOverride(ScopeGlobal, raw, clock)
		if err != nil {
			return
		}
		if ov.UntilMs < ov.CreatedMs || ov.CreatedMs <= 0 || ov.UntilMs-clock.UnixMilli() > MaxOverrideSpan.Milliseconds() {
			t.Fatalf("accepted %+v", ov)
		}
		if got, err := DecodeOverride(raw); err != nil || got.Action != ov.Action {
			t.Fatalf("accepted but does not decode: %v", err)
		}
		if _, ok := lookups.Unreadable(raw); ok {
			t.Fatal("accepted an unreadable marker")
		}
	})
}
