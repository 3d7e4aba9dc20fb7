// Package regime is the market-regime processor: it folds every
// mark-price record into a rolling market state, computes a market-wide
// score 0-100 and its band, tracks the cooldown after Critical and the
// operator override, and publishes every band or gate change.
//
// # Graph
//
//	input   <prefix>mark-price         raw !markPrice@arr frames, key = exchange
//	lookup  <prefix>regime-overrides   Override per scope (compacted, 1 partition)
//	persist <prefix>regime-table       State per exchange (the group table)
//	output  <prefix>regime-changes     RegimeChange on every band or gate change
//	output  <prefix>quarantine         QuarantineRecord for undecodable frames
//
// # Time
//
// Event time only: the evaluation time is the frame's E; cooldowns and
// override expiry are compared with it, never with the wall clock. The
// score and band sequence is a pure function of the mark-price records, so
// a replay gives the same sequence (TestRegimeReplayIsIdentical). The
// override is read from a lookup table at processing time; replaying with
// a different override history changes the gate, not the score or band.
//
// # Why Lookup for overrides
//
// The overrides topic has one partition, mark-price three; goka's Join
// requires copartitioning, a Lookup (a View over every partition) does not.
package regime

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/topics"
)

// OverrideScope is the key of the override that applies to every exchange.
const OverrideScope = "global"

// Group is the regime consumer group; its group table holds State.
func Group(prefix string) goka.Group { return goka.Group(prefix + "regime") }

// Table is the regime group table (key = exchange, value = State).
func Table(prefix string) goka.Table { return goka.GroupTable(Group(prefix)) }

// InputTopic is the mark-price topic.
func InputTopic(prefix string) goka.Stream { return goka.Stream(topics.MarkPrice.Name(prefix)) }

// OverridesTable is the overrides topic read as a lookup table.
func OverridesTable(prefix string) goka.Table { return goka.Table(topics.RegimeOverrides.Name(prefix)) }

// ChangesTopic receives a RegimeChange on every band or gate change.
func ChangesTopic(prefix string) goka.Stream { return goka.Stream(topics.RegimeChanges.Name(prefix)) }

// QuarantineTopic receives undecodable mark-price records.
func QuarantineTopic(prefix string) goka.Stream { return goka.Stream(topics.Quarantine.Name(prefix)) }

// StateCodec is the codec of the regime table.
type StateCodec = topics.JSON[State]

// Config configures the regime processor.
type Config struct {
	Brokers []string
	Prefix  string
	// Score holds the weights and thresholds (DefaultScoreConfig).
	Score ScoreConfig
	// Cooldown keeps opens blocked after leaving Critical (default 30 min).
	Cooldown time.Duration
	// Hysteresis in score points before a band is left downwards (default 3).
	Hysteresis float64
	Log        *slog.Logger
}

// DefaultConfig returns the documented defaults for prefix.
func DefaultConfig(brokers []string, prefix string) Config {
	return Config{Brokers: brokers, Prefix: prefix, Score: DefaultScoreConfig(),
		Cooldown: 30 * time.Minute, Hysteresis: DefaultHysteresis}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	var errs []error
	if c.Prefix == "" {
		errs = append(errs, errors.New("regime config: Prefix is empty"))
	}
	if c.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("regime config: Cooldown %s is negative", c.Cooldown))
	}
	if c.Hysteresis < 0 || c.Hysteresis >= 25 {
		errs = append(errs, fmt.Errorf("regime config: Hysteresis %v must be in [0, 25)", c.Hysteresis))
	}
	if err := c.Score.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Graph builds the regime group graph.
func Graph(cfg Config) (*goka.GroupGraph, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &regime{cfg: cfg}
	g := goka.DefineGroup(Group(cfg.Prefix),
		goka.Input(InputTopic(cfg.Prefix), topics.Raw{}, r.process),
		goka.Lookup(OverridesTable(cfg.Prefix), topics.Raw{}),
		goka.Persist(StateCodec{}),
		goka.Output(ChangesTopic(cfg.Prefix), topics.JSON[topics.RegimeChange]{}),
		goka.Output(QuarantineTopic(cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
	)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("validating regime graph: %w", err)
	}
	return g, nil
}

// New builds the regime processor (kclient.GokaProcessorOptions for a
// cluster, goka.WithTester for graph tests). Run it with Run(ctx).
func New(cfg Config, opts ...goka.ProcessorOption) (*goka.Processor, error) {
	g, err := Graph(cfg)
	if err != nil {
		return nil, err
	}
	p, err := goka.NewProcessor(cfg.Brokers, g, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating regime processor: %w", err)
	}
	return p, nil
}

type regime struct {
	cfg Config
}

func (r *regime) process(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	at, ticks, err := DecodeTicks(raw)
	if err != nil {
		r.quarantine(ctx, raw, err)
		return
	}
	var prev State
	if v, ok := ctx.Value().(*State); ok && v != nil {
		prev = *v
	}
	if prev.Scope == "" {
		prev.Scope = ctx.Key()
	}
	if at < prev.AtMs {
		return // late record: event time never goes backwards
	}
	ov := DecodeOverride(ctx.Lookup(OverridesTable(r.cfg.Prefix), OverrideScope))
	next, change := Step(r.cfg, prev, at, ticks, ov)
	ctx.SetValue(&next)
	if change != nil {
		ctx.Emit(ChangesTopic(r.cfg.Prefix), next.Scope, change)
	}
}

// Step is one evaluation of the processor as a pure function: fold the
// ticks into the market state, score, transition, and build the change
// record when band or gate changed (nil otherwise). prev is not modified.
func Step(cfg Config, prev State, at int64, ticks []Tick, ov *topics.Override) (State, *topics.RegimeChange) {
	market := cloneMarket(prev.Market)
	in := cfg.Score.Update(&market, at, ticks)
	next, changed := Transition(prev, in.Score, at, ov, cfg.Cooldown, cfg.Hysteresis)
	next.Inputs, next.Market = in, market
	next.Records = prev.Records + 1
	if !changed {
		return next, nil
	}
	from := string(prev.Band)
	if from == "" {
		from = "none"
	}
	return next, &topics.RegimeChange{Scope: next.Scope, From: from, To: string(next.Band),
		Score: next.Score, AtMs: at, Inputs: in.Map(), CooldownMs: next.CooldownUntilMs, Gate: next.Gate}
}

func cloneMarket(m Market) Market {
	c := m
	c.Symbols = make(map[string]*Series, len(m.Symbols))
	for k, s := range m.Symbols {
		cp := *s
		cp.S = append([]Sample(nil), s.S...)
		c.Symbols[k] = &cp
	}
	return c
}

// DecodeTicks decodes a mark-price frame (array, single, or combined
// wrapper) into its event time and ticks. Prices that do not parse are
// skipped; a frame without any mark price is an error. A bare array (the
// live !markPrice@arr form) takes a fast path that reads only e, E, s and
// p; anything else goes through binance.Decode.
func DecodeTicks(raw []byte) (int64, []Tick, error) {
	if t := bytes.TrimSpace(raw); len(t) > 0 && t[0] == '[' {
		if at, ticks, err := decodeArrayFast(t); err == nil {
			return at, ticks, nil
		}
	}
	ev, err := binance.Decode(raw)
	if err != nil {
		return 0, nil, err
	}
	if len(ev.MarkPrices) == 0 {
		return 0, nil, fmt.Errorf("frame of type %q carries no mark prices", ev.Type)
	}
	at := ev.EventTime
	ticks := make([]Tick, 0, len(ev.MarkPrices))
	for _, mp := range ev.MarkPrices {
		at = max(at, mp.EventTime)
		ticks = appendTick(ticks, string(mp.Symbol), string(mp.MarkPrice))
	}
	return at, ticks, nil
}

// fastMark declares both "e" and "E" (and "p"/"P", "s"/"S" are distinct
// tags) so encoding/json's case-insensitive fallback cannot mix them.
type fastMark struct {
	Ev string          `json:"e"`
	E  json.RawMessage `json:"E"`
	S  string          `json:"s"`
	P  string          `json:"p"`
	PP json.RawMessage `json:"P"`
}

func decodeArrayFast(frame []byte) (int64, []Tick, error) {
	var elems []fastMark
	if err := json.Unmarshal(frame, &elems); err != nil {
		return 0, nil, err
	}
	if len(elems) == 0 || elems[0].Ev != binance.EventMarkPriceUpdate {
		return 0, nil, errors.New("not a mark-price array")
	}
	var at int64
	ticks := make([]Tick, 0, len(elems))
	for _, e := range elems {
		t, err := strconv.ParseInt(string(bytes.Trim(e.E, `"`)), 10, 64)
		if err != nil {
			return 0, nil, fmt.Errorf("decoding E: %w", err)
		}
		at = max(at, t)
		ticks = appendTick(ticks, e.S, e.P)
	}
	return at, ticks, nil
}

func appendTick(ticks []Tick, sym, price string) []Tick {
	p, err := strconv.ParseFloat(price, 64)
	if err != nil || sym == "" {
		return ticks
	}
	return append(ticks, Tick{Symbol: sym, Price: p})
}

func (r *regime) quarantine(ctx goka.Context, raw []byte, err error) {
	r.cfg.Log.Warn("quarantining undecodable mark-price record",
		"topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(), "err", err)
	q := topics.QuarantineRecord{SourceTopic: string(ctx.Topic()), SourcePartition: ctx.Partition(),
		SourceOffset: ctx.Offset(), Key: ctx.Key(), Value: string(raw), Consumer: string(Group(r.cfg.Prefix)),
		Error: err.Error(), AtMs: ctx.Timestamp().UnixMilli()}
	ctx.Emit(QuarantineTopic(r.cfg.Prefix), ctx.Key(), &q)
}

// DecodeOverride reads a lookup value of the overrides table. The table is
// read raw so that a malformed record written by hand cannot stop the
// processor (a goka codec error is fatal); such a value counts as no
// override.
func DecodeOverride(v any) *topics.Override {
	raw, ok := v.([]byte)
	if !ok || len(raw) == 0 {
		return nil
	}
	var ov topics.Override
	if err := json.Unmarshal(raw, &ov); err != nil {
		return nil
	}
	return &ov
}

// TableSpec declares the regime group table as a topic spec, so deployments
// can create it up front with topics.Apply (compacted, as many partitions
// as mark-price). Apply it before starting the gate: the gate looks the
// table up, and a Kafka broker that auto-creates a missing topic would
// create it with its default partition count and no compaction, which the
// regime processor then refuses (its table must be copartitioned with
// mark-price).
func TableSpec() topics.Spec {
	return topics.Spec{Suffix: "regime-table", Partitions: topics.MarkPrice.Partitions, Compact: true,
		Key: "exchange", Value: "regime.State (JSON)", Doc: "goka group table of the regime processor"}
}
