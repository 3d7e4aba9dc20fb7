// Package gate is the open gate: every open intent is checked against the
// market regime; allowed intents go to the positions topic, refused ones to
// open-intents.rejected with band, score and reason. Reductions and closes
// are never refused.
//
// # Graph
//
//	input   <prefix>open-intents            OpenIntent (JSON), key = account id
//	view    <prefix>regime-table            regimestate.State per exchange
//	view    <prefix>regime-overrides        Override per scope
//	output  <prefix>positions               PositionEvent{Kind: "open_allowed"}
//	output  <prefix>open-intents.rejected   RejectedIntent
//	output  <prefix>quarantine              undecodable intents
//
// # Why Views
//
// The regime state has one key per exchange, while intents are keyed by
// account: the two are not copartitioned and cannot be (every account needs
// the same key). A goka View reads the regime group table over all its
// partitions, so any gate instance, owning any intent partition, sees the
// current regime without a Join. The overrides topic is read through a View
// too, so an override takes effect at once even if no mark price has
// arrived since it was set.
//
// The Views are the Runner's, not goka.Lookup edges: goka v1.1.17 closes a
// Lookup's View on shutdown while a callback may still read it (a data
// race). The Runner starts the processor once both Views recovered and
// stops them only after it returned (processors/internal/lookups).
//
// Both Views are read through lookups.Decoded: a value is decoded once
// per write to the table (the Guard's version of the key), not once per
// intent; the regime state is 40-90 KB of JSON at 500+ symbols, and
// decoding it per intent held the gate to a few hundred intents/s (see
// the gate type, and BenchmarkGateProductionState).
//
// # Time: the gate judges an intent when it receives it
//
// The decision time is the gate's own clock (Config.Now) when the intent
// is processed, never a time the intent claims: an intent's created_at
// (or, when absent, its record timestamp) is written by whoever produced
// it, and an intent backdated into an expired allow-override window must
// not be allowed (issue 10, item 9). The claimed time is only ever a
// reason to refuse an open:
//
//   - created_at more than MaxIntentAge (default 1 min) before the gate's
//     clock: refused as "stale_intent". An operator who runs `kraite open`
//     while the gate is down or far behind gets a refusal, not an open
//     executed minutes later into a market that has moved; they submit it
//     again. An intent with no time at all is of unknown age: stale too.
//   - created_at more than MaxIntentAhead (default topics.DefaultMaxAhead,
//     1 min) after the gate's clock: refused as "future_intent" (a broken
//     or hostile producer clock).
//   - the regime state is judged by the gate's clock too: older than
//     MaxStateAge, or claiming a time ahead of the clock, is "stale".
//
// Reductions and closes are never refused, whatever they claim. Every
// refusal names a machine-readable reason (the Reason constants, and the
// regime's gate statuses) plus a human detail. Decisions therefore depend
// on when the intent is processed: a replay of open-intents decides again
// at replay time (and refuses old intents as stale), which is the point.
//
// # Overrides fail closed
//
// The overrides View is guarded (processors/internal/control and
// lookups.Guard): a garbage record is quarantined and the last good
// override stays in force; when the scope has no good record at all, the
// gate refuses opens with "override_unreadable" until an operator writes
// a valid override. Runner.Alerts lists the refused records.
//
// The gate keeps no state of its own.
package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/processors/internal/control"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

// Group is the gate consumer group.
func Group(prefix string) goka.Group { return goka.Group(topics.GroupGate.Name(prefix)) }

// InputTopic is the open-intents topic.
func InputTopic(prefix string) goka.Stream { return goka.Stream(topics.OpenIntents.Name(prefix)) }

// PositionsTopic receives allowed intents.
func PositionsTopic(prefix string) goka.Stream { return goka.Stream(topics.Positions.Name(prefix)) }

// RejectedTopic receives refused intents.
func RejectedTopic(prefix string) goka.Stream {
	return goka.Stream(topics.OpenIntentsRejected.Name(prefix))
}

// QuarantineTopic receives undecodable intents.
func QuarantineTopic(prefix string) goka.Stream { return goka.Stream(topics.Quarantine.Name(prefix)) }

// KindOpenAllowed is the PositionEvent kind the gate writes.
const KindOpenAllowed = "open_allowed"

// Config configures the gate.
type Config struct {
	// Brokers are the Kafka seed brokers (ignored with goka.WithTester)
	// when Kafka is nil.
	Brokers []string
	// Kafka builds the clients beside the processor's own (the Views'
	// quarantine emitter) with its seeds and security (nil:
	// kclient.ForBrokers(Brokers), the process-wide security).
	Kafka *kclient.Factory
	// ViewOptions configure the regime-table and overrides Views:
	// goka.WithViewTester in graph tests; kclient.GokaViewOptions plus a
	// storage builder of their own (not the processor's, and not the
	// regime processor's) in production.
	ViewOptions []goka.ViewOption
	Prefix      string
	// DefaultExchange is used when an intent names none (default binance).
	DefaultExchange string
	// MaxStateAge refuses opens when the regime state is older than this
	// by the gate's clock (the mark-price feed or the regime processor is
	// down). Default 5 min; 0 disables the check.
	MaxStateAge time.Duration
	// MaxIntentAge refuses opens made (created_at) longer than this before
	// the gate received them ("stale_intent"). Default 1 min; 0 disables.
	MaxIntentAge time.Duration
	// MaxIntentAhead refuses opens whose created_at is further than this
	// ahead of the gate's clock ("future_intent"). Default (and 0):
	// topics.DefaultMaxAhead.
	MaxIntentAhead time.Duration
	// Now is the gate's clock, the decision time (nil: time.Now).
	Now func() time.Time
	// Validator checks what the regime does not: account, symbol rules,
	// size, notional limits, reductions within the position
	// (internal/intents). It runs on every intent the regime would allow,
	// reductions included, so nothing invalid reaches the positions topic.
	// Every box sets it (cmd/kraite buildGate); nil skips it, for graph
	// tests of the regime decision only.
	Validator intents.Validator
	// ControlQuarantined, when set, receives the quarantine records of
	// refused override records instead of the quarantine topic (graph
	// tests; see lookups.GuardConfig.Quarantined).
	ControlQuarantined func(key string, rec *topics.QuarantineRecord)
	Log                *slog.Logger
}

// Defaults of Config.
const (
	DefaultMaxStateAge  = 5 * time.Minute
	DefaultMaxIntentAge = time.Minute
	// MaxIntentBytes bounds an intent record (a real one is ~200 bytes);
	// a larger one is quarantined without being decoded.
	MaxIntentBytes = 4 << 10
	// MaxClientID bounds an intent's client id (characters).
	MaxClientID = 64
)

// DefaultConfig returns the documented defaults.
func DefaultConfig(brokers []string, prefix string) Config {
	return Config{Brokers: brokers, Prefix: prefix, DefaultExchange: topics.ExchangeBinance,
		MaxStateAge: DefaultMaxStateAge, MaxIntentAge: DefaultMaxIntentAge, MaxIntentAhead: topics.DefaultMaxAhead}
}

func (c Config) limits() Limits {
	return Limits{MaxStateAge: c.MaxStateAge, MaxIntentAge: c.MaxIntentAge, MaxIntentAhead: c.MaxIntentAhead}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	switch {
	case c.Prefix == "":
		return errors.New("gate config: Prefix is empty")
	case c.DefaultExchange == "":
		return errors.New("gate config: DefaultExchange is empty")
	case c.MaxStateAge < 0:
		return fmt.Errorf("gate config: MaxStateAge %s is negative", c.MaxStateAge)
	case c.MaxIntentAge < 0:
		return fmt.Errorf("gate config: MaxIntentAge %s is negative", c.MaxIntentAge)
	case c.MaxIntentAhead < 0:
		return fmt.Errorf("gate config: MaxIntentAhead %s is negative", c.MaxIntentAhead)
	case len(c.Brokers) == 0 && c.Kafka == nil && len(c.ViewOptions) == 0:
		return errors.New("gate config: Brokers and Kafka are empty and no ViewOptions are set (the regime Views need a cluster or goka.WithViewTester)")
	}
	return nil
}

// Runner runs the gate processor and its regime Views (see New).
type Runner = lookups.Runner

// graph is the gate group graph; g's callbacks read g's Views.
func graph(g *gate) *goka.GroupGraph {
	return goka.DefineGroup(Group(g.cfg.Prefix),
		goka.Input(InputTopic(g.cfg.Prefix), topics.Raw{}, g.process),
		goka.Output(PositionsTopic(g.cfg.Prefix), topics.JSON[topics.PositionEvent]{}),
		goka.Output(RejectedTopic(g.cfg.Prefix), topics.JSON[topics.RejectedIntent]{}),
		goka.Output(QuarantineTopic(g.cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
	)
}

// New builds the gate processor and its Views of the regime table and the
// overrides (goka.WithTester plus goka.WithViewTester in
// Config.ViewOptions for graph tests); run it with Run(ctx).
func New(cfg Config, opts ...goka.ProcessorOption) (*Runner, error) {
	r, _, err := newGate(cfg, opts...)
	return r, err
}

// newGate is New, and the gate whose callbacks the Runner runs.
func newGate(cfg Config, opts ...goka.ProcessorOption) (*Runner, *gate, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	cfg.Kafka = lookups.Kafka(cfg.Kafka, cfg.Brokers)
	own := lookups.Owner{Name: "gate", Kafka: cfg.Kafka, Group: Group(cfg.Prefix), Quarantine: QuarantineTopic(cfg.Prefix),
		ViewOptions: cfg.ViewOptions, Quarantined: cfg.ControlQuarantined, Log: cfg.Log}
	sc := own.Guarded(goka.Table(regimestate.TableSpec().Name(cfg.Prefix)))
	sc.Parse, sc.KnownKey = parseState, func(key string) bool { return validate.Exchange(key) == nil }
	st, stGuard, err := lookups.NewGuardedView(sc)
	if err != nil {
		return nil, nil, fmt.Errorf("creating gate processor: %w", err)
	}
	ov, guard, err := control.NewOverridesView(own.Guarded(goka.Table(topics.RegimeOverrides.Name(cfg.Prefix))), cfg.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("creating gate processor: %w", err)
	}
	g := &gate{cfg: cfg, states: st, overrides: ov,
		state:    lookups.NewDecoded(st, stGuard, func(_ string, v any) (*regimestate.State, error) { return decodeState(v) }),
		override: lookups.NewDecoded(ov, guard, func(_ string, v any) (*topics.Override, error) { return control.DecodeOverride(v) })}
	r, err := own.NewRunner(graph(g), opts, []*goka.View{st, ov}, guard, stGuard)
	if err != nil {
		return nil, nil, err
	}
	return r, g, nil
}

// gate's Views are owned by the Runner and outlive every callback.
//
// # The regime state is decoded once per state change
//
// The regime state is 40-90 KB of JSON at 500+ symbols (its rolling
// market), changes about once a second per exchange, and is read by every
// intent. Decoding it per intent was 91% of the gate's time (about 190
// intents/s; issue 12, point 4). The gate reads both Views through
// lookups.Decoded instead: the decoded value is remembered per key under
// the Guard's version of the key, so it is decoded again exactly when the
// Guard wrote the key (a new state, or the unreadable marker), and every
// failure reads as before (unreadable, no state, a View that stopped).
// What is remembered is the decoded table value (regimestate.State: what
// Decide and regimestate.GateStatus read; the regime's rolling market is
// not part of it).
type gate struct {
	cfg       Config
	states    *goka.View // regime table
	overrides *goka.View
	state     *lookups.Decoded[*regimestate.State]
	override  *lookups.Decoded[*topics.Override]
	// uncached reads and decodes both Views for every intent, as the gate
	// did before Decoded: the benchmark's baseline, never set otherwise.
	uncached bool
}

// judgement is the gate's verdict on one record: the intent (with its
// defaults filled), the decision at NowMs, or the reason to quarantine
// the record.
type judgement struct {
	in         topics.OpenIntent
	d          Decision
	nowMs      int64
	quarantine error
	// viewErr is a View that could not answer; the decision was then made
	// without its value (no state, no override), as a failed lookup read.
	viewErr error
}

func (g *gate) process(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	j := g.judge(raw, ctx.Key(), ctx.Timestamp())
	if j.viewErr != nil {
		// A View that cannot answer stops the processor rather than letting
		// it decide without the table; Fail returns only when the processor
		// is stopping already, and the intent is then refused (no_state).
		ctx.Fail(j.viewErr)
	}
	switch {
	case j.quarantine != nil:
		g.quarantine(ctx, raw, j.quarantine)
	case j.d.Allowed:
		ctx.Emit(PositionsTopic(g.cfg.Prefix), ctx.Key(), &topics.PositionEvent{Kind: KindOpenAllowed,
			Account: j.in.Account, Exchange: j.in.Exchange, Intent: &j.in, Band: j.d.Band, Score: j.d.Score, AtMs: j.nowMs})
	default:
		ctx.Emit(RejectedTopic(g.cfg.Prefix), ctx.Key(), &topics.RejectedIntent{Intent: j.in, Band: j.d.Band,
			Score: j.d.Score, Reason: j.d.Reason, Detail: j.d.Detail, AtMs: j.nowMs})
	}
}

// judge decides on one intent record (raw, with its Kafka key and
// timestamp) at the gate's clock.
func (g *gate) judge(raw []byte, key string, ts time.Time) judgement {
	j := judgement{nowMs: g.cfg.Now().UnixMilli()}
	if len(raw) > MaxIntentBytes {
		j.quarantine = fmt.Errorf("open intent of %d bytes (at most %d)", len(raw), MaxIntentBytes)
		return j
	}
	in := &j.in
	if err := json.Unmarshal(raw, in); err != nil {
		j.quarantine = fmt.Errorf("decoding open intent: %w", err)
		return j
	}
	if err := checkBounds(*in); err != nil {
		j.quarantine = err
		return j
	}
	if in.Exchange == "" {
		in.Exchange = g.cfg.DefaultExchange
	}
	if in.Account == "" && utf8.ValidString(key) && len(key) <= 64 {
		in.Account = key
	}
	claimed := in.CreatedMs
	if claimed <= 0 && !ts.IsZero() {
		claimed = ts.UnixMilli()
	}
	read, readOverride := g.state.Read, g.override.Read
	if g.uncached {
		read, readOverride = g.state.ReadUncached, g.override.ReadUncached
	}
	st, stErr, err := read(in.Exchange)
	if err != nil {
		j.viewErr = fmt.Errorf("looking up %s in %s: %w", in.Exchange, g.states.Topic(), err)
	}
	ov, ovErr, err := readOverride(control.ScopeGlobal)
	if err != nil {
		j.viewErr = errors.Join(j.viewErr, fmt.Errorf("looking up %s in %s: %w", control.ScopeGlobal, g.overrides.Topic(), err))
	}
	j.d = Decide(Input{Intent: *in, ClaimedMs: claimed, State: st, StateErr: stErr, Override: ov, OverrideErr: ovErr, NowMs: j.nowMs}, g.cfg.limits())
	if j.d.Allowed && g.cfg.Validator != nil {
		if r := g.cfg.Validator.Validate(*in, time.UnixMilli(j.nowMs)); r != nil {
			j.d.Allowed, j.d.Reason, j.d.Detail = false, r.Reason, r.Detail
		}
	}
	return j
}

// parseState is the Guard's parse of the regime table View
// (GuardConfig.Parse): the table is the regime processor's, but its topic
// is writable like any other, and a value the View's codec could not
// decode used to stop the gate at the next lookup. A refused record keeps
// the exchange's last good state (it then goes stale by the gate's
// clock); with none, the gate refuses opens as state_unreadable. An
// accepted one is returned decoded: the Guard keeps it
// under the version of its write and the gate's Decoded takes it from
// there, so a state write is decoded once.
func parseState(_ string, raw []byte) (any, error) {
	if raw == nil {
		return nil, errors.New("regime state tombstone refused")
	}
	var st regimestate.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("decoding regime state: %w", err)
	}
	switch st.Band {
	case regimestate.Calm, regimestate.Elevated, regimestate.Fragile, regimestate.Critical, "": // "": no verdict yet, refused as no_state
	default:
		return nil, fmt.Errorf("regime state band %q is not known", topics.Bound(string(st.Band), 64))
	}
	if !(st.Score >= 0 && st.Score <= 100) {
		return nil, fmt.Errorf("regime state score %v is outside [0, 100]", st.Score)
	}
	if st.AtMs <= 0 {
		return nil, fmt.Errorf("regime state time %d is not positive", st.AtMs)
	}
	return &st, nil
}

// decodeState reads a value of the guarded regime table View: nil, nil
// when the exchange has no state; an error when it is unreadable.
func decodeState(v any) (*regimestate.State, error) {
	if reason, ok := lookups.Unreadable(v); ok {
		return nil, errors.New(reason)
	}
	raw, _ := v.([]byte)
	if len(raw) == 0 {
		return nil, nil
	}
	var st regimestate.State
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, err
	}
	return &st, nil
}

func (g *gate) quarantine(ctx goka.Context, raw []byte, err error) {
	lookups.Quarantine(ctx, QuarantineTopic(g.cfg.Prefix), Group(g.cfg.Prefix), raw, err, g.cfg.Log, "open intent")
}
