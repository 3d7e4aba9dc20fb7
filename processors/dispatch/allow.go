package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// DefaultBinanceAllowlist is the Binance allowlist used until the allowlist
// topic says otherwise (DESIGN.md section 5). NEW, REJECTED and CALCULATED
// stay off, as do the non-order events.
func DefaultBinanceAllowlist() []string {
	return []string{binance.ExecTrade, binance.ExecAmendment, binance.ExecCanceled, binance.ExecExpired,
		binance.AlgoNew, binance.AlgoCanceled, binance.AlgoExpired, binance.AlgoFilled}
}

// Bounds of an allowlist record.
const (
	// MaxAllowlistTypes bounds the list (there are about twenty types).
	MaxAllowlistTypes = 64
	// MaxAllowlistBytes bounds the encoded record.
	MaxAllowlistBytes = 16 << 10
	// MaxAllowlistBy bounds who made the change (characters).
	MaxAllowlistBy = 128
)

// CheckAllowlist validates one record of the allowlist topic (key =
// exchange) and returns it: not a tombstone (deleting a list would fall
// back to the configured default, widening it), at most MaxAllowlistBytes
// of JSON, the exchange known and equal to the key, types present (an
// empty list [] is shadow mode; a missing or null list is garbage), at
// most MaxAllowlistTypes, each a known execution type (binance.ExecutionTypes), updated_at not
// negative nor ahead of the clock, by bounded UTF-8.
func CheckAllowlist(key string, raw []byte, now time.Time) (topics.AllowlistValue, error) {
	var v topics.AllowlistValue
	if raw == nil {
		return v, errors.New("allowlist tombstone refused: shadow mode is an empty list, not a deletion")
	}
	if len(raw) > MaxAllowlistBytes {
		return v, fmt.Errorf("allowlist record of %d bytes (at most %d)", len(raw), MaxAllowlistBytes)
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("decoding allowlist: %w", err)
	}
	if err := validate.Exchange(v.Exchange); err != nil {
		return v, fmt.Errorf("allowlist exchange: %w", err)
	}
	if key != v.Exchange {
		return v, fmt.Errorf("allowlist key %q differs from its exchange %q", topics.Bound(key, 64), v.Exchange)
	}
	if v.Types == nil {
		return v, errors.New("allowlist has no types list (shadow mode is an empty list [])")
	}
	if len(v.Types) > MaxAllowlistTypes {
		return v, fmt.Errorf("allowlist of %d types (at most %d)", len(v.Types), MaxAllowlistTypes)
	}
	for _, t := range v.Types {
		if !binance.KnownExecutionType(t) {
			return v, fmt.Errorf("allowlist type %q is not a known execution type", topics.Bound(t, 64))
		}
	}
	if v.UpdatedMs < 0 {
		return v, fmt.Errorf("allowlist updated_at %d is negative", v.UpdatedMs)
	}
	if v.UpdatedMs > 0 {
		if err := topics.CheckEventTime(v.UpdatedMs, now, topics.DefaultMaxAhead); err != nil {
			return v, fmt.Errorf("allowlist updated_at: %w", err)
		}
	}
	if err := validate.Text(v.By, MaxAllowlistBy); err != nil {
		return v, fmt.Errorf("allowlist by: %w", err)
	}
	return v, nil
}

// DefaultAllowlists is the initial allowlist of every exchange.
func DefaultAllowlists() map[string][]string {
	return map[string][]string{topics.ExchangeBinance: DefaultBinanceAllowlist()}
}

// Outcome is what dispatch does with one decoded record.
type Outcome string

// Outcomes of Decide, also the "outcome" label of the metrics.
const (
	// Dispatched: the execution type is allowed; the event goes to orders.
	Dispatched Outcome = "dispatched"
	// Filtered: the allowlist is not empty and does not name the type.
	Filtered Outcome = "filtered"
	// Shadowed: the allowlist is empty (shadow mode); nothing is dispatched.
	Shadowed Outcome = "shadowed"
	// Quarantined: the record could not be decoded.
	Quarantined Outcome = "quarantined"
	// Gap: a gap marker; counted, nothing dispatched.
	Gap Outcome = "gap"
)

// Decide applies an allowlist to one execution type. An empty list is
// shadow mode. Matching is exact after trimming spaces and upper-casing the
// list entries (execution types are upper case; listenKeyExpired is the
// one mixed-case type and is matched case-insensitively).
func Decide(allow []string, executionType string) Outcome {
	if len(allow) == 0 {
		return Shadowed
	}
	if slices.ContainsFunc(allow, func(t string) bool {
		return strings.EqualFold(strings.TrimSpace(t), executionType)
	}) {
		return Dispatched
	}
	return Filtered
}

// NormalizeTypes cleans an operator-supplied list: trims, upper-cases
// (except listenKeyExpired), drops empties and duplicates, keeps order.
func NormalizeTypes(types []string) []string {
	out := []string{}
	for _, t := range types {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !strings.EqualFold(t, "listenKeyExpired") {
			t = strings.ToUpper(t)
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out
}

// AllowlistRecord builds the record that sets an exchange's allowlist on
// the compacted allowlist topic (key = exchange). Types are normalized; an
// empty list is written as [] (shadow mode), never null.
func AllowlistRecord(prefix string, v topics.AllowlistValue) (*kgo.Record, error) {
	v.Types = NormalizeTypes(v.Types)
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding allowlist: %w", err)
	}
	return &kgo.Record{Topic: topics.Allowlist.Name(prefix), Key: []byte(v.Exchange), Value: b}, nil
}
