package app

// kraite regime: the regime gate as the operator sees it, and overrides.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
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

// RegimeOverride publishes the override r (allow or block for r.For with
// a reason, or clear) at now, after r.Validate, and returns it.
func RegimeOverride(ctx context.Context, c Common, r OverrideRequest, now time.Time) (topics.Override, error) {
	ov := topics.Override{Scope: regimestate.OverrideScope, Action: r.Action, Reason: r.Reason, By: r.By, CreatedMs: now.UnixMilli()}
	if err := r.Validate(); err != nil {
		return ov, err
	}
	ov.UntilMs = now.UnixMilli() // clear
	if r.Action != "clear" {
		ov.UntilMs = now.Add(r.For).UnixMilli()
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

// ShowRegime writes the regime status of exchange as a table to w: the gate
// now, score, band, cooldown, override and inputs.
func ShowRegime(ctx context.Context, c Common, exchange string, w io.Writer) error {
	v, err := RegimeStatus(ctx, c, exchange, time.Now())
	if err != nil {
		return err
	}
	writeRegime(w, v)
	return nil
}

func writeRegime(w io.Writer, v RegimeView) {
	st, ov := v.State, v.Override
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	ts := func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
	fmt.Fprintf(tw, "exchange\t%s\n", v.Exchange)
	fmt.Fprintf(tw, "gate now\t%s (opens %s): %s\n", v.Gate, map[bool]string{true: "allowed", false: "refused"}[regimestate.Allowed(v.Gate)], v.Reason)
	if st == nil {
		fmt.Fprintln(tw, "state\tnone yet (is the regime processor running and mark prices flowing?)")
		return
	}
	fmt.Fprintf(tw, "score\t%.2f\n", st.Score)
	fmt.Fprintf(tw, "band\t%s since %s\n", st.Band, ts(st.SinceMs))
	fmt.Fprintf(tw, "last input\t%s (event time, %d records)\n", ts(st.AtMs), st.Records)
	if st.CooldownUntilMs > 0 {
		fmt.Fprintf(tw, "cooldown until\t%s\n", ts(st.CooldownUntilMs))
	}
	if ov != nil {
		fmt.Fprintf(tw, "override\t%s until %s by %s: %s\n", ov.Action, ts(ov.UntilMs), ov.By, ov.Reason)
	}
	if v.OverrideUnreadable {
		fmt.Fprintln(tw, "override record\tthe newest record is unreadable (quarantined); the last good override stays in force")
	}
	if st.Degraded != "" {
		fmt.Fprintf(tw, "degraded\t%s\n", st.Degraded)
	}
	in := st.Inputs.Map()
	for _, k := range slices.Sorted(maps.Keys(in)) {
		fmt.Fprintf(tw, "input %s\t%g\n", k, in[k])
	}
}

// OverrideRequest is a `kraite regime override` call.
type OverrideRequest struct {
	Action     string // allow, block or clear
	For        time.Duration
	Reason, By string
}

// Validate refuses a missing or unknown action and, for allow and block, a
// missing reason or a duration that is not positive or longer than the
// processors accept (regimestate.MaxOverrideSpan): such a record would be
// garbage to them, and garbage fails closed (opens refused).
func (r OverrideRequest) Validate() error {
	switch r.Action {
	case "allow", "block":
		switch {
		case strings.TrimSpace(r.Reason) == "":
			return errors.New("--reason is required for an override")
		case r.For <= 0:
			return fmt.Errorf("--for %s must be positive", r.For)
		case r.For > regimestate.MaxOverrideSpan:
			return fmt.Errorf("--for %s is longer than an override may last (%s); renew it instead", r.For, regimestate.MaxOverrideSpan)
		}
		fallthrough
	case "clear":
		if err := validate.Text(r.Reason, regimestate.MaxOverrideReason); err != nil {
			return fmt.Errorf("--reason: %w", err)
		}
		return nil
	case "":
		return errors.New("override needs an action: allow, block or clear")
	}
	return fmt.Errorf("unknown override action %q (allow, block or clear)", r.Action)
}

// Override records r on the regime-overrides topic and says so on w.
func Override(ctx context.Context, c Common, r OverrideRequest, w io.Writer) error {
	ov, err := RegimeOverride(ctx, c, r, time.Now())
	if err != nil {
		return err
	}
	if r.Action == "clear" {
		fmt.Fprintln(w, "override cleared")
		return nil
	}
	fmt.Fprintf(w, "override %s until %s: %s\n", r.Action, time.UnixMilli(ov.UntilMs).UTC().Format(time.RFC3339), r.Reason)
	return nil
}
