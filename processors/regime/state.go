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
	GateDegraded      = "degraded"       // the feed is too thin to judge (State.Degraded says why)
	// GateOverrideUnreadable: the overrides topic holds only garbage for
	// the scope (State.OverrideUnreadable says why); fail closed.
	GateOverrideUnreadable = "override_unreadable"
)

// GateStatuses lists every gate status a State or a RegimeChange may
// carry (consumers of regime-changes validate against it).
var GateStatuses = []string{GateOpen, GateBlocked, GateCooldown, GateOverrideAllow, GateOverrideBlock,
	GateNoState, GateStale, GateDegraded, GateOverrideUnreadable}

// State is the value of the regime group table (key = exchange): the score,
// band and gate of the market, the cooldown and override in force, the
// inputs of the last evaluation, and the rolling market state.
type State struct {
	Scope   string  `json:"scope"`
	AtMs    int64   `json:"at"` // event time of the last input
	Score   float64 `json:"score"`
	Band    Band    `json:"band"`
	SinceMs int64   `json:"since"` // when Band was entered
	// DownSinceMs is when the score began pointing to a lower band (0 when
	// it does not); the band follows after Config.DownHold.
	DownSinceMs     int64            `json:"down_since,omitempty"`
	CooldownUntilMs int64            `json:"cooldown_until,omitempty"`
	Override        *topics.Override `json:"override,omitempty"`
	Gate            string           `json:"gate"`
	// Degraded is why the feed cannot support a verdict (the reference
	// silent, too few symbols ticking, by event time); "" when it can. A
	// degraded state blocks opens (GateDegraded) until the feed recovers or
	// an operator allow override says otherwise.
	Degraded string `json:"degraded,omitempty"`
	// RecoverUntilMs is when a feed that was degraded counts as healthy
	// again (Config.Recovery after its last degraded record): the score's
	// windows hold the blind spell until they refill.
	RecoverUntilMs int64 `json:"recover_until,omitempty"`
	// OverrideUnreadable is why the override could not be read at the last
	// record ("" when it could): the overrides View holds only garbage for
	// the scope. The processor sets it on the previous state before Step,
	// from what it read; Transition carries it and GateStatus refuses opens
	// on it (GateOverrideUnreadable) unless a readable override is active.
	OverrideUnreadable string `json:"override_unreadable,omitempty"`
	Inputs             Inputs `json:"inputs"`
	// Market is the rolling market state. It is not part of the table
	// value: the processor keeps it in memory per partition and persists
	// it as periodic checkpoints (see the package doc, "State in memory").
	Market  Market `json:"-"`
	Records int64  `json:"records"`
	// Partition and Next locate the last input record folded into the
	// state: its mark-price partition and its offset + 1 (0: unknown, a
	// state written before the checkpoints). A record below Next was
	// folded already (a redelivery after a crash) and is skipped; a
	// rebuild replays the input from the last checkpoint up to Next.
	Partition int32 `json:"partition,omitempty"`
	Next      int64 `json:"next,omitempty"`
}

// Transition is the pure band/cooldown step: given the previous state, a
// new score at event time at, why the feed is degraded ("" when it is
// not), and the override currently recorded, it returns the next state
// (without Market/Inputs, which the caller sets). A band is entered as soon
// as the score reaches it and left downwards only once the score has
// pointed lower (by cfg.Hysteresis) for cfg.DownHold of event time, so a
// score swinging around a floor during a crash does not flap the band.
// Entering Critical clears any cooldown; leaving Critical starts one of
// length cfg.Cooldown. A degraded feed stays degraded for cfg.Recovery
// after its last degraded record. A band change or gate change is reported
// by changed.
func Transition(cfg Config, prev State, score float64, at int64, degraded string, ov *topics.Override) (next State, changed bool) {
	next = prev
	next.AtMs, next.Score, next.Degraded = at, score, degraded
	switch {
	case degraded != "":
		next.RecoverUntilMs = at + cfg.Recovery.Milliseconds()
	case next.RecoverUntilMs != 0 && at < next.RecoverUntilMs:
		next.Degraded = "feed recovering, windows refill until " + time.UnixMilli(next.RecoverUntilMs).UTC().Format(time.RFC3339)
	default:
		next.RecoverUntilMs = 0
	}
	cur := prev.Band
	if cur == "" {
		cur = Calm
		next.SinceMs = at
	}
	nb := NextBand(cur, score, cfg.Hysteresis)
	switch {
	case nb.rank() >= cur.rank() || cfg.DownHold <= 0:
		next.DownSinceMs = 0
	case next.DownSinceMs == 0 || next.DownSinceMs > at:
		next.DownSinceMs, nb = at, cur
	case at-next.DownSinceMs < cfg.DownHold.Milliseconds():
		nb = cur
	default:
		next.DownSinceMs = 0
	}
	if nb != cur {
		next.SinceMs = at
	}
	next.Band = nb
	switch {
	case nb == Critical:
		next.CooldownUntilMs = 0
	case cur == Critical:
		next.CooldownUntilMs = at + cfg.Cooldown.Milliseconds()
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
//   - the override unreadable at the regime's last record
//     (s.OverrideUnreadable): refused (fail closed);
//   - a degraded feed (s.Degraded): refused, the band cannot be trusted;
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
	case s.OverrideUnreadable != "":
		return GateOverrideUnreadable, "regime overrides unreadable (" + s.OverrideUnreadable + "); write a valid one, e.g. kraite regime override clear"
	case s.Degraded != "":
		return GateDegraded, "regime degraded: " + s.Degraded
	case s.Band == Critical:
		return GateBlocked, "market regime is Critical"
	case s.CooldownUntilMs != 0 && now < s.CooldownUntilMs:
		return GateCooldown, "cooldown after Critical until " + time.UnixMilli(s.CooldownUntilMs).UTC().Format(time.RFC3339)
	}
	return GateOpen, "market regime is " + string(s.Band)
}

// Blocked reports whether s alone (no override, at its own event time)
// refuses opens, and why: what the gate's GateStatus says before
// overrides and its own staleness check.
func (s *State) Blocked() (reason string, blocked bool) {
	var at int64
	if s != nil {
		at = s.AtMs
	}
	status, reason := GateStatus(s, nil, at)
	return reason, !Allowed(status)
}

// Allowed reports whether a gate status lets new opens through.
func Allowed(status string) bool { return status == GateOpen || status == GateOverrideAllow }
