package gate

import (
	"testing"
	"time"

	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

const now = int64(1_800_000_000_000)

func intent(reduce bool) topics.OpenIntent {
	return topics.OpenIntent{Account: "a", Exchange: "binance", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01", ClientID: "c1", Reduce: reduce}
}

func state(band regime.Band, cooldownUntil int64) *regime.State {
	return &regime.State{Scope: "binance", AtMs: now - 1000, Score: 80, Band: band, CooldownUntilMs: cooldownUntil}
}

func override(action string, until int64) *topics.Override {
	return &topics.Override{Scope: "global", Action: action, UntilMs: until, Reason: "ops"}
}

func TestDecide(t *testing.T) {
	cases := []struct {
		name    string
		intent  topics.OpenIntent
		st      *regime.State
		ov      *topics.Override
		allowed bool
		gate    string
	}{
		{"an open in Calm is allowed", intent(false), state(regime.Calm, 0), nil, true, regime.GateOpen},
		{"an open in Fragile is allowed", intent(false), state(regime.Fragile, 0), nil, true, regime.GateOpen},
		{"an open in Critical is refused", intent(false), state(regime.Critical, 0), nil, false, regime.GateBlocked},
		{"a reduction in Critical is allowed", intent(true), state(regime.Critical, 0), nil, true, "reduce"},
		{"an open during the cooldown is refused", intent(false), state(regime.Elevated, now+60_000), nil, false, regime.GateCooldown},
		{"an open after the cooldown is allowed", intent(false), state(regime.Elevated, now-1), nil, true, regime.GateOpen},
		{"an allow override beats the cooldown", intent(false), state(regime.Elevated, now+60_000), override("allow", now+1), true, regime.GateOverrideAllow},
		{"a block override refuses opens in Calm", intent(false), state(regime.Calm, 0), override("block", now+1), false, regime.GateOverrideBlock},
		{"an expired override is ignored", intent(false), state(regime.Elevated, now+60_000), override("allow", now), false, regime.GateCooldown},
		{"a clear override is ignored", intent(false), state(regime.Critical, 0), override("clear", now+1), false, regime.GateBlocked},
		{"no regime state refuses opens", intent(false), nil, nil, false, regime.GateNoState},
		{"no regime state still allows reductions", intent(true), nil, nil, true, "reduce"},
		{"a stale regime state refuses opens", intent(false), &regime.State{Band: regime.Calm, AtMs: now - 600_000}, nil, false, regime.GateStale},
		{"an intent without a symbol is refused", topics.OpenIntent{Account: "a", Side: "BUY", Size: "1"}, state(regime.Calm, 0), nil, false, "invalid"},
		{"an intent with a bad side is refused", topics.OpenIntent{Account: "a", Symbol: "X", Side: "UP", Size: "1"}, state(regime.Calm, 0), nil, false, "invalid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.intent, c.st, c.ov, now, 5*time.Minute)
			if d.Allowed != c.allowed || d.Gate != c.gate || d.Reason == "" {
				t.Fatalf("Decide = %+v, want allowed=%v gate=%s", d, c.allowed, c.gate)
			}
		})
	}
}
