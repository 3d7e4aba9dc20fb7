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
// # Every record is untrusted
//
//   - The allowlist View is guarded (lookups.Guard with CheckAllowlist): a
//     garbage allowlist record keeps the exchange's last good list, or, if
//     the exchange never had one, puts it in shadow mode (nothing
//     dispatched); never the configured default list. The record is
//     quarantined, logged once and raised as an alert (Runner.Alerts,
//     kraite_control_alert).
//   - A record on a partition other than the one its key hashes to (FNV-1a,
//     as goka and kclient place keys; lookups.KeyPartition) was written by
//     a producer with another partitioner: dispatching it could reorder the
//     account's events, so it is counted (execution_type "wrong_partition")
//     and quarantined. The partition count is read from the cluster when
//     the processor is built (Config.InputPartitions overrides it).
//   - An undecodable frame is quarantined (bounded: a 200 KB frame yields a
//     quarantine record under topics.MaxQuarantineBytes), and so is an
//     OrderEvent whose numbers internal/validate refuses (NaN, exponents,
//     negative quantities, more digits than the columns hold) or whose
//     event time is ahead of the clock: the sinks never see it.
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
	"strings"
	"time"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

// Group is the consumer group (and goka group) of the dispatch processor.
func Group(prefix string) goka.Group { return goka.Group(topics.GroupDispatch.Name(prefix)) }

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
	// Brokers are the Kafka seed brokers (ignored with goka.WithTester)
	// when Kafka is nil.
	Brokers []string
	// Kafka builds the clients beside the processor's own: the allowlist
	// View's quarantine emitter and the read of the input's partition
	// count, with its seeds and security (nil: kclient.ForBrokers(Brokers),
	// the process-wide security).
	Kafka *kclient.Factory
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
	// InputPartitions is the partition count of the input topic, used to
	// check that each record is on its key's partition. 0: read from the
	// cluster at New (with no Brokers nor Kafka, goka's tester: 1).
	InputPartitions int32
	// Now is the clock event times are checked against (nil: time.Now).
	Now func() time.Time
	// ControlQuarantined, when set, receives the quarantine records of
	// refused allowlist records instead of the quarantine topic (graph
	// tests; see lookups.GuardConfig.Quarantined).
	ControlQuarantined func(key string, rec *topics.QuarantineRecord)
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
	if len(c.Brokers) == 0 && c.Kafka == nil && len(c.ViewOptions) == 0 {
		return errors.New("dispatch config: Brokers and Kafka are empty and no ViewOptions are set (the allowlist View needs a cluster or goka.WithViewTester)")
	}
	if c.InputPartitions < 0 {
		return fmt.Errorf("dispatch config: InputPartitions %d is negative", c.InputPartitions)
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
	if c.Now == nil {
		c.Now = time.Now
	}
	c.Kafka = lookups.Kafka(c.Kafka, c.Brokers)
	return c
}

// Runner runs the dispatch processor and its allowlist View (see New).
type Runner = lookups.Runner

// graph is the dispatch group graph; d's callbacks read d.allow.
func graph(d *dispatcher) *goka.GroupGraph {
	return goka.DefineGroup(Group(d.cfg.Prefix),
		goka.Input(InputTopic(d.cfg.Prefix), topics.Raw{}, d.process),
		goka.Output(OrdersTopic(d.cfg.Prefix), topics.JSON[topics.OrderEvent]{}),
		goka.Output(QuarantineTopic(d.cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
		goka.Output(PositionsTopic(d.cfg.Prefix), topics.JSON[topics.PositionEvent]{}),
	)
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
	if cfg.InputPartitions == 0 {
		cfg.InputPartitions = 1 // goka's tester has one partition per topic
		if cfg.Kafka != nil {
			n, err := lookups.TopicPartitions(cfg.Kafka, string(InputTopic(cfg.Prefix)))
			if err != nil {
				return nil, fmt.Errorf("creating dispatch processor: %w", err)
			}
			cfg.InputPartitions = n
		}
	}
	own := lookups.Owner{Name: "dispatch", Kafka: cfg.Kafka, Group: Group(cfg.Prefix), Quarantine: QuarantineTopic(cfg.Prefix),
		ViewOptions: cfg.ViewOptions, Quarantined: cfg.ControlQuarantined, Log: cfg.Log}
	now := cfg.Now
	gc := own.Guarded(AllowlistTable(cfg.Prefix))
	gc.KnownKey = func(key string) bool { return validate.Exchange(key) == nil }
	gc.Check = func(key string, raw []byte) error {
		_, err := CheckAllowlist(key, raw, now())
		return err
	}
	allow, guard, err := lookups.NewGuardedView(gc)
	if err != nil {
		return nil, fmt.Errorf("creating dispatch processor: %w", err)
	}
	d := &dispatcher{cfg: cfg, allow: allow}
	return own.NewRunner(graph(d), opts, []*goka.View{allow}, guard)
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
	if want := lookups.KeyPartition([]byte(account), d.cfg.InputPartitions); want != ctx.Partition() || account == "" {
		d.cfg.Metrics.count(exchange, "wrong_partition", Quarantined)
		d.quarantineOnly(ctx, raw, fmt.Errorf("record of key %q is on partition %d, but the key hashes to partition %d of %d (FNV-1a, as goka): "+
			"written by a producer with another partitioner, it would break the account's ordering",
			topics.Bound(account, 64), ctx.Partition(), want, d.cfg.InputPartitions))
		return
	}
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
		pe := positionReport(exchange, account, ev)
		if err := checkPositionReport(pe, d.cfg.Now()); err != nil {
			d.cfg.Metrics.count(exchange, ev.ExecutionType(), Quarantined)
			d.quarantineOnly(ctx, raw, err)
			return
		}
		ctx.Emit(PositionsTopic(d.cfg.Prefix), account, pe)
	}
	execType := ev.ExecutionType()
	outcome := Decide(d.allowlist(ctx, exchange), execType)
	if outcome != Dispatched {
		d.cfg.Metrics.count(exchange, execType, outcome)
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
	if err := checkOrderEvent(&oe, d.cfg.Now()); err != nil {
		d.cfg.Metrics.count(exchange, execType, Quarantined)
		d.quarantineOnly(ctx, raw, err)
		return
	}
	d.cfg.Metrics.count(exchange, execType, outcome)
	ctx.Emit(OrdersTopic(d.cfg.Prefix), account, &oe)
}

// checkPositionReport refuses an account_update whose positions the
// positions worker should not believe: symbols, signed amounts and entry
// prices as internal/validate has them, and the event time not ahead.
func checkPositionReport(pe *topics.PositionEvent, now time.Time) error {
	var problems []string
	for i, p := range pe.Positions {
		for _, err := range []error{validate.Symbol(p.Symbol), validate.Signed(p.Amount), validate.Price(p.EntryPrice),
			validate.OneOf(p.PositionSide, "BOTH", "LONG", "SHORT")} {
			if err != nil {
				problems = append(problems, fmt.Sprintf("position %d: %v", i, err))
			}
		}
	}
	if err := topics.CheckEventTime(pe.AtMs, now, topics.DefaultMaxAhead); err != nil {
		problems = append(problems, "event time: "+err.Error())
	}
	if len(problems) > 0 {
		return fmt.Errorf("account update refused: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkOrderEvent refuses an event whose numbers the sinks could not store
// or should not believe, with internal/validate's checks: prices plain
// decimals >= 0, quantities >= 0, commission and realized profit of either
// sign, all within the columns' digits; ids not negative; the event time
// positive and not ahead of now (topics.CheckEventTime).
func checkOrderEvent(oe *topics.OrderEvent, now time.Time) error {
	var problems []string
	for _, f := range [...]struct {
		name, v string
		check   func(string) error
	}{
		{"price", oe.Price, validate.Price}, {"avg price", oe.AvgPrice, validate.Price},
		{"stop price", oe.StopPrice, validate.Price}, {"last price", oe.LastPrice, validate.Price},
		{"orig qty", oe.OrigQty, validate.Quantity}, {"cum qty", oe.CumQty, validate.Quantity},
		{"last qty", oe.LastQty, validate.Quantity},
		{"commission", oe.Commission, validate.Signed}, {"realized profit", oe.RealizedProfit, validate.Signed},
		{"actual order id", oe.ActualOrderID, validate.IDString},
	} {
		if f.v == "" {
			continue
		}
		if err := f.check(f.v); err != nil {
			problems = append(problems, f.name+": "+err.Error())
		}
	}
	for _, id := range [...]struct {
		name string
		v    int64
	}{{"order id", oe.OrderID}, {"algo id", oe.AlgoID}, {"trade id", oe.TradeID}} {
		if id.v < 0 {
			problems = append(problems, fmt.Sprintf("%s %d is negative", id.name, id.v))
		}
	}
	if err := topics.CheckEventTime(oe.EventTime, now, topics.DefaultMaxAhead); err != nil {
		problems = append(problems, "event time: "+err.Error())
	}
	if oe.TransactionTime != 0 {
		if err := topics.CheckEventTime(oe.TransactionTime, now, topics.DefaultMaxAhead); err != nil {
			problems = append(problems, "transaction time: "+err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("order event refused: %s", strings.Join(problems, "; "))
	}
	return nil
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
// configured initial list when the topic never held one. The View is
// guarded: it holds only checked records, or the unreadable marker of an
// exchange whose only records were garbage, which is shadow mode (an empty
// list), as is a stored value that does not decode (a View store written
// before the Guard existed). Garbage never widens the list.
func (d *dispatcher) allowlist(ctx goka.Context, exchange string) []string {
	v := lookups.Get(ctx, d.allow, exchange)
	if _, unreadable := lookups.Unreadable(v); unreadable {
		return nil
	}
	raw, _ := v.([]byte)
	if len(raw) == 0 {
		return d.cfg.Allowlists[exchange]
	}
	var al topics.AllowlistValue
	if err := json.Unmarshal(raw, &al); err != nil {
		return nil
	}
	return al.Types
}

func (d *dispatcher) quarantine(ctx goka.Context, raw []byte, exchange string, err error) {
	d.cfg.Metrics.count(exchange, "undecodable", Quarantined)
	d.quarantineOnly(ctx, raw, err)
}

// quarantineOnly emits the quarantine record without counting.
func (d *dispatcher) quarantineOnly(ctx goka.Context, raw []byte, err error) {
	lookups.Quarantine(ctx, QuarantineTopic(d.cfg.Prefix), Group(d.cfg.Prefix), raw, err, d.cfg.Log, "record")
}
