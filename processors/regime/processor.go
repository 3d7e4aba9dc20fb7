// Package regime is the market-regime processor: it folds every
// mark-price record into a rolling market state, computes a market-wide
// score 0-100 and its band, tracks the cooldown after Critical and the
// operator override, and publishes every band or gate change.
//
// # Graph
//
//	input   <prefix>mark-price         raw !markPrice@arr frames, key = exchange
//	view    <prefix>regime-overrides   Override per scope (compacted, 1 partition)
//	persist <prefix>regime-table       State per exchange, without its market (the group table)
//	output  <prefix>regime-checkpoints Checkpoint (state and market) per exchange, periodically
//	output  <prefix>regime-changes     RegimeChange on every band or gate change
//	output  <prefix>quarantine         QuarantineRecord for undecodable frames
//
// # State in memory, checkpoints and rebuilds
//
// The rolling market (a series per symbol, about 40 KB of JSON at 568
// symbols) is kept in memory per partition and scope, and folded in
// place. The table value, written on every record, is the state without
// it (about 300-600 bytes: band, score, inputs, cooldown, override, and
// Partition/Next, the input offset after the last folded record). Every
// Config.CheckpointEvery folded records (default 120, two minutes of the
// live feed), at a scope's first record, after any record the consumer's
// clock shaped, and after a failed rebuild, the processor emits a
// Checkpoint (the state with its market) to the compacted checkpoint
// topic, copartitioned with mark-price. Per input record that is about
// 300 bytes of table value plus 40 KB / 120 of checkpoint: about 650
// bytes, against 40-90 KB per record when the table value held the
// market (BenchmarkRegimeDayReplay measures both).
//
// Why checkpoints and not a delta changelog: every symbol's last price,
// time and moving average change on every record, so an exact delta is
// at least 568 x 16 bytes, over the 2 KB budget, and anything smaller is
// not the same market. The input itself is the exact log of those
// changes, and Kafka keeps it (mark-price retains a day).
//
// When a partition comes to an instance that does not hold the scope's
// market for the table value's Next (a rebalance, a restart, a killed
// instance), the first record rebuilds it: the newest checkpoint of the
// scope in the same partition of the checkpoint topic (its last
// checkpointScan records, else the whole partition), then the input
// records from the checkpoint's Next up to the table value's Next, folded
// with the same decode and the same late-record rule (ScoreConfig.Update
// only: the band and the cooldown come from the table value). The rebuild
// replays at most CheckpointEvery records, and checks itself: no gap in
// the offsets, as many folded records as the table value counts since the
// checkpoint, the same event time. The market is then the one an
// uninterrupted run holds, bit for bit, so bands are identical after a
// rebalance and after a kill (TestKafkaKilledInstanceSurvivorBandsEqualAnUninterruptedRun
// kills an instance with SIGKILL mid-stream). A record below the table
// value's Next was folded already (a redelivery after a crash) and is
// skipped; a checkpoint newer than the table value (the table write was
// lost, the checkpoint's was not) replaces it. The consumer's clock plays
// no part in a replay: a record it shaped (ticks refused as far-future, a
// poisoned state reset) is followed by a checkpoint, so it is never
// inside a replayed range.
//
// A rebuild that cannot be done (no checkpoint, a checkpoint that fails
// its checks or does not add up with the table value, the input since it
// gone) fails closed: the instance starts from an empty market, logs it,
// and keeps the feed degraded for Config.Recovery (the gate refuses
// opens) while the windows refill; a checkpoint is written at once. A
// table value written before the checkpoints (no Next) rebuilds that way
// once, on the first deployment.
//
// # Time
//
// Event time only: the evaluation time is the frame's E; cooldowns and
// override expiry are compared with it, never with the wall clock. The
// score and band sequence is a pure function of the mark-price records, so
// a replay gives the same sequence (TestRegimeReplayIsIdentical). The
// override is read from a View at processing time; replaying with a
// different override history changes the gate, not the score or band.
// (A rebuild is a replay of the market alone; see below.)
//
// The consumer's clock (Config.Now) only bounds event time: a frame, or a
// tick inside one, whose E lies more than Config.MaxAhead ahead of it is
// quarantined (topics.CheckEventTime), because the state never goes back
// in event time and one record claiming 2100 would otherwise make every
// real tick "late" and freeze the gate. A persisted state already ahead of
// the clock (written before this check) is reset and logged.
//
// # Degraded
//
// A feed too thin to judge is part of the score function, by event time:
// the reference (BTCUSDT) silent for longer than ScoreConfig.DegradedAfter,
// fewer than MinFreshShare of the known symbols ticking within it, or
// fewer than MinSymbols known. The state then carries the reason
// (State.Degraded) and its gate is "degraded", which refuses opens like
// Critical does (GateStatus; an operator allow override still wins), until
// Config.Recovery after the last degraded record. Without it, BTC silent
// while the altcoins crashed read Elevated, and the altcoins silent while
// BTC fell 10 % read Fragile: gate open. A feed that stops altogether
// produces no records; that is the gate's own staleness check.
//
// # Bands
//
// Breadth measures each symbol's last price against its own time-weighted
// moving average (one number per symbol, continuous at any cadence), and a
// band is left downwards only after the score pointed lower for
// Config.DownHold, so at the feed's 1 s cadence a crash enters Critical
// once (TestCadenceCrashEntersCriticalOnce replays the shared market data
// at 1 s).
//
// # Overrides
//
// The overrides View is guarded (control.NewOverridesView): a record that
// fails control.CheckOverride is quarantined and the last good override
// stays in force. When a key has no good record (only garbage), the
// override is unreadable: the state records why (State.OverrideUnreadable)
// and its gate is "override_unreadable", which refuses opens, like the
// gate does on the same View. Garbage never opens the gate.
//
// # Why a View for overrides
//
// The overrides topic has one partition, mark-price three; goka's Join
// requires copartitioning, a View over every partition does not. The View
// is the Runner's, not a goka.Lookup edge: goka v1.1.17 closes a Lookup's
// View on shutdown while a callback may still read it (a data race); the
// Runner stops it only after the processor returned (processors/internal/lookups).
package regime

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/processors/internal/control"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/topics"
)

// MaxOverrideUnreadable bounds State.OverrideUnreadable (bytes).
const MaxOverrideUnreadable = 256

// Group is the regime consumer group; its group table holds State.
func Group(prefix string) goka.Group { return goka.Group(topics.GroupRegime.Name(prefix)) }

// Table is the regime group table (key = exchange, value = State).
func Table(prefix string) goka.Table { return goka.GroupTable(Group(prefix)) }

// InputTopic is the mark-price topic.
func InputTopic(prefix string) goka.Stream { return goka.Stream(topics.MarkPrice.Name(prefix)) }

// OverridesTable is the overrides topic, read through a View.
func OverridesTable(prefix string) goka.Table { return goka.Table(topics.RegimeOverrides.Name(prefix)) }

// ChangesTopic receives a RegimeChange on every band or gate change.
func ChangesTopic(prefix string) goka.Stream { return goka.Stream(topics.RegimeChanges.Name(prefix)) }

// QuarantineTopic receives undecodable mark-price records.
func QuarantineTopic(prefix string) goka.Stream { return goka.Stream(topics.Quarantine.Name(prefix)) }

// StateCodec is the codec of the regime table.
type StateCodec = topics.JSON[State]

// Config configures the regime processor.
type Config struct {
	// Brokers are the Kafka seed brokers (ignored with goka.WithTester)
	// when Kafka is nil.
	Brokers []string
	// Kafka builds the clients beside the processor's own (the overrides
	// View's quarantine emitter) with its seeds and security (nil:
	// kclient.ForBrokers(Brokers), the process-wide security).
	Kafka *kclient.Factory
	// ViewOptions configure the overrides View: goka.WithViewTester in
	// graph tests; kclient.GokaViewOptions plus a storage builder of its
	// own (not the processor's directory) in production.
	ViewOptions []goka.ViewOption
	Prefix      string
	// Score holds the weights and thresholds (DefaultScoreConfig).
	Score ScoreConfig
	// Cooldown keeps opens blocked after leaving Critical (default 30 min).
	Cooldown time.Duration
	// Hysteresis in score points before a band is left downwards (default 3).
	Hysteresis float64
	// DownHold is how long (event time) the score must point to a lower
	// band before the band follows (default 30 min): a crash's score swings
	// by tens of points within minutes, and at 1 s cadence each dip below a
	// floor was a band change, and a re-entry into Critical, before. Waves
	// of one crash come within half an hour on the shared market data
	// (TestCadenceCrashEntersCriticalOnce).
	DownHold time.Duration
	// Recovery keeps a feed that was degraded degraded this long after it
	// looks healthy again (default 15 min, the score's short window): what
	// happened while it was blind is still in the windows, and reopening at
	// once let a crash in progress through until its score caught up.
	Recovery time.Duration
	// MaxAhead is how far a record's event time (and each tick's own E)
	// may lie ahead of Now before it is refused (default
	// topics.DefaultMaxAhead): one record claiming the year 2100 must not
	// push the state's event time past every real tick.
	MaxAhead time.Duration
	// Now is the consumer's clock (default time.Now). It only bounds event
	// times, and the created_at and until of override records (the
	// overrides View's Guard); the score itself never reads it.
	Now func() time.Time
	// ControlQuarantined, when set, receives the quarantine records of
	// refused override records instead of the quarantine topic (graph
	// tests: goka's tester emitter deadlocks beside a running View; see
	// lookups.GuardConfig.Quarantined).
	ControlQuarantined func(key string, rec *topics.QuarantineRecord)
	// CheckpointEvery is how many folded records of a scope pass between
	// two checkpoints (default DefaultCheckpointEvery): the changelog
	// bytes per record against the records a rebuild replays.
	CheckpointEvery int
	// FullState runs the design before the checkpoints: the whole state,
	// market included, read from and written to the table on every
	// record. Only the benchmarks set it, as their baseline; its table
	// values are not readable by the gate.
	FullState bool
	Log       *slog.Logger
}

// DefaultConfig returns the documented defaults for prefix.
func DefaultConfig(brokers []string, prefix string) Config {
	return Config{Brokers: brokers, Prefix: prefix, Score: DefaultScoreConfig(),
		Cooldown: 30 * time.Minute, Hysteresis: DefaultHysteresis, DownHold: DefaultDownHold, Recovery: 15 * time.Minute, MaxAhead: topics.DefaultMaxAhead,
		CheckpointEvery: DefaultCheckpointEvery}
}

// Validate names the first bad field.
func (c Config) Validate() error {
	var errs []error
	if c.Prefix == "" {
		errs = append(errs, errors.New("regime config: Prefix is empty"))
	}
	if len(c.Brokers) == 0 && c.Kafka == nil && len(c.ViewOptions) == 0 {
		errs = append(errs, errors.New("regime config: Brokers and Kafka are empty and no ViewOptions are set (the overrides View needs a cluster or goka.WithViewTester)"))
	}
	if c.Cooldown < 0 {
		errs = append(errs, fmt.Errorf("regime config: Cooldown %s is negative", c.Cooldown))
	}
	if c.DownHold < 0 || c.Recovery < 0 {
		errs = append(errs, fmt.Errorf("regime config: DownHold %s and Recovery %s must not be negative", c.DownHold, c.Recovery))
	}
	if c.CheckpointEvery < 0 {
		errs = append(errs, fmt.Errorf("regime config: CheckpointEvery %d is negative", c.CheckpointEvery))
	}
	if c.MaxAhead < 0 {
		errs = append(errs, fmt.Errorf("regime config: MaxAhead %s is negative", c.MaxAhead))
	}
	if c.Hysteresis < 0 || c.Hysteresis >= 25 {
		errs = append(errs, fmt.Errorf("regime config: Hysteresis %v must be in [0, 25)", c.Hysteresis))
	}
	if err := c.Score.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Runner runs the regime processor and its overrides View (see New).
type Runner = lookups.Runner

// graph is the regime group graph; r's callbacks read r.override.
func graph(r *regime) *goka.GroupGraph {
	var codec goka.Codec = StateCodec{}
	if r.cfg.FullState {
		codec = fullStateCodec{}
	}
	return goka.DefineGroup(Group(r.cfg.Prefix),
		goka.Input(InputTopic(r.cfg.Prefix), topics.Raw{}, r.process),
		goka.Persist(codec),
		goka.Output(ChangesTopic(r.cfg.Prefix), topics.JSON[topics.RegimeChange]{}),
		goka.Output(CheckpointTopic(r.cfg.Prefix), CheckpointCodec{}),
		goka.Output(QuarantineTopic(r.cfg.Prefix), topics.JSON[topics.QuarantineRecord]{}),
	)
}

// New builds the regime processor and its overrides View
// (kclient.GokaProcessorOptions for a cluster, goka.WithTester for graph
// tests with goka.WithViewTester in Config.ViewOptions). Run it with Run(ctx).
func New(cfg Config, opts ...goka.ProcessorOption) (*Runner, error) {
	p, _, err := newRegime(cfg, opts...)
	return p, err
}

// newRegime is New, and the regime whose callbacks the Runner runs.
func newRegime(cfg Config, opts ...goka.ProcessorOption) (*Runner, *regime, error) {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxAhead == 0 {
		cfg.MaxAhead = topics.DefaultMaxAhead
	}
	if cfg.CheckpointEvery == 0 {
		cfg.CheckpointEvery = DefaultCheckpointEvery
	}
	if err := cfg.Validate(); err != nil {
		return nil, nil, err
	}
	cfg.Kafka = lookups.Kafka(cfg.Kafka, cfg.Brokers)
	own := lookups.Owner{Name: "regime", Kafka: cfg.Kafka, Group: Group(cfg.Prefix), Quarantine: QuarantineTopic(cfg.Prefix),
		ViewOptions: cfg.ViewOptions, Quarantined: cfg.ControlQuarantined, Log: cfg.Log}
	ov, guard, err := control.NewOverridesView(own.Guarded(OverridesTable(cfg.Prefix)), cfg.Now)
	if err != nil {
		return nil, nil, fmt.Errorf("creating regime processor: %w", err)
	}
	r := &regime{cfg: cfg, override: lookups.NewDecoded(ov, guard,
		func(_ string, v any) (*topics.Override, error) { return control.DecodeOverride(v) })}
	p, err := own.NewRunner(graph(r), opts, []*goka.View{ov}, guard)
	if err != nil {
		return nil, nil, err
	}
	return p, r, nil
}

type regime struct {
	cfg      Config
	override *lookups.Decoded[*topics.Override] // its View is the Runner's; outlives every callback
	mem      memory
	// rebuilt and lost count the markets rebuilt from a checkpoint and
	// the rebuilds that failed (tests).
	rebuilt, lost atomic.Int64
}

func (r *regime) process(ctx goka.Context, msg any) {
	raw, _ := msg.([]byte)
	key := ctx.Key()
	if err := validate.Exchange(key); err != nil {
		// The key is the scope of a state: an invented key would add a
		// state (and a regime) per key to the table.
		r.quarantine(ctx, raw, fmt.Errorf("mark-price record key: %w", err))
		return
	}
	var prev State
	if v, ok := ctx.Value().(*State); ok && v != nil {
		prev = *v
	}
	if prev.Scope == "" {
		prev.Scope = key
	}
	part, off := ctx.Partition(), ctx.Offset()
	if !r.cfg.FullState && prev.Next > 0 && prev.Partition == part && off < prev.Next {
		return // folded already: redelivered after a crash or a rebalance
	}
	at, ticks, err := DecodeTicks(raw)
	if err != nil {
		r.quarantine(ctx, raw, err)
		return
	}
	if len(ticks) == 0 {
		r.quarantine(ctx, raw, errors.New("mark-price frame without a valid symbol and price"))
		return
	}
	now := r.cfg.Now()
	at, ticks, err = BoundTicks(at, ticks, now, r.cfg.MaxAhead)
	// clocked: the consumer's clock shaped this record's effect, so a
	// rebuild (later, another clock) could not replay it: checkpoint
	// after it, whatever it did.
	clocked := err != nil
	if err != nil {
		// Quarantined whether it was refused whole (nothing is folded) or
		// only some of its ticks were (the rest are still folded in).
		r.quarantine(ctx, raw, err)
	}
	reset := false
	if cerr := topics.CheckEventTime(prev.AtMs, now, r.cfg.MaxAhead); prev.AtMs != 0 && cerr != nil {
		// A state written by a version that let a far-future record through:
		// obeying it would drop every real tick as late. Start over.
		r.cfg.Log.Error("regime state is ahead of this consumer's clock; resetting it",
			"scope", prev.Scope, "err", cerr)
		prev = State{State: regimestate.State{Scope: prev.Scope, Records: prev.Records, Partition: prev.Partition, Next: prev.Next}}
		reset, clocked = true, true
	}
	late := len(ticks) == 0 || at < prev.AtMs // late: event time never goes backwards
	if late && (!clocked || prev.Records == 0) {
		// (Before a scope's first folded record, which is checkpointed,
		// nothing is replayed: a refused record then needs no checkpoint.)
		return
	}
	lost := false
	if !r.cfg.FullState {
		prev, lost = r.withMarket(part, key, prev, reset, max(at, prev.AtMs))
	}
	if !r.cfg.FullState && prev.Next > 0 && prev.Partition == part && off < prev.Next {
		// The checkpoint was newer than the table value (the table write
		// was lost in a crash): it folded this record already.
		r.save(ctx, part, key, prev, false)
		return
	}
	if late {
		prev.Partition, prev.Next = part, off+1
		r.save(ctx, part, key, prev, true)
		return
	}
	// The View is guarded: a garbage override record keeps the last good
	// one. With none, the override is unreadable and the gate blocks
	// (fail closed) until an operator writes a valid record. Decoded
	// decodes it once per write to the View, not per record.
	ov, ovErr := r.override.Get(ctx, regimestate.OverrideScope)
	prev.OverrideUnreadable = ""
	if ovErr != nil {
		prev.OverrideUnreadable = topics.Bound(ovErr.Error(), MaxOverrideUnreadable)
	}
	var next State
	var change *topics.RegimeChange
	if r.cfg.FullState {
		next, change = Step(r.cfg, prev, at, ticks, ov) // the old design: a copy of the decoded market
	} else {
		next, change = step(r.cfg, prev, at, ticks, ov) // the remembered market, in place
	}
	next.Partition, next.Next = part, off+1
	r.save(ctx, part, key, next, clocked || lost)
	if change != nil {
		ctx.Emit(ChangesTopic(r.cfg.Prefix), next.Scope, change)
	}
}

// withMarket returns the table value prev with its market: the one this
// instance remembers when it is prev's, an empty one for a new or reset
// state, else a rebuild from the last checkpoint and the input since. A
// rebuild that fails starts from an empty market and keeps the feed
// degraded for Config.Recovery from at (fail closed), as a feed that was
// blind does: the windows refill; lost reports it.
func (r *regime) withMarket(part int32, key string, prev State, reset bool, at int64) (st State, lost bool) {
	mem := r.mem.take(part, key)
	switch {
	case reset || prev.Records == 0:
		prev.Market = Market{}
		return prev, false
	case matches(mem, &prev):
		prev.Market = mem.Market
		return prev, false
	}
	start := time.Now()
	st, err := r.rebuild(part, key, prev)
	if err == nil {
		r.rebuilt.Add(1)
		r.cfg.Log.Info("regime market rebuilt from its checkpoint", "scope", key, "partition", part,
			"records", st.Records, "took", time.Since(start).Round(time.Millisecond))
		return st, false
	}
	r.lost.Add(1)
	r.cfg.Log.Error("cannot rebuild the regime market; starting from an empty one, degraded until its windows refill",
		"scope", key, "partition", part, "err", err)
	prev.Market = Market{AtMs: prev.AtMs} // empty, at the state's time (the checkpoint's check)
	prev.RecoverUntilMs = max(prev.RecoverUntilMs, at+r.cfg.Recovery.Milliseconds())
	return prev, true
}

// save writes st as the table value (its market left out), remembers it
// with its market, and writes a checkpoint every Config.CheckpointEvery
// records, at a scope's first record, and when force is set.
func (r *regime) save(ctx goka.Context, part int32, key string, st State, force bool) {
	ctx.SetValue(&st)
	if r.cfg.FullState {
		return
	}
	r.mem.put(part, key, &st)
	if force || st.Records <= 1 || st.Records%int64(r.cfg.CheckpointEvery) == 0 {
		ctx.Emit(CheckpointTopic(r.cfg.Prefix), key, &Checkpoint{State: st, Market: st.Market})
	}
}

// BoundTicks applies the consumer's clock to a decoded frame: a tick whose
// own event time is more than maxAhead past now is dropped, and the
// frame's time becomes the newest remaining tick's. The error (nil when
// every tick passed) says what was refused; with no tick left the frame
// is refused whole.
func BoundTicks(at int64, ticks []Tick, now time.Time, maxAhead time.Duration) (int64, []Tick, error) {
	err := topics.CheckEventTime(at, now, maxAhead)
	if err == nil {
		return at, ticks, nil
	}
	kept := make([]Tick, 0, len(ticks))
	var newest int64
	var first error
	for _, tk := range ticks {
		if terr := topics.CheckEventTime(tk.AtMs, now, maxAhead); terr != nil {
			first = cmp.Or(first, terr)
			continue
		}
		kept = append(kept, tk)
		newest = max(newest, tk.AtMs)
	}
	if len(kept) == 0 {
		return 0, nil, fmt.Errorf("mark-price frame refused: %w", err)
	}
	if first == nil {
		first = err // only the frame's own E was out of bounds
	}
	return newest, kept, fmt.Errorf("refused %d of %d ticks: %w", len(ticks)-len(kept), len(ticks), first)
}

// Step is one evaluation of the processor as a pure function: fold the
// ticks into the market state, score, transition, and build the change
// record when band or gate changed (nil otherwise). prev is not modified.
func Step(cfg Config, prev State, at int64, ticks []Tick, ov *topics.Override) (State, *topics.RegimeChange) {
	prev.Market = cloneMarket(prev.Market)
	return step(cfg, prev, at, ticks, ov)
}

// step is Step on a state whose Market it may change (replays of long
// files skip the copy).
func step(cfg Config, prev State, at int64, ticks []Tick, ov *topics.Override) (State, *topics.RegimeChange) {
	market := prev.Market
	in := cfg.Score.Update(&market, at, ticks)
	next, changed := Transition(cfg, prev, in.Score, at, in.Degraded, ov)
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
		Score: next.Score, AtMs: at, Inputs: in.Map(), CooldownMs: next.CooldownUntilMs, Gate: next.Gate,
		Degraded: next.Degraded}
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
		ticks = appendTick(ticks, string(mp.Symbol), string(mp.MarkPrice), cmp.Or(mp.EventTime, ev.EventTime))
	}
	return at, ticks, nil
}

// decodeArrayFast reads a bare array in one pass (binance.ReadMarkTicks,
// which matches names exactly, so "p" is never "P"). An element of the
// wrong shape, a first element that is not a markPriceUpdate or an E that
// is not an integer fails the fast path, and DecodeTicks falls back to
// binance.Decode.
func decodeArrayFast(frame []byte) (int64, []Tick, error) {
	elems, err := binance.ReadMarkTicks(frame)
	if err != nil {
		return 0, nil, err
	}
	if len(elems) == 0 || elems[0].Event != binance.EventMarkPriceUpdate {
		return 0, nil, errors.New("not a mark-price array")
	}
	var at, t int64
	var prevE []byte // the elements of one frame share E: parse it once
	ticks := make([]Tick, 0, len(elems))
	for _, e := range elems {
		if e.Err != nil {
			return 0, nil, e.Err
		}
		if prevE == nil || !bytes.Equal(e.E, prevE) {
			var err error
			if t, err = strconv.ParseInt(string(bytes.Trim(e.E, `"`)), 10, 64); err != nil {
				return 0, nil, fmt.Errorf("decoding E: %w", err)
			}
			prevE = e.E
		}
		at = max(at, t)
		ticks = appendTick(ticks, e.Symbol, e.Price, t)
	}
	return at, ticks, nil
}

// appendTick appends a tick whose symbol and price pass the checks of
// values entering the system (internal/validate: a plain decimal > 0 of at
// most 18 integer digits, so no exponent, NaN, Inf or 0) and skips it
// otherwise: the score's logs and ratios stay finite whatever a record
// claims.
func appendTick(ticks []Tick, sym, price string, at int64) []Tick {
	if validate.Symbol(sym) != nil || validate.MarkPrice(price) != nil {
		return ticks
	}
	p, err := strconv.ParseFloat(price, 64)
	if err != nil || !(p > 0) || math.IsInf(p, 0) {
		return ticks
	}
	return append(ticks, Tick{Symbol: sym, Price: p, AtMs: at})
}

func (r *regime) quarantine(ctx goka.Context, raw []byte, err error) {
	lookups.Quarantine(ctx, QuarantineTopic(r.cfg.Prefix), Group(r.cfg.Prefix), raw, err, r.cfg.Log, "mark-price record")
}

// DecodeOverride decodes a raw value of the overrides topic for displays
// (kraite regime status, the status page) that read the topic directly;
// a value that control.DecodeOverride refuses (not JSON, an unknown
// action) counts as no override. The processor does not use it: it reads
// a guarded View (processors/internal/control), which keeps the last good
// override and fails closed when there is none.
func DecodeOverride(v any) *topics.Override {
	ov, _ := control.DecodeOverride(v)
	return ov
}
