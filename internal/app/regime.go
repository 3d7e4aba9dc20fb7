package app

// kraite regime: the regime gate as the operator sees it, and overrides.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// RegimeView is the regime of one exchange as the gate sees it now.
type RegimeView struct {
	Exchange string
	State    *regimestate.State // nil: none yet
	Override *topics.Override   // the override in force (nil: none)
	// OverrideUnreadable: the newest override record is garbage; the gate
	// keeps the last good one (Override, from the state) or, without one,
	// refuses every open.
	OverrideUnreadable bool
	Gate               string // the gate status now
	Reason             string
}

// RegimeStatus reads the regime table's newest value of exchange and the
// newest override with one client and judges the gate at now.
func RegimeStatus(ctx context.Context, c Common, exchange string, now time.Time) (RegimeView, error) {
	v := RegimeView{Exchange: exchange}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	cl, err := kclient.ForBrokers(c.Brokers...).TailReader(ctx)
	if err != nil {
		return v, err
	}
	defer cl.Close()
	// The group table has one key per exchange; the newest record of its
	// partition is among the last few, so read a bounded tail.
	states, err := readNewest(ctx, cl, string(regime.Table(c.TopicPrefix)), 64)
	if err != nil {
		return v, err
	}
	ovs, err := readNewest(ctx, cl, topics.RegimeOverrides.Name(c.TopicPrefix), 0)
	if err != nil {
		return v, err
	}
	rawOv := ovs[regimestate.OverrideScope]
	v.Override = regime.DecodeOverride(rawOv)
	if raw := states[exchange]; len(raw) > 0 {
		v.State = new(regimestate.State)
		if err := json.Unmarshal(raw, v.State); err != nil {
			return v, fmt.Errorf("decoding regime state of %s: %w", exchange, err)
		}
	}
	// A garbage newest override record is not the override: the gate and
	// the regime keep the last good one (which the regime state records),
	// or refuse opens when there was none.
	v.OverrideUnreadable = len(rawOv) > 0 && v.Override == nil
	if v.OverrideUnreadable && v.State != nil {
		v.Override = v.State.Override
	}
	v.Gate, v.Reason = regimestate.GateStatus(v.State, v.Override, now.UnixMilli())
	if v.OverrideUnreadable && v.Override == nil {
		v.Gate, v.Reason = regimestate.GateOverrideUnreadable, "the newest override record is unreadable (quarantined) and no good one is known: opens refused until an operator writes a valid override"
	}
	return v, nil
}

// readNewest is the newest value per key of the last tail records of each
// partition of topic (tail <= 0: all retained; nil value: a tombstone). A
// topic that does not exist yet holds nothing.
func readNewest(ctx context.Context, cl *kgo.Client, topic string, tail int64) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := kclient.ReadTail(ctx, cl, topic, tail, func(r *kgo.Record) { out[string(r.Key)] = r.Value })
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return out, nil
	}
	return out, err
}

// RegimeOverride publishes an override of the regime gate (allow or block
// for dur with a reason, or clear) by by, and returns it.
func RegimeOverride(ctx context.Context, c Common, action string, dur time.Duration, reason, by string, now time.Time) (topics.Override, error) {
	ov := topics.Override{Scope: regimestate.OverrideScope, Action: action, Reason: reason, By: by, CreatedMs: now.UnixMilli()}
	switch action {
	case "allow", "block":
		if reason == "" {
			return ov, errors.New("--reason is required for an override")
		}
		if dur <= 0 {
			return ov, fmt.Errorf("--for %s must be positive", dur)
		}
		ov.UntilMs = now.Add(dur).UnixMilli()
	case "clear":
		ov.UntilMs = now.UnixMilli()
	default:
		return ov, fmt.Errorf("unknown override action %q (allow, block or clear)", action)
	}
	b, err := json.Marshal(ov)
	if err != nil {
		return ov, fmt.Errorf("encoding override: %w", err)
	}
	rec := &kgo.Record{Topic: topics.RegimeOverrides.Name(c.TopicPrefix), Key: []byte(ov.Scope), Value: b}
	if _, err := ProduceOne(ctx, c, rec); err != nil {
		return ov, err
	}
	return ov, nil
}
