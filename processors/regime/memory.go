package regime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// DefaultCheckpointEvery is how many folded records of a scope pass
// between two checkpoints (Config.CheckpointEvery): two minutes of the
// live 1 Hz feed, so a rebuild replays at most 120 frames.
const DefaultCheckpointEvery = 120

// MaxCheckpointBytes bounds a checkpoint record read back (a real one is
// about 40 KB at 568 symbols; MaxSymbols series stay far below it).
const MaxCheckpointBytes = 1 << 20

// checkpointScan is how many records at the end of a checkpoint partition
// a rebuild reads first; it reads the whole partition (compacted: one
// record per key, plus what compaction has not reached yet) only when
// none of them is the scope's.
const checkpointScan = 32

// rebuildTimeout bounds one rebuild (reading the checkpoint and replaying
// the input since it).
const rebuildTimeout = 30 * time.Second

// CheckpointTopic receives a Checkpoint of every scope every
// Config.CheckpointEvery folded records (and after any record the
// consumer's clock shaped): the market the table value leaves out.
func CheckpointTopic(prefix string) goka.Stream {
	return goka.Stream(topics.RegimeCheckpoints.Name(prefix))
}

// Checkpoint is a whole regime state at one input offset: the table value
// (State, with Partition and Next) and the rolling market it leaves out.
// A rebuild takes the newest checkpoint of its scope and replays the
// input records from State.Next up to the table value's Next.
type Checkpoint struct {
	State  State  `json:"state"`
	Market Market `json:"market"`
}

// CheckpointCodec is the codec of the checkpoint topic.
type CheckpointCodec = topics.JSON[Checkpoint]

// fullState is the table value of the full-state design (Config.FullState,
// the benchmarks' baseline): the state with its market, as every record
// wrote it before the checkpoints.
type fullState struct {
	State
	Market Market `json:"market"`
}

// fullStateCodec encodes State with its market (Config.FullState).
type fullStateCodec struct{}

func (fullStateCodec) Encode(v any) ([]byte, error) {
	st, ok := v.(*State)
	if !ok || st == nil {
		return nil, fmt.Errorf("full state codec: %T is not a *State", v)
	}
	return json.Marshal(fullState{State: *st, Market: st.Market})
}

func (fullStateCodec) Decode(b []byte) (any, error) {
	var f fullState
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("decoding full regime state: %w", err)
	}
	st := f.State
	st.Market = f.Market
	return &st, nil
}

// memory holds the rolling market of every scope this instance folds,
// per input partition. goka runs partitions in parallel; one partition's
// callbacks run one at a time, so an entry is only touched by its own
// partition's goroutine once found.
type memory struct {
	mu    sync.Mutex
	parts map[int32]map[string]*State
}

// take removes and returns the remembered state of key: the caller folds
// into its market in place and puts it back once the table value is
// written, so a callback that fails half way leaves nothing behind that
// could pass for the table value.
func (m *memory) take(part int32, key string) *State {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.parts[part][key]
	delete(m.parts[part], key)
	return st
}

// peek returns the remembered state of key (tests, between records).
func (m *memory) peek(part int32, key string) *State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.parts[part][key]
}

func (m *memory) put(part int32, key string, st *State) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.parts == nil {
		m.parts = map[int32]map[string]*State{}
	}
	if m.parts[part] == nil {
		m.parts[part] = map[string]*State{}
	}
	m.parts[part][key] = st
}

// matches reports whether the remembered state mem is the table value st:
// the same last record folded, as many records. The table is the truth:
// after a rebalance another instance may have folded records since.
func matches(mem, st *State) bool {
	return mem != nil && st.Next > 0 && mem.Next == st.Next && mem.Partition == st.Partition &&
		mem.Records == st.Records && mem.AtMs == st.AtMs
}

// rebuild restores the market of the table value st (scope key, input
// partition part) from the newest checkpoint and the input records since:
// the market an uninterrupted run would hold, bit for bit, or an error.
// A checkpoint newer than st (its table write was lost in a crash, the
// checkpoint's was not) replaces st whole.
func (r *regime) rebuild(part int32, key string, st State) (State, error) {
	if len(r.cfg.Brokers) == 0 {
		return st, errors.New("no brokers to read the checkpoints from")
	}
	ctx, cancel := context.WithTimeout(context.Background(), rebuildTimeout)
	defer cancel()
	in := string(InputTopic(r.cfg.Prefix))
	inStart, inEnd, err := r.bounds(ctx, in, part)
	if err != nil {
		return st, err
	}
	ck, err := r.readCheckpoint(ctx, part, key)
	if err != nil {
		return st, err
	}
	if ck.State.Next > inEnd {
		// Not a checkpoint of records the processor folded: taken as
		// newer than the table value, it would skip every input record
		// below its Next (a far-future offset stops the regime for good).
		return st, fmt.Errorf("checkpoint at input offset %d, past the end of %s/%d (%d)", ck.State.Next, in, part, inEnd)
	}
	if ck.State.Next >= st.Next && ck.State.Records >= st.Records {
		full := ck.State
		full.Market = ck.Market
		return full, nil
	}
	if ck.State.Records > st.Records {
		return st, fmt.Errorf("checkpoint at offset %d has %d records, the table value at %d has %d", ck.State.Next, ck.State.Records, st.Next, st.Records)
	}
	market, err := r.replay(ctx, part, key, ck, st, inStart)
	if err != nil {
		return st, err
	}
	st.Market = market
	return st, nil
}

// readCheckpoint returns the newest valid checkpoint of key in partition
// part of the checkpoint topic.
func (r *regime) readCheckpoint(ctx context.Context, part int32, key string) (*Checkpoint, error) {
	topic := string(CheckpointTopic(r.cfg.Prefix))
	start, end, err := r.bounds(ctx, topic, part)
	if err != nil {
		return nil, err
	}
	var found *Checkpoint
	keep := func(rec *kgo.Record) {
		if string(rec.Key) != key {
			return
		}
		ck, err := r.decodeCheckpoint(rec.Value, part, key)
		if err != nil {
			r.cfg.Log.Warn("ignoring a regime checkpoint", "scope", key, "partition", part, "offset", rec.Offset, "err", err)
			return
		}
		found = ck
	}
	from := max(start, end-checkpointScan)
	if err := r.scan(ctx, topic, part, from, end, keep); err != nil {
		return nil, err
	}
	if found == nil && from > start {
		if err := r.scan(ctx, topic, part, start, from, keep); err != nil {
			return nil, err
		}
	}
	if found == nil {
		return nil, fmt.Errorf("no checkpoint of %s in %s/%d", key, topic, part)
	}
	return found, nil
}

// decodeCheckpoint decodes and checks a checkpoint record: the topic is
// writable like any other, and a checkpoint sets the market the score is
// computed from. Anything off makes the rebuild fail (fail closed).
func (r *regime) decodeCheckpoint(raw []byte, part int32, key string) (*Checkpoint, error) {
	if len(raw) > MaxCheckpointBytes {
		return nil, fmt.Errorf("checkpoint of %d bytes (at most %d)", len(raw), MaxCheckpointBytes)
	}
	var ck Checkpoint
	if err := json.Unmarshal(raw, &ck); err != nil {
		return nil, fmt.Errorf("decoding checkpoint: %w", err)
	}
	st, m := &ck.State, &ck.Market
	switch {
	case st.Scope != key:
		return nil, fmt.Errorf("checkpoint scope %q under key %q", topics.Bound(st.Scope, 64), topics.Bound(key, 64))
	case st.Partition != part || st.Next <= 0 || st.Records <= 0:
		return nil, fmt.Errorf("checkpoint of partition %d at %d (%d records) read from partition %d", st.Partition, st.Next, st.Records, part)
	case st.AtMs != m.AtMs:
		return nil, fmt.Errorf("checkpoint state at %d, market at %d", st.AtMs, m.AtMs)
	case !(st.Score >= 0 && st.Score <= 100):
		return nil, fmt.Errorf("checkpoint score %v", st.Score)
	case len(m.Symbols) > r.cfg.Score.MaxSymbols:
		return nil, fmt.Errorf("checkpoint of %d symbols (at most %d)", len(m.Symbols), r.cfg.Score.MaxSymbols)
	case !finite(m.VarFast, m.VarSlow) || m.VarN < 0:
		return nil, errors.New("checkpoint variance is not finite")
	}
	if err := topics.CheckEventTime(st.AtMs, r.cfg.Now(), r.cfg.MaxAhead); err != nil && st.AtMs != 0 {
		return nil, fmt.Errorf("checkpoint time: %w", err)
	}
	for sym, s := range m.Symbols {
		if s == nil || validate.Symbol(sym) != nil || !(s.Last > 0) || !finite(s.Last, s.Avg) || s.Avg < 0 || s.LastMs > m.AtMs {
			return nil, fmt.Errorf("checkpoint series %q is not valid", topics.Bound(sym, 64))
		}
		for _, smp := range s.S {
			if !finite(smp[0], smp[1]) || !(smp[1] > 0) {
				return nil, fmt.Errorf("checkpoint sample of %q is not valid", topics.Bound(sym, 64))
			}
		}
	}
	return &ck, nil
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// replay folds the input records of key from the checkpoint's Next up to
// the table value's Next into the checkpoint's market, exactly as process
// folded them: the same decode, the same late-record rule. No record in
// this range was shaped by the consumer's clock (process checkpoints
// after any such record), so the clock plays no part here. start is the
// input partition's start offset.
func (r *regime) replay(ctx context.Context, part int32, key string, ck *Checkpoint, st State, start int64) (Market, error) {
	market := ck.Market
	if market.Symbols == nil {
		market.Symbols = map[string]*Series{}
	}
	from, to := ck.State.Next, st.Next // [from, to)
	topic := string(InputTopic(r.cfg.Prefix))
	if start > from {
		return market, fmt.Errorf("input records from %d are gone (%s/%d starts at %d)", from, topic, part, start)
	}
	folded, next := int64(0), from
	var gap error
	err := r.scan(ctx, topic, part, from, to, func(rec *kgo.Record) {
		if rec.Offset != next {
			// A gap would be records the processor saw and this replay
			// does not: not the same market.
			gap = errors.Join(gap, fmt.Errorf("input offset %d where %d was expected", rec.Offset, next))
		}
		next = rec.Offset + 1
		if string(rec.Key) != key {
			return
		}
		at, ticks, derr := DecodeTicks(rec.Value)
		if derr != nil || len(ticks) == 0 || at < market.AtMs {
			return // quarantined or late when it was processed
		}
		r.cfg.Score.Update(&market, at, ticks)
		folded++
	})
	switch {
	case err != nil || gap != nil:
		return market, errors.Join(err, gap)
	case next != to:
		return market, fmt.Errorf("replay of %s/%d ended at %d, want %d", topic, part, next, to)
	case folded != st.Records-ck.State.Records:
		return market, fmt.Errorf("replay folded %d records, the table value has %d since the checkpoint", folded, st.Records-ck.State.Records)
	case market.AtMs != st.AtMs:
		return market, fmt.Errorf("replayed market at %d, the table value at %d", market.AtMs, st.AtMs)
	}
	return market, nil
}

// bounds returns the start and end offsets of topic/part.
func (r *regime) bounds(ctx context.Context, topic string, part int32) (start, end int64, err error) {
	adm, err := kclient.ForBrokers(r.cfg.Brokers...).Admin(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("creating rebuild client: %w", err)
	}
	defer adm.Close()
	t, err := kclient.TailOffsets(ctx, adm, topic, 0)
	if err != nil {
		return 0, 0, err
	}
	e, ok := t.End[part]
	if !ok {
		return 0, 0, fmt.Errorf("offsets of %s/%d: partition not listed", topic, part)
	}
	return t.From[part], e, nil
}

// scan calls f for every record of topic/part in [from, to), in order.
func (r *regime) scan(ctx context.Context, topic string, part int32, from, to int64, f func(*kgo.Record)) error {
	if from >= to {
		return nil
	}
	cl, err := kclient.ForBrokers(r.cfg.Brokers...).Client(
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {part: kgo.NewOffset().At(from)}}),
		kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		return fmt.Errorf("creating rebuild client: %w", err)
	}
	defer cl.Close()
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s/%d [%d, %d): %w", topic, part, from, to, err)
		}
		var ferr error
		fs.EachError(func(_ string, _ int32, err error) { ferr = errors.Join(ferr, err) })
		if ferr != nil {
			return fmt.Errorf("reading %s/%d: %w", topic, part, ferr)
		}
		done := false
		fs.EachRecord(func(rec *kgo.Record) {
			if done || rec.Offset >= to {
				done = true
				return
			}
			f(rec)
			done = rec.Offset+1 >= to
		})
		if done {
			return nil
		}
	}
}
