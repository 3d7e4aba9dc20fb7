// Package dispatch is the dispatch processor: it decodes every record of the
// user-data-stream topic, applies the per-exchange allowlist and sends the
// allowed events, normalized, to the orders topic.
//
// # Graph
//
//	input   <prefix>user-data-stream   raw frames, gap markers, backfill frames
//	view    <prefix>allowlist          AllowlistValue per exchange (compacted, 1 partition)
//	output  <prefix>orders             OrderEvent, key = account id
//	output  <prefix>quarantine         QuarantineRecord for undecodable records
//	output  <prefix>positions          PositionEvent "account_update", key = account id
//
// ACCOUNT_UPDATE frames carry the exchange's own positions. They go to the
// positions topic whatever the allowlist says: they change nothing by
// themselves, the positions worker only records them as the exchange's
// truth to compare its observed positions with (drift alerts).
//
// The allowlist is read through a goka View over the compacted topic, not a
// Join: the allowlist has one partition and the input twelve, and Join
// requires copartitioning. A View reads every partition and keeps
// consuming, so an `allowlist set` is seen by the running processor within
// one fetch round trip, without a restart. Until the topic holds a value for
// an exchange, Config.Allowlists applies. An empty list is shadow mode.
//
// The View is the Runner's, not a goka.Lookup edge: goka v1.1.17 closes a
// Lookup's View on shutdown while a callback may still read it (a data
// race). The Runner stops the View only after the processor returned; see
// processors/internal/lookups.
//
// The processor is stateless (no group table): a decision depends only on
// the record and the allowlist, so a rebalance or restart loses nothing.
// Delivery is at-least-once (a hard crash between emit and offset commit
// re-dispatches); every OrderEvent carries its source topic, partition and
// offset so the idempotent sinks drop duplicates.
package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

// Group is the consumer group (and goka group) of the dispatch processor.
func Group(prefix string) goka.Group { return goka.Group(prefix + "dispatch") }

// InputTopic is the user-data-stream topic.
func InputTopic(prefix string) goka.Stream { return goka.Stream(topics.UserDataStream.Name(prefix)) }

// AllowlistTable is the allowlist topic, read through the processor's View.
func AllowlistTable(prefix string) goka.Table { return goka.Table(topics.Allowlist.Name(prefix)) }

// OrdersTopic is the output topic of dispatched events.
func OrdersTopic(prefix string) goka.Stream { return goka.Stream(topics.Orders.Name(prefix)) }

// PositionsTopic receives the exchange's position reports.
func PositionsTopic(prefix string) goka.Stream { return goka.Stream(topics.Positions.Name(prefix)) }

// QuarantineTopic receives records that could not be decoded.
func QuarantineTopic(prefix string) goka.Stream { return goka.Stream(topics.Quarantine.Name(prefix)) }

// Config configures the dispatch processor.
type Config struct {
	// Brokers are the Kafka seed brokers (ignored with goka.WithTester).
	Brokers []string
	// ViewOptions configure the allowlist View: goka.WithViewTester in
	// graph tests; kclient.GokaViewOptions plus a storage builder of its
	// own (not the processor's directory) in production.
	ViewOptions []goka.ViewOption
	// Prefix is the topic prefix, e.g. "kraite.".
	Prefix string
	// Allowlists is the initial allowlist per exchange, used until the
	// allowlist topic holds a value for it (DefaultAllowlists when nil).
	Allowlists map[string][]string
	// DefaultExchange is assumed when a record has no exchange header.
	DefaultExchange string
	// Metrics counts outcomes; may be nil.
	Metrics *Metrics
	// Log receives quarantine warnings; nil discards.
	Log *slog.Logger
}

// Validate names the first bad field.
func (c Config) Validate() error {
	if c.Prefix == "" {
		return errors.New("dispatch config: Prefix is empty")
	}
	if c.DefaultExchange == "" {
		return errors.New("dispatch config: DefaultExchange is empty")
	}
	if len(c.Brokers) == 0 && len(c.ViewOptions) == 0 {
		return errors.New("dispatch config: Brokers is empty and no ViewOptions are set (the allowlist View needs a cluster or goka.WithViewTester)")
	}
	return nil
}

// withDefaults returns a copy of c with defaults filled in.
func (c Config) withDefaults() Config {
	if c.Allowlists == nil {
		c.Allowlists = DefaultAllowlists()
	}
	if c.DefaultExchange == "" {
		c.DefaultExchange = topics.ExchangeBinance
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Runner runs the dispatch processor and its allowlist View (see New).
type Runner = lookups.Runner

// graph builds the dispatch group graph; d's callbacks read d.allow.
func graph(d *dispatcher) (*goka.GroupGraph, error) {
	g := goka.DefineGroup(Group(d.cfg.Prefix),
		goka.Input(InputTopic(d.cfg.Prefix), topics.Raw{}, d.process),
		goka.Output(OrdersTopic(d.cfg.Prefix), topics.JSON[topics.OrderEvent]{}),
		goka.Output(QuarantineTopic(d.cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
		goka.Output(PositionsTopic(d.cfg.Prefix), topics.JSON[topics.PositionEvent]{}),
	)
	if err := g.Validate(); err != nil {
		return nil, fmt.Errorf("validating dispatch graph: %w", err)
	}
	return g, nil
}

// New builds the dispatch processor and its allowlist View. Pass
// kclient.GokaProcessorOptions for a real cluster or goka.WithTester for
// graph tests (with goka.WithViewTester in Config.ViewOptions). Run it
// with Run(ctx).
func New(cfg Config, opts ...goka.ProcessorOption) (*Runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	allow, err := lookups.NewView(cfg.Brokers, AllowlistTable(cfg.Prefix), topics.Raw{}, cfg.Log, cfg.ViewOptions)
	if err != nil {
		return nil, fmt.Errorf("creating dispatch processor: %w", err)
	}
	d := &dispatcher{cfg: cfg, allow: allow}
	g, err := graph(d)
	if err != nil {
		return nil, err
	}
	p, err := goka.NewProcessor(cfg.Brokers, g, opts...)
	if err != nil {
		return nil, fmt.Errorf("creating dispatch processor: %w", err)
	}
	return lookups.New(p, allow), nil
}

type dispatcher struct {
	cfg   Config
	allow *goka.View // owned by the Runner; outlives every callback
}

// process is the input callback: thin glue around Decode and Decide.
func (d *dispatcher) process(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	h := ctx.Headers()
	exchange := string(h[topics.HeaderExchange])
	if exchange == "" {
		exchange = d.cfg.DefaultExchange
	}
	account := ctx.Key()
	kind := string(h[topics.HeaderKind])
	if kind == topics.KindGap {
		d.cfg.Metrics.count(exchange, "gap", Gap)
		return
	}
	ev, err := decode(exchange, raw)
	if err != nil {
		d.quarantine(ctx, raw, exchange, err)
		return
	}
	if ev.Account != nil && len(ev.Account.Positions) > 0 {
		ctx.Emit(PositionsTopic(d.cfg.Prefix), account, positionReport(exchange, account, ev))
	}
	execType := ev.ExecutionType()
	outcome := Decide(d.allowlist(ctx, exchange), execType)
	d.cfg.Metrics.count(exchange, execType, outcome)
	if outcome != Dispatched {
		return
	}
	source := topics.SourceStream
	if kind == topics.KindBackfill || string(h[topics.HeaderSource]) == topics.SourceBackfill {
		source = topics.SourceBackfill
	}
	oe := ev.OrderEvent(exchange, account, source)
	oe.SourceTopic = string(ctx.Topic())
	oe.SourcePartition = ctx.Partition()
	oe.SourceOffset = ctx.Offset()
	ctx.Emit(OrdersTopic(d.cfg.Prefix), account, &oe)
}

// positionReport is the account_update record of an ACCOUNT_UPDATE event.
func positionReport(exchange, account string, ev binance.Event) *topics.PositionEvent {
	pe := &topics.PositionEvent{Kind: topics.PositionAccountUpdate, Account: account, Exchange: exchange, AtMs: ev.EventTime}
	for _, p := range ev.Account.Positions {
		side := string(p.PositionSide)
		if side == "" {
			side = "BOTH"
		}
		pe.Positions = append(pe.Positions, topics.ExchangePosition{Symbol: string(p.Symbol), PositionSide: side,
			Amount: string(p.Amount), EntryPrice: string(p.EntryPrice), EventMs: ev.EventTime})
	}
	return pe
}

// decode picks the exchange's decoder; only Binance exists so far.
func decode(exchange string, raw []byte) (binance.Event, error) {
	if exchange != topics.ExchangeBinance {
		return binance.Event{}, fmt.Errorf("no decoder for exchange %q", exchange)
	}
	return binance.Decode(raw)
}

// allowlist returns the exchange's list from the allowlist View, or the
// configured initial list when the table has none. The table is read raw
// and decoded here: a goka codec error would stop the processor, while a
// malformed allowlist record (written by hand) only falls back to the
// configured list, with a warning.
func (d *dispatcher) allowlist(ctx goka.Context, exchange string) []string {
	raw, _ := lookups.Get(ctx, d.allow, exchange).([]byte)
	if len(raw) == 0 {
		return d.cfg.Allowlists[exchange]
	}
	var v topics.AllowlistValue
	if err := json.Unmarshal(raw, &v); err != nil {
		d.cfg.Log.Warn("ignoring malformed allowlist record", "exchange", exchange, "err", err)
		return d.cfg.Allowlists[exchange]
	}
	return v.Types
}

func (d *dispatcher) quarantine(ctx goka.Context, raw []byte, exchange string, err error) {
	d.cfg.Metrics.count(exchange, "undecodable", Quarantined)
	lookups.Quarantine(ctx, QuarantineTopic(d.cfg.Prefix), Group(d.cfg.Prefix), raw, err, d.cfg.Log, "record")
}
