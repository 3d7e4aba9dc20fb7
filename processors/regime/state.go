package regime

import (
	"time"

	"github.com/kraite/stream/topics"
)

// Gate statuses of a State (what an open intent would meet).
const (
	GateOpen          = "open"
	GateBlocked       = "blocked"        // band Critical
	GateCooldown      = "cooldown"       // left Critical less than Cooldown ago
	GateOverrideAllow = "override_allow" // an operator override allows opens
	GateOverrideBlock = "override_block" // an operator override blocks opens
	GateNoState       = "no_state"       // no regime state yet (fail closed)
	GateStale         = "stale"          // the regime state is too old (fail closed)
)

// State is the value of the regime group table (key = exchange): the score,
// band and gate of the market, the cooldown and override in force, the
// inputs of the last evaluation, and the rolling market state.
type State struct {
	Scope           string           `json:"scope"`
	AtMs            int64            `json:"at"` // event time of the last input
	Score           float64          `json:"score"`
	Band            Band             `json:"band"`
	SinceMs         int64            `json:"since"` // when Band was entered
	CooldownUntilMs int64            `json:"cooldown_until,omitempty"`
	Override        *topics.Override `json:"override,omitempty"`
	Gate            string           `json:"gate"`
	Inputs          Inputs           `json:"inputs"`
	Market          Market           `json:"market"`
	Records         int64            `json:"records"`
}

// Transition is the pure band/cooldown step: given the previous state, a
// new score at event time at, and the override currently recorded, it
// returns the next state (without Market/Inputs, which the caller sets).
// Entering Critical clears any cooldown; leaving Critical starts one of
// length cooldown. A band change or gate change is reported by changed.
func Transition(prev State, score float64, at int64, ov *topics.Override, cooldown time.Duration, hysteresis float64) (next State, changed bool) {
	next = prev
	next.AtMs, next.Score = at, score
	cur := prev.Band
	if cur == "" {
		cur = Calm
		next.SinceMs = at
	}
	nb := NextBand(cur, score, hysteresis)
	if nb != cur {
		next.SinceMs = at
	}
	next.Band = nb
	switch {
	case nb == Critical:
		next.CooldownUntilMs = 0
	case cur == Critical:
		next.CooldownUntilMs = at + cooldown.Milliseconds()
	case next.CooldownUntilMs != 0 && at >= next.CooldownUntilMs:
		next.CooldownUntilMs = 0
	}
	next.Override = activeOverride(ov, at)
	next.Gate, _ = GateStatus(&next, next.Override, at)
	changed = next.Band != prev.Band || next.Gate != prev.Gate
	return next, changed
}

// activeOverride returns ov when it is an allow or block still in force at
// now, else nil (a "clear" or an expired override ends by itself).
func activeOverride(ov *topics.Override, now int64) *topics.Override {
	if ov == nil || now >= ov.UntilMs {
		return nil
	}
	if ov.Action != "allow" && ov.Action != "block" {
		return nil
	}
	return ov
}

// GateStatus decides whether a new open may pass at time now (ms), given
// the regime state s (nil when none exists) and the newest override:
//   - an active operator override wins: "allow" lets opens through even in
//     Critical or cooldown, "block" refuses them;
//   - no state: refused (fail closed);
//   - band Critical: refused;
//   - within the cooldown after Critical: refused;
//   - otherwise allowed.
//
// It returns the gate status and a human-readable reason.
func GateStatus(s *State, ov *topics.Override, now int64) (status, reason string) {
	if ov := activeOverride(ov, now); ov != nil {
		until := time.UnixMilli(ov.UntilMs).UTC().Format(time.RFC3339)
		if ov.Action == "allow" {
			return GateOverrideAllow, "operator override allows opens until " + until + ": " + ov.Reason
		}
		return GateOverrideBlock, "operator override blocks opens until " + until + ": " + ov.Reason
	}
	switch {
	case s == nil || s.Band == "":
		return GateNoState, "no regime state yet"
	case s.Band == Critical:
		return GateBlocked, "market regime is Critical"
	case s.CooldownUntilMs != 0 && now < s.CooldownUntilMs:
		return GateCooldown, "cooldown after Critical until " + time.UnixMilli(s.CooldownUntilMs).UTC().Format(time.RFC3339)
	}
	return GateOpen, "market regime is " + string(s.Band)
}

// Allowed reports whether a gate status lets new opens through.
func Allowed(status string) bool { return status == GateOpen || status == GateOverrideAllow }
