package dispatch

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// DefaultBinanceAllowlist is the Binance allowlist used until the allowlist
// topic says otherwise (DESIGN.md section 5). NEW, REJECTED and CALCULATED
// stay off, as do the non-order events.
func DefaultBinanceAllowlist() []string {
	return []string{"TRADE", "AMENDMENT", "CANCELED", "EXPIRED",
		"ALGO_NEW", "ALGO_CANCELED", "ALGO_EXPIRED", "ALGO_FILLED"}
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
