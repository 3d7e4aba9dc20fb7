package gate

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/processors/internal/control"
	"github.com/kraite/stream/topics"
)

const now = int64(1_800_000_000_000)

func intent(reduce bool) topics.OpenIntent {
	return topics.OpenIntent{Account: "a", Exchange: "binance", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01", ClientID: "c1", Reduce: reduce}
}

func state(band regimestate.Band, cooldownUntil int64) *regimestate.State {
	return &regimestate.State{Scope: "binance", AtMs: now - 1000, Score: 80, Band: band, CooldownUntilMs: cooldownUntil}
}

func override(action string, until int64) *topics.Override {
	return &topics.Override{Scope: "global", Action: action, UntilMs: until, Reason: "ops"}
}

var limits = Limits{MaxStateAge: 5 * time.Minute, MaxIntentAge: time.Minute, MaxIntentAhead: time.Minute}

func TestDecide(t *testing.T) {
	fresh := func(in topics.OpenIntent) Input { return Input{Intent: in, ClaimedMs: now - 500, NowMs: now} }
	with := func(in Input, st *regimestate.State, ov *topics.Override) Input {
		in.State, in.Override = st, ov
		return in
	}
	claimed := func(in Input, ms int64) Input {
		in.ClaimedMs = ms
		return in
	}
	open, reduce := fresh(intent(false)), fresh(intent(true))
	cases := []struct {
		name    string
		in      Input
		allowed bool
		reason  string
	}{
		{"an open in Calm is allowed", with(open, state(regimestate.Calm, 0), nil), true, regimestate.GateOpen},
		{"an open in Fragile is allowed", with(open, state(regimestate.Fragile, 0), nil), true, regimestate.GateOpen},
		{"an open in Critical is refused", with(open, state(regimestate.Critical, 0), nil), false, regimestate.GateBlocked},
		{"a reduction in Critical is allowed", with(reduce, state(regimestate.Critical, 0), nil), true, ReasonReduce},
		{"an open during the cooldown is refused", with(open, state(regimestate.Elevated, now+60_000), nil), false, regimestate.GateCooldown},
		{"an open after the cooldown is allowed", with(open, state(regimestate.Elevated, now-1), nil), true, regimestate.GateOpen},
		{"an allow override beats the cooldown", with(open, state(regimestate.Elevated, now+60_000), override("allow", now+1)), true, regimestate.GateOverrideAllow},
		{"a block override refuses opens in Calm", with(open, state(regimestate.Calm, 0), override("block", now+1)), false, regimestate.GateOverrideBlock},
		{"an expired override is ignored", with(open, state(regimestate.Elevated, now+60_000), override("allow", now)), false, regimestate.GateCooldown},
		{"a clear override is ignored", with(open, state(regimestate.Critical, 0), override("clear", now+1)), false, regimestate.GateBlocked},
		{"no regime state refuses opens", with(open, nil, nil), false, regimestate.GateNoState},
		{"no regime state still allows reductions", with(reduce, nil, nil), true, ReasonReduce},
		{"a stale regime state refuses opens", with(open, &regimestate.State{Band: regimestate.Calm, AtMs: now - 600_000}, nil), false, ReasonStaleState},
		{"a regime state from the future refuses opens", with(open, &regimestate.State{Band: regimestate.Calm, AtMs: now + 3_600_000}, nil), false, ReasonStaleState},
		{"an intent without a symbol is refused", fresh(topics.OpenIntent{Account: "a", Exchange: "binance", Side: "BUY", Size: "1"}), false, ReasonInvalidIntent},
		{"an intent with a bad side is refused", fresh(topics.OpenIntent{Account: "a", Exchange: "binance", Symbol: "X", Side: "UP", Size: "1"}), false, ReasonInvalidIntent},
		{"an intent of size 0 is refused", fresh(topics.OpenIntent{Account: "a", Exchange: "binance", Symbol: "X", Side: "BUY", Size: "0"}), false, ReasonInvalidIntent},
		{"an intent of size 1e999999 is refused", fresh(topics.OpenIntent{Account: "a", Exchange: "binance", Symbol: "X", Side: "BUY", Size: "1e999999"}), false, ReasonInvalidIntent},
		{"an intent for an unknown exchange is refused", fresh(topics.OpenIntent{Account: "a", Exchange: "mtgox", Symbol: "X", Side: "BUY", Size: "1"}), false, ReasonInvalidIntent},
		{"an open older than the max age is refused", with(claimed(open, now-61_000), state(regimestate.Calm, 0), nil), false, ReasonStaleIntent},
		{"an open just within the max age is allowed", with(claimed(open, now-59_000), state(regimestate.Calm, 0), nil), true, regimestate.GateOpen},
		{"an open without any time is refused", with(claimed(open, 0), state(regimestate.Calm, 0), nil), false, ReasonStaleIntent},
		{"an open from the future is refused", with(claimed(open, now+61_000), state(regimestate.Calm, 0), nil), false, ReasonFutureIntent},
		{"an open from year 9999 is refused", with(claimed(open, 253402300799000), state(regimestate.Calm, 0), nil), false, ReasonFutureIntent},
		{"a stale reduction still passes", with(claimed(reduce, 1), state(regimestate.Critical, 0), nil), true, ReasonReduce},
		// Issue 10 item 9: backdated into an allow window that expired, while the regime blocks.
		{"a backdated open in an expired allow window is refused", with(claimed(open, now-3_600_000),
			state(regimestate.Critical, 0), override("allow", now-1_800_000)), false, ReasonStaleIntent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Decide(c.in, limits)
			if d.Allowed != c.allowed || d.Reason != c.reason || d.Detail == "" {
				t.Fatalf("Decide = %+v, want allowed=%v reason=%s", d, c.allowed, c.reason)
			}
		})
	}
}

// Without the age limit the backdated intent still meets the regime at the
// gate's clock: the expired window does not apply, Critical refuses.
func TestDecideJudgesAtTheGatesClockNotTheClaimedTime(t *testing.T) {
	in := Input{Intent: intent(false), ClaimedMs: now - 3_600_000, NowMs: now,
		State: state(regimestate.Critical, 0), Override: override("allow", now-1_800_000)}
	d := Decide(in, Limits{MaxStateAge: 5 * time.Minute})
	if d.Allowed || d.Reason != regimestate.GateBlocked {
		t.Fatalf("Decide = %+v, want blocked", d)
	}
}

func TestDecideRefusesOpensWhenTheOverrideIsUnreadable(t *testing.T) {
	in := Input{Intent: intent(false), ClaimedMs: now, NowMs: now, State: state(regimestate.Calm, 0),
		OverrideErr: errors.New("override unreadable: garbage")}
	d := Decide(in, limits)
	if d.Allowed || d.Reason != ReasonOverrideUnreadable || !strings.Contains(d.Detail, "garbage") {
		t.Fatalf("Decide = %+v", d)
	}
	in.Intent.Reduce = true
	if d := Decide(in, limits); !d.Allowed {
		t.Fatalf("reduction refused: %+v", d)
	}
}

func TestDecideRefusesOpensWhenTheStateIsUnreadable(t *testing.T) {
	in := Input{Intent: intent(false), ClaimedMs: now, NowMs: now, StateErr: errors.New("garbage"),
		Override: override("allow", now+1)}
	if d := Decide(in, limits); d.Allowed || d.Reason != ReasonStateUnreadable {
		t.Fatalf("Decide = %+v", d)
	}
}

func TestOverrideScopeIsTheRegimes(t *testing.T) {
	if control.ScopeGlobal != regimestate.OverrideScope {
		t.Fatalf("control.ScopeGlobal %q != regimestate.OverrideScope %q", control.ScopeGlobal, regimestate.OverrideScope)
	}
}
