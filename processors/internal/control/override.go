// Package control validates and decodes the records of the regime
// overrides topic, for every processor that reads it (the gate, and the
// regime processor). The topic is a control topic: a record on it can open
// or close the gate for the whole system, and anyone with write access (an
// operator's kcat, a bug) can put anything there. A record that fails
// Override's checks is refused by the View's Guard (processors/internal/
// lookups): the last good override stays, or, when there is none, the key
// reads as unreadable and the gate blocks (fail closed).
package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

// ScopeGlobal is the one override scope: it applies to every exchange
// (regimestate.OverrideScope).
const ScopeGlobal = regimestate.OverrideScope

// Override actions.
const (
	ActionAllow = "allow"
	ActionBlock = "block"
	ActionClear = "clear"
)

// Bounds of an override record.
const (
	// MaxOverrideSpan is the longest an override may last (until minus
	// created_at, and until minus the reader's clock): an operator who
	// needs longer renews it; a record "until 9999" is garbage.
	MaxOverrideSpan = regimestate.MaxOverrideSpan
	// MaxOverrideBytes bounds the encoded record (a real one is ~200 bytes).
	MaxOverrideBytes = 4 << 10
	// MaxReason and MaxBy bound the free-text fields (characters).
	MaxReason = regimestate.MaxOverrideReason
	MaxBy     = 128
)

// ErrUnreadable reports an overrides value that cannot be read: its only
// records were garbage, or the stored value does not decode. A reader
// must fail closed on it.
var ErrUnreadable = errors.New("override unreadable")

// CheckOverride validates one record of the overrides topic (key = scope)
// at the reader's time now, and returns the override:
//   - a tombstone is refused (an override is ended by action "clear");
//   - the value is at most MaxOverrideBytes of JSON;
//   - scope is known and equals the key; action is allow, block or clear;
//   - created_at is positive and not ahead of now by more than
//     topics.DefaultMaxAhead;
//   - until is not before created_at, and neither until minus created_at
//     nor until minus now exceeds MaxOverrideSpan (no year 9999, no
//     negative times);
//   - reason (required for allow and block) and by are valid UTF-8 of
//     bounded length.
//
// An expired override passes: it is an honest record whose time is over
// (every compacted topic keeps the last one), and has no effect.
func CheckOverride(key string, raw []byte, now time.Time) (topics.Override, error) {
	var ov topics.Override
	if raw == nil {
		return ov, errors.New("override tombstone refused: end an override with action \"clear\"")
	}
	if len(raw) > MaxOverrideBytes {
		return ov, fmt.Errorf("override record of %d bytes (at most %d)", len(raw), MaxOverrideBytes)
	}
	if err := json.Unmarshal(raw, &ov); err != nil {
		return ov, fmt.Errorf("decoding override: %w", err)
	}
	if ov.Scope != ScopeGlobal {
		return ov, fmt.Errorf("override scope %q is not known (want %q)", topics.Bound(ov.Scope, 64), ScopeGlobal)
	}
	if key != ov.Scope {
		return ov, fmt.Errorf("override key %q differs from its scope %q", topics.Bound(key, 64), ov.Scope)
	}
	if err := validate.OneOf(ov.Action, ActionAllow, ActionBlock, ActionClear); err != nil {
		return ov, fmt.Errorf("override action: %w", err)
	}
	if err := topics.CheckEventTime(ov.CreatedMs, now, topics.DefaultMaxAhead); err != nil {
		return ov, fmt.Errorf("override created_at: %w", err)
	}
	span := MaxOverrideSpan.Milliseconds()
	switch {
	case ov.UntilMs < ov.CreatedMs:
		return ov, fmt.Errorf("override until %d is before its created_at %d", ov.UntilMs, ov.CreatedMs)
	case ov.UntilMs-ov.CreatedMs > span, ov.UntilMs-now.UnixMilli() > span:
		return ov, fmt.Errorf("override until %d lasts more than %s", ov.UntilMs, MaxOverrideSpan)
	}
	if ov.Action != ActionClear {
		if err := validate.RequiredText(ov.Reason, MaxReason); err != nil {
			return ov, fmt.Errorf("override reason: %w", err)
		}
	} else if err := validate.Text(ov.Reason, MaxReason); err != nil {
		return ov, fmt.Errorf("override reason: %w", err)
	}
	if err := validate.Text(ov.By, MaxBy); err != nil {
		return ov, fmt.Errorf("override by: %w", err)
	}
	return ov, nil
}

// OverrideCheck is the Guard check of the overrides topic, at the clock
// now (nil: time.Now).
func OverrideCheck(now func() time.Time) lookups.Check {
	if now == nil {
		now = time.Now
	}
	return func(key string, raw []byte) error {
		_, err := CheckOverride(key, raw, now())
		return err
	}
}

// DecodeOverride reads a value of a guarded overrides View (what
// View.Get returns): nil, nil when no override was ever set; the override
// when one is stored; ErrUnreadable when the key holds the Guard's
// unreadable marker or a value that does not decode (storage written
// before the Guard existed). The View only stores checked records, so the
// time checks are not repeated here.
func DecodeOverride(v any) (*topics.Override, error) {
	if reason, ok := lookups.Unreadable(v); ok {
		return nil, fmt.Errorf("%w: %s", ErrUnreadable, reason)
	}
	raw, _ := v.([]byte)
	if len(raw) == 0 {
		return nil, nil
	}
	var ov topics.Override
	if err := json.Unmarshal(raw, &ov); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnreadable, err)
	}
	if ov.Action != ActionAllow && ov.Action != ActionBlock && ov.Action != ActionClear {
		return nil, fmt.Errorf("%w: action %q", ErrUnreadable, topics.Bound(ov.Action, 64))
	}
	return &ov, nil
}

// NewOverridesView creates the guarded View of the overrides topic
// (cfg.Table) that cfg.Group reads, checking records with CheckOverride at
// the clock now (nil: time.Now); cfg.Check and cfg.KnownKey are set here. Read its values
// with DecodeOverride and give the Guard to the Runner (Runner.Guard).
func NewOverridesView(cfg lookups.GuardConfig, now func() time.Time) (*goka.View, *lookups.Guard, error) {
	if now == nil {
		now = time.Now
	}
	// Parse, not Check: the Guard keeps the checked override, so a reader
	// through lookups.Decoded[*topics.Override] does not decode it again.
	cfg.Check, cfg.Parse = nil, func(key string, raw []byte) (any, error) {
		ov, err := CheckOverride(key, raw, now())
		if err != nil {
			return nil, err
		}
		return &ov, nil
	}
	cfg.KnownKey = func(key string) bool { return key == ScopeGlobal }
	return lookups.NewGuardedView(cfg)
}
