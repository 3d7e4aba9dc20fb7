package regime

import (
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

// State is what the processor holds per scope: the table value
// (State, which the gate and the status page read) and the
// rolling market it folds, kept in memory and in checkpoints, never in the
// table value (see the package doc, "State in memory"). It encodes as the
// table value alone.
type State struct {
	regimestate.State
	Market Market `json:"-"`
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
		cur = regimestate.Calm
		next.SinceMs = at
	}
	nb := regimestate.NextBand(cur, score, cfg.Hysteresis)
	switch {
	case nb.Rank() >= cur.Rank() || cfg.DownHold <= 0:
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
	case nb == regimestate.Critical:
		next.CooldownUntilMs = 0
	case cur == regimestate.Critical:
		next.CooldownUntilMs = at + cfg.Cooldown.Milliseconds()
	case next.CooldownUntilMs != 0 && at >= next.CooldownUntilMs:
		next.CooldownUntilMs = 0
	}
	next.Override = regimestate.ActiveOverride(ov, at)
	next.Gate, _ = regimestate.GateStatus(&next.State, next.Override, at)
	changed = next.Band != prev.Band || next.Gate != prev.Gate
	return next, changed
}
