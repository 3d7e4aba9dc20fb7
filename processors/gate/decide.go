package gate

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// Reasons of a Decision, machine-readable (RejectedIntent.Reason). A
// decision the regime made carries the regime's gate status as its reason
// (regimestate.GateOpen, GateBlocked, GateCooldown, GateOverrideAllow,
// GateOverrideBlock, GateNoState, and any status the regime adds, such as
// its degraded state); the gate adds these:
const (
	// ReasonReduce: a reduction or close, never refused.
	ReasonReduce = "reduce"
	// ReasonInvalidIntent: a field is missing or malformed.
	ReasonInvalidIntent = "invalid_intent"
	// ReasonStaleIntent: the intent was made longer than MaxIntentAge
	// before the gate received it (or says nothing about when).
	ReasonStaleIntent = "stale_intent"
	// ReasonFutureIntent: the intent claims a created_at ahead of the
	// gate's clock by more than MaxIntentAhead.
	ReasonFutureIntent = "future_intent"
	// ReasonOverrideUnreadable: the overrides topic holds no readable
	// value for the scope (its only records were garbage); opens are
	// refused until an operator writes a valid override (or "clear").
	ReasonOverrideUnreadable = "override_unreadable"
	// ReasonStateUnreadable: the regime table holds no readable state for
	// the exchange (its only records were garbage).
	ReasonStateUnreadable = "state_unreadable"
	// ReasonStaleState: the regime state is older than MaxStateAge by the
	// gate's clock, or claims a time ahead of it (regimestate.GateStale).
	ReasonStaleState = regimestate.GateStale
)

// Decision is the gate's verdict on one intent.
type Decision struct {
	Allowed bool
	// Reason is a machine-readable constant (see the Reason constants).
	Reason string
	// Detail says the same for a person (times, limits, the override's
	// reason).
	Detail string
	Band   string
	Score  float64
}

// Limits are the time limits of a decision (see Config).
type Limits struct {
	MaxStateAge    time.Duration // 0 disables the check
	MaxIntentAge   time.Duration // 0 disables the check
	MaxIntentAhead time.Duration // 0 means topics.DefaultMaxAhead
}

// Input is everything one decision depends on.
type Input struct {
	Intent topics.OpenIntent
	// ClaimedMs is when the intent says it was made: its created_at, or
	// the record's timestamp when it has none; 0 when neither is known.
	ClaimedMs int64
	// State is the regime state of the intent's exchange (nil if none);
	// StateErr is set when the table holds no readable state (fail closed).
	State    *regimestate.State
	StateErr error
	// Override is the newest override (nil if none); OverrideErr is set
	// when the overrides topic holds no readable value (fail closed).
	Override    *topics.Override
	OverrideErr error
	// NowMs is the gate's own clock when it received the intent.
	NowMs int64
}

// Decide is the pure gate decision, in this order:
//   - an invalid intent (no account, symbol, side or size; a size that
//     is not a positive decimal; an unknown exchange) is refused;
//   - a reduction or close is always allowed;
//   - an open made more than MaxIntentAge before NowMs (or of unknown
//     age) is refused as stale_intent, one claiming a time more than
//     MaxIntentAhead after NowMs as future_intent;
//   - an unreadable regime state or override refuses opens;
//   - otherwise regimestate.GateStatus decides at NowMs (override, no state,
//     Critical, cooldown, ...), and a state older than MaxStateAge at
//     NowMs, or claiming a time ahead of it, is refused as stale unless
//     an override allows opens.
//
// Every time is compared with NowMs, the gate's clock: a time the intent
// claims only ever refuses it, never moves the decision to another moment
// (an intent backdated into an expired allow window is judged now).
func Decide(in Input, lim Limits) Decision {
	d := Decision{}
	if in.State != nil {
		d.Band, d.Score = string(in.State.Band), in.State.Score
	}
	if err := validateIntent(in.Intent); err != nil {
		d.Reason, d.Detail = ReasonInvalidIntent, err.Error()
		return d
	}
	if in.Intent.Reduce {
		d.Allowed, d.Reason, d.Detail = true, ReasonReduce, "reductions and closes are never refused"
		return d
	}
	ahead := lim.MaxIntentAhead
	if ahead <= 0 {
		ahead = topics.DefaultMaxAhead
	}
	// Ages in ms (a Duration of year 9999 minus now would overflow).
	switch age := in.NowMs - in.ClaimedMs; {
	case in.ClaimedMs <= 0:
		d.Reason, d.Detail = ReasonStaleIntent, "the intent has no created_at and no record time: its age is unknown"
		return d
	case -age > ahead.Milliseconds():
		d.Reason, d.Detail = ReasonFutureIntent, fmt.Sprintf("created_at %d is %s ahead of the gate's clock (limit %s)", in.ClaimedMs, msString(-age), ahead)
		return d
	case lim.MaxIntentAge > 0 && age > lim.MaxIntentAge.Milliseconds():
		d.Reason, d.Detail = ReasonStaleIntent, fmt.Sprintf("the intent is %s old when the gate received it (limit %s); submit it again", msString(age), lim.MaxIntentAge)
		return d
	}
	if in.StateErr != nil {
		d.Reason = ReasonStateUnreadable
		d.Detail = "the regime state cannot be read (" + in.StateErr.Error() + ")"
		return d
	}
	if in.OverrideErr != nil {
		d.Reason = ReasonOverrideUnreadable
		d.Detail = "the regime override cannot be read (" + in.OverrideErr.Error() + "); write a valid one, e.g. kraite regime override clear"
		return d
	}
	d.Reason, d.Detail = regimestate.GateStatus(in.State, in.Override, in.NowMs)
	override := d.Reason == regimestate.GateOverrideAllow || d.Reason == regimestate.GateOverrideBlock
	if st := in.State; !override && st != nil {
		switch stAge := in.NowMs - st.AtMs; {
		case -stAge > ahead.Milliseconds():
			d.Reason = ReasonStaleState
			d.Detail = fmt.Sprintf("regime state claims a time %s ahead of the gate's clock", msString(-stAge))
		case lim.MaxStateAge > 0 && stAge > lim.MaxStateAge.Milliseconds():
			d.Reason = ReasonStaleState
			d.Detail = fmt.Sprintf("regime state is %s old (limit %s)", msString(stAge), lim.MaxStateAge)
		}
	}
	d.Allowed = regimestate.Allowed(d.Reason)
	return d
}

func validateIntent(in topics.OpenIntent) error {
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
	if err := validate.Exchange(in.Exchange); err != nil {
		return fmt.Errorf("invalid intent: exchange: %w", err)
	}
	if err := validate.Symbol(in.Symbol); err != nil {
		return fmt.Errorf("invalid intent: symbol: %w", err)
	}
	if err := validate.Decimal(in.Size, validate.DecimalIntDigits, validate.DecimalFracDigits, false, false); err != nil {
		return fmt.Errorf("invalid intent: size: %w", err)
	}
	return nil
}

// checkBounds refuses an intent whose text fields could not be echoed
// safely in a rejection record (invalid UTF-8, NUL, too long): such an
// intent is quarantined (bounded) instead.
func checkBounds(in topics.OpenIntent) error {
	for _, f := range []struct {
		name, v string
		max     int
	}{
		{"account", in.Account, validate.AccountWidth}, {"exchange", in.Exchange, validate.ExchangeWidth},
		{"symbol", in.Symbol, validate.SymbolWidth}, {"side", in.Side, 16}, {"size", in.Size, validate.MaxDecimalLen},
		{"client_id", in.ClientID, MaxClientID},
	} {
		if err := validate.Text(f.v, f.max); err != nil {
			return fmt.Errorf("open intent %s: %w", f.name, err)
		}
	}
	return nil
}

// msString renders a span of ms without overflowing time.Duration.
func msString(ms int64) string {
	if ms > int64(time.Duration(1<<62)/time.Millisecond) || ms < -int64(time.Duration(1<<62)/time.Millisecond) {
		return fmt.Sprintf("%d days", ms/86_400_000)
	}
	return (time.Duration(ms) * time.Millisecond).String()
}
