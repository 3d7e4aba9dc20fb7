package gate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// Decision is the gate's verdict on one intent.
type Decision struct {
	Allowed bool
	Gate    string // regime gate status, or "reduce" / "invalid"
	Band    string
	Score   float64
	Reason  string
}

// Decide is the pure gate decision for intent at time now (ms), given the
// regime state found by lookup (nil if none) and the newest override:
//   - an invalid intent (no account, symbol, side or size) is refused;
//   - a reduction or close is always allowed;
//   - otherwise regime.GateStatus decides (override, no state, Critical,
//     cooldown), and a state older than maxAge (when > 0) is refused as
//     stale unless an override allows opens.
//
// The same inputs always give the same decision.
func Decide(intent topics.OpenIntent, st *regime.State, ov *topics.Override, now int64, maxAge time.Duration) Decision {
	d := Decision{}
	if st != nil {
		d.Band, d.Score = string(st.Band), st.Score
	}
	if err := validate(intent); err != nil {
		d.Gate, d.Reason = "invalid", err.Error()
		return d
	}
	if intent.Reduce {
		d.Allowed, d.Gate, d.Reason = true, "reduce", "reductions and closes are never refused"
		return d
	}
	d.Gate, d.Reason = regime.GateStatus(st, ov, now)
	override := d.Gate == regime.GateOverrideAllow || d.Gate == regime.GateOverrideBlock
	if !override && st != nil && maxAge > 0 && now-st.AtMs > maxAge.Milliseconds() {
		d.Gate = regime.GateStale
		d.Reason = fmt.Sprintf("regime state is %s old (limit %s)", time.Duration(now-st.AtMs)*time.Millisecond, maxAge)
	}
	d.Allowed = regime.Allowed(d.Gate)
	return d
}

func validate(in topics.OpenIntent) error {
	var missing []string
	for name, v := range map[string]string{"account": in.Account, "symbol": in.Symbol, "side": in.Side, "size": in.Size} {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return fmt.Errorf("invalid intent: missing %s", strings.Join(missing, ", "))
	}
	if s := strings.ToUpper(in.Side); s != "BUY" && s != "SELL" {
		return errors.New("invalid intent: side must be BUY or SELL")
	}
	return nil
}
