package app

// kraite allowlist: the dispatch allowlist on the running system.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/topics"
)

// AllowlistGet is the allowlist of exchange in force: the newest record of
// the allowlist topic, or the built-in default (isDefault) when nothing was
// set. An exchange without either is an error.
func AllowlistGet(ctx context.Context, c Common, exchange string) (v topics.AllowlistValue, isDefault bool, err error) {
	vals, err := ReadLatest(ctx, c, topics.Allowlist.Name(c.TopicPrefix), 0)
	if err != nil {
		return v, false, err
	}
	raw := vals[exchange]
	if len(raw) == 0 {
		def, ok := dispatch.DefaultAllowlists()[exchange]
		if !ok {
			return v, false, fmt.Errorf("no allowlist for exchange %q", exchange)
		}
		return topics.AllowlistValue{Exchange: exchange, Types: def}, true, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, false, fmt.Errorf("decoding allowlist of %s: %w", exchange, err)
	}
	return v, false, nil
}

// AllowlistSet publishes types (normalized; an unknown execution type is
// refused) as the allowlist of exchange, set by by at now.
func AllowlistSet(ctx context.Context, c Common, exchange string, types []string, by string, now time.Time) (topics.AllowlistValue, error) {
	types = dispatch.NormalizeTypes(types)
	if err := CheckExecutionTypes(types); err != nil {
		return topics.AllowlistValue{}, err
	}
	v := topics.AllowlistValue{Exchange: exchange, Types: types, UpdatedMs: now.UnixMilli(), By: by}
	rec, err := dispatch.AllowlistRecord(c.TopicPrefix, v)
	if err != nil {
		return v, err
	}
	if _, err := ProduceOne(ctx, c, rec); err != nil {
		return v, err
	}
	return v, nil
}

// CheckExecutionTypes refuses a type that is not a Binance execution type
// (any case), naming it and the known ones.
func CheckExecutionTypes(types []string) error {
	for _, t := range types {
		if !containsFold(binance.ExecutionTypes(), t) {
			return fmt.Errorf("unknown execution type %q (types: %s)", t, strings.Join(binance.ExecutionTypes(), " "))
		}
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// AllowlistExchanges are the exchanges dispatch has an allowlist for, in
// order.
func AllowlistExchanges() []string { return slices.Sorted(maps.Keys(dispatch.DefaultAllowlists())) }

// DefaultAllowlist is the built-in allowlist of exchange (ok false: dispatch
// has none for it).
func DefaultAllowlist(exchange string) (types []string, ok bool) {
	types, ok = dispatch.DefaultAllowlists()[exchange]
	return types, ok
}

// ExecutionTypes are the Binance execution types an allowlist may hold.
func ExecutionTypes() []string { return binance.ExecutionTypes() }

// AllowlistRequest is a `kraite allowlist get|set|reset` call.
type AllowlistRequest struct {
	Sub      string   // get, set or reset
	Exchange string   // one of AllowlistExchanges
	Types    []string // set: the execution types (none: shadow mode); get and reset take none
	By       string   // who makes the change (recorded with it)
}

// Validate refuses an exchange dispatch has no allowlist for, an unknown
// execution type and types where Sub takes none.
func (r AllowlistRequest) Validate() error {
	if _, ok := DefaultAllowlist(r.Exchange); !ok {
		return fmt.Errorf("unknown exchange %q: dispatch has allowlists for %s", r.Exchange, strings.Join(AllowlistExchanges(), ", "))
	}
	switch {
	case r.Sub == "set":
		return CheckExecutionTypes(r.Types)
	case len(r.Types) == 0:
		return nil
	case r.Sub == "reset":
		return fmt.Errorf("allowlist reset takes only the exchange (got %q)", r.Types)
	}
	return fmt.Errorf("unexpected argument %q", r.Types[0])
}

// Allowlist writes the allowlist of r.Exchange in force to w (get), or
// sets it to r.Types (set) or to the exchange's default (reset) and
// writes the result.
func Allowlist(ctx context.Context, c Common, r AllowlistRequest, w io.Writer) error {
	switch r.Sub {
	case "get":
		return ShowAllowlist(ctx, c, r.Exchange, w)
	case "reset":
		r.Types, _ = DefaultAllowlist(r.Exchange)
	}
	return SetAllowlist(ctx, c, r.Exchange, r.Types, r.By, w)
}

// ShowAllowlist writes the allowlist of exchange in force to w.
func ShowAllowlist(ctx context.Context, c Common, exchange string, w io.Writer) error {
	v, isDefault, err := AllowlistGet(ctx, c, exchange)
	if err != nil {
		return err
	}
	if isDefault {
		fmt.Fprintf(w, "%s: %s (configured default; nothing set on %s)\n", exchange, strings.Join(v.Types, " "), topics.Allowlist.Name(c.TopicPrefix))
		return nil
	}
	writeAllowlist(w, v)
	return nil
}

// SetAllowlist publishes types as the allowlist of exchange, set by by
// (AllowlistSet), and writes it to w.
func SetAllowlist(ctx context.Context, c Common, exchange string, types []string, by string, w io.Writer) error {
	v, err := AllowlistSet(ctx, c, exchange, types, by, time.Now())
	if err != nil {
		return err
	}
	writeAllowlist(w, v)
	return nil
}

func writeAllowlist(w io.Writer, v topics.AllowlistValue) {
	list := strings.Join(v.Types, " ")
	if len(v.Types) == 0 {
		list = "(empty: shadow mode, nothing dispatched)"
	}
	fmt.Fprintf(w, "%s: %s (set %s by %s)\n", v.Exchange, list,
		time.UnixMilli(v.UpdatedMs).UTC().Format(time.RFC3339), v.By)
}
