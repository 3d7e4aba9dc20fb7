package app

// kraite allowlist: the dispatch allowlist on the running system.

import (
	"context"
	"encoding/json"
	"fmt"
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
