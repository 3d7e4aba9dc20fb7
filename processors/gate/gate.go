// Package gate is the open gate: every open intent is checked against the
// market regime; allowed intents go to the positions topic, refused ones to
// open-intents.rejected with band, score and reason. Reductions and closes
// are never refused.
//
// # Graph
//
//	input   <prefix>open-intents            OpenIntent (JSON), key = account id
//	view    <prefix>regime-table            regime.State per exchange
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
// The decision time is the intent's created_at, or the record timestamp
// when absent; both are fixed in the log, so a decision depends only on the
// record and the regime state when the intent is processed. The gate keeps
// no state of its own.
package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// Group is the gate consumer group.
func Group(prefix string) goka.Group { return goka.Group(prefix + "gate") }

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
	Brokers []string
	// ViewOptions configure the regime-table and overrides Views:
	// goka.WithViewTester in graph tests; kclient.GokaViewOptions plus a
	// storage builder of their own (not the processor's, and not the
	// regime processor's) in production.
	ViewOptions []goka.ViewOption
	Prefix      string
	// DefaultExchange is used when an intent names none (default binance).
	DefaultExchange string
	// MaxStateAge refuses opens when the regime state is older than this
	// at decision time (the mark-price feed or the regime processor is
	// down). Default 5 min; 0 disables the check.
	MaxStateAge time.Duration
	Log         *slog.Logger
}

// DefaultConfig returns the documented defaults.
func DefaultConfig(brokers []string, prefix string) Config {
	return Config{Brokers: brokers, Prefix: prefix, DefaultExchange: topics.ExchangeBinance, MaxStateAge: 5 * time.Minute}
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
	case len(c.Brokers) == 0 && len(c.ViewOptions) == 0:
		return errors.New("gate config: Brokers is empty and no ViewOptions are set (the regime Views need a cluster or goka.WithViewTester)")
	}
	return nil
}

// Runner runs the gate processor and its regime Views (see New).
type Runner = lookups.Runner

// graph builds the gate group graph; g's callbacks read g's Views.
func graph(g *gate) (*goka.GroupGraph, error) {
	gg := goka.DefineGroup(Group(g.cfg.Prefix),
		goka.Input(InputTopic(g.cfg.Prefix), topics.Raw{}, g.process),
		goka.Output(PositionsTopic(g.cfg.Prefix), topics.JSON[topics.PositionEvent]{}),
		goka.Output(RejectedTopic(g.cfg.Prefix), topics.JSON[topics.RejectedIntent]{}),
		goka.Output(QuarantineTopic(g.cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
	)
	if err := gg.Validate(); err != nil {
		return nil, fmt.Errorf("validating gate graph: %w", err)
	}
	return gg, nil
}

// New builds the gate processor and its Views of the regime table and the
// overrides (goka.WithTester plus goka.WithViewTester in
// Config.ViewOptions for graph tests); run it with Run(ctx).
func New(cfg Config, opts ...goka.ProcessorOption) (*Runner, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	st, err := lookups.NewView(cfg.Brokers, regime.Table(cfg.Prefix), regime.StateCodec{}, cfg.Log, cfg.ViewOptions)
	if err != nil {
		return nil, fmt.Errorf("creating gate processor: %w", err)
	}
	ov, err := lookups.NewView(cfg.Brokers, regime.OverridesTable(cfg.Prefix), topics.Raw{}, cfg.Log, cfg.ViewOptions)
	if err != nil {
		return nil, fmt.Errorf("creating gate processor: %w", err)
	}
	g := &gate{cfg: cfg, states: st, overrides: ov}
	gg, err := graph(g)
	if err != nil {
		return nil, err
	}
	p, err := goka.NewProcessor(cfg.Brokers, gg, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating gate processor: %w", err)
	}
	return lookups.New(p, st, ov), nil
}

// gate's Views are owned by the Runner and outlive every callback.
type gate struct {
	cfg       Config
	states    *goka.View // regime table
	overrides *goka.View
}

func (g *gate) process(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	var in topics.OpenIntent
	if err := json.Unmarshal(raw, &in); err != nil {
		g.quarantine(ctx, raw, fmt.Errorf("decoding open intent: %w", err))
		return
	}
	if in.Exchange == "" {
		in.Exchange = g.cfg.DefaultExchange
	}
	if in.Account == "" {
		in.Account = ctx.Key()
	}
	now := in.CreatedMs
	if now <= 0 {
		now = ctx.Timestamp().UnixMilli()
	}
	st, _ := lookups.Get(ctx, g.states, in.Exchange).(*regime.State)
	ov := regime.DecodeOverride(lookups.Get(ctx, g.overrides, regime.OverrideScope))
	d := Decide(in, st, ov, now, g.cfg.MaxStateAge)
	if d.Allowed {
		ctx.Emit(PositionsTopic(g.cfg.Prefix), ctx.Key(), &topics.PositionEvent{Kind: KindOpenAllowed,
			Account: in.Account, Exchange: in.Exchange, Intent: &in, Band: d.Band, Score: d.Score, AtMs: now})
		return
	}
	ctx.Emit(RejectedTopic(g.cfg.Prefix), ctx.Key(), &topics.RejectedIntent{Intent: in, Band: d.Band,
		Score: d.Score, Reason: d.Reason, AtMs: now})
}

func (g *gate) quarantine(ctx goka.Context, raw []byte, err error) {
	lookups.Quarantine(ctx, QuarantineTopic(g.cfg.Prefix), Group(g.cfg.Prefix), raw, err, g.cfg.Log, "open intent")
}
