// Package gate is the open gate: every open intent is checked against the
// market regime; allowed intents go to the positions topic, refused ones to
// open-intents.rejected with band, score and reason. Reductions and closes
// are never refused.
//
// # Graph
//
//	input   <prefix>open-intents            OpenIntent (JSON), key = account id
//	lookup  <prefix>regime-table            regime.State per exchange
//	lookup  <prefix>regime-overrides        Override per scope
//	output  <prefix>positions               PositionEvent{Kind: "open_allowed"}
//	output  <prefix>open-intents.rejected   RejectedIntent
//	output  <prefix>quarantine              undecodable intents
//
// # Why Lookup
//
// The regime state has one key per exchange, while intents are keyed by
// account: the two are not copartitioned and cannot be (every account needs
// the same key). A goka Lookup reads the regime group table through a View
// over all its partitions, so any gate instance, owning any intent
// partition, sees the current regime without a Join. The overrides topic is
// looked up too, so an override takes effect at once even if no mark price
// has arrived since it was set.
//
// The decision time is the intent's created_at, or the record timestamp
// when absent; both are fixed in the log, so a decision depends only on the
// record and the regime state at lookup time. The gate keeps no state of its
// own.
package gate

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"

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
	Prefix  string
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
	}
	return nil
}

// Graph builds the gate group graph.
func Graph(cfg Config) (*goka.GroupGraph, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &gate{cfg: cfg}
	gg := goka.DefineGroup(Group(cfg.Prefix),
		goka.Input(InputTopic(cfg.Prefix), topics.Raw{}, g.process),
		goka.Lookup(regime.Table(cfg.Prefix), regime.StateCodec{}),
		goka.Lookup(regime.OverridesTable(cfg.Prefix), topics.Raw{}),
		goka.Output(PositionsTopic(cfg.Prefix), topics.JSON[topics.PositionEvent]{}),
		goka.Output(RejectedTopic(cfg.Prefix), topics.JSON[topics.RejectedIntent]{}),
		goka.Output(QuarantineTopic(cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
	)
	if err := gg.Validate(); err != nil {
		return nil, fmt.Errorf("validating gate graph: %w", err)
	}
	return gg, nil
}

// New builds the gate processor; run it with Run(ctx).
func New(cfg Config, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	gg, err := Graph(cfg)
	if err != nil {
		return nil, err
	}
	p, err := goka.NewProcessor(cfg.Brokers, gg, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating gate processor: %w", err)
	}
	return p, nil
}

type gate struct {
	cfg Config
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
	st, _ := ctx.Lookup(regime.Table(g.cfg.Prefix), in.Exchange).(*regime.State)
	ov := regime.DecodeOverride(ctx.Lookup(regime.OverridesTable(g.cfg.Prefix), regime.OverrideScope))
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
	g.cfg.Log.Warn("quarantining undecodable open intent",
		"topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(), "err", err)
	ctx.Emit(QuarantineTopic(g.cfg.Prefix), ctx.Key(), &topics.QuarantineRecord{SourceTopic: string(ctx.Topic()),
		SourcePartition: ctx.Partition(), SourceOffset: ctx.Offset(), Key: ctx.Key(), Value: string(raw),
		Consumer: string(Group(g.cfg.Prefix)), Error: err.Error(), AtMs: ctx.Timestamp().UnixMilli()})
}
