package worker

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// runState is one Run's bookkeeping: the partitions' records in flight and
// the lanes that work them. Every field is guarded by mu except the
// semaphore and the wait group.
type runState struct {
	w  *Worker
	cl *kgo.Client
	// hctx is what the partitions' contexts derive from: it outlives
	// Run's ctx by the drain at shutdown (stopHandlers ends it).
	hctx         context.Context
	stopHandlers context.CancelFunc

	mu       sync.Mutex
	cond     *sync.Cond // signalled when an item ends or a call returns
	parts    map[int32]*partState
	byKey    map[laneKey]*lane
	inFlight int

	slots chan struct{} // Concurrency handler calls at once
	lanes sync.WaitGroup
}

// partState is one assigned partition: its records taken and not yet
// marked, in offset order.
type partState struct {
	pending []*item
	last    int64 // highest offset taken
	running int   // lanes inside handle for one of its records
	// draining: the partition is leaving (revoked, or the worker stops);
	// records up to drainTo (the last one started) are still finished so
	// the commit covers every record that was done, later ones are left
	// to the next owner.
	draining bool
	drainTo  int64
	gone     bool // take nothing more, retry nothing
	lost     bool // lost: do not even mark
	ctx      context.Context
	cancel   context.CancelFunc
}

// drained reports that every record up to drainTo is done and marked.
func (ps *partState) drained() bool {
	return len(ps.pending) == 0 || ps.pending[0].rec.Offset > ps.drainTo
}

type item struct {
	rec     *kgo.Record
	part    *partState
	started bool
	done    bool
}

// laneKey is a record key within its partition: records of one key are
// one lane, handled in order.
type laneKey struct {
	partition int32
	key       string
}

type lane struct{ queue []*item }

func newRunState(ctx context.Context, w *Worker) *runState {
	rs := &runState{w: w, parts: map[int32]*partState{}, byKey: map[laneKey]*lane{},
		slots: make(chan struct{}, w.cfg.Concurrency)}
	rs.hctx, rs.stopHandlers = context.WithCancel(context.WithoutCancel(ctx))
	rs.cond = sync.NewCond(&rs.mu)
	return rs
}

// dispatch queues rec on its key's lane, starting the lane if idle.
func (rs *runState) dispatch(rec *kgo.Record) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	ps := rs.parts[rec.Partition]
	if ps == nil {
		ps = &partState{last: -1}
		ps.ctx, ps.cancel = context.WithCancel(rs.hctx)
		rs.parts[rec.Partition] = ps
	}
	if rec.Offset <= ps.last {
		return // taken already (a fetch repeated after an error)
	}
	ps.last = rec.Offset
	it := &item{rec: rec, part: ps}
	ps.pending = append(ps.pending, it)
	rs.inFlight++
	rs.w.Stats.InFlight.Add(1)
	k := laneKey{rec.Partition, string(rec.Key)}
	ln := rs.byKey[k]
	if ln == nil {
		ln = &lane{}
		rs.byKey[k] = ln
		rs.lanes.Add(1)
		go rs.run(k, ln)
	}
	ln.queue = append(ln.queue, it)
}

// run works one lane until its queue is empty.
func (rs *runState) run(k laneKey, ln *lane) {
	defer rs.lanes.Done()
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for len(ln.queue) > 0 {
		it := ln.queue[0]
		ln.queue[0] = nil
		ln.queue = ln.queue[1:]
		ps := it.part
		if ps.gone || (ps.draining && it.rec.Offset > ps.drainTo) {
			rs.ended(it) // left uncommitted: redelivered to the next owner
			continue
		}
		ps.running++
		it.started = true
		rs.mu.Unlock()
		ok := rs.w.handle(ps.ctx, rs, it.rec)
		rs.mu.Lock()
		ps.running--
		if ok {
			it.done = true
			rs.advance(ps)
			rs.w.Stats.LastDoneMs.Store(time.Now().UnixMilli())
		}
		rs.ended(it)
	}
	delete(rs.byKey, k)
}

// ended counts it out of flight. Caller holds mu.
func (rs *runState) ended(*item) {
	rs.inFlight--
	rs.w.Stats.InFlight.Add(-1)
	rs.cond.Broadcast()
}

// advance marks the end of the partition's run of done records for
// commit. Caller holds mu.
func (rs *runState) advance(ps *partState) {
	var last *kgo.Record
	for len(ps.pending) > 0 && ps.pending[0].done {
		last = ps.pending[0].rec
		ps.pending[0] = nil
		ps.pending = ps.pending[1:]
	}
	if last != nil && !ps.lost {
		rs.cl.MarkCommitRecords(last)
	}
}

// release settles partitions that are revoked (lost false) or lost, and
// returns when the caller may commit. A lost partition is given up at once:
// its lanes take none of its records any more and stop retrying, and
// release waits only for the handler calls running. A revoked one is
// drained first, for at most DrainTimeout: records up to the last one
// started are finished and marked, so records that lanes of other keys
// finished ahead of a slower one are covered by the commit and not done
// again by the next owner. Past DrainTimeout (a job retrying through an
// outage) it is given up like a lost one; the next owner then repeats the
// records done beyond the commit (handlers are idempotent). Giving up
// cancels the partition's context: retry waits and handler calls end.
func (rs *runState) release(partitions []int32, lost bool) {
	rs.mu.Lock()
	var leaving []*partState
	for _, p := range partitions {
		if ps := rs.parts[p]; ps != nil {
			delete(rs.parts, p)
			leaving = append(leaving, ps)
		}
	}
	rs.mu.Unlock()
	rs.settle(leaving, lost)
}

// releaseAll settles every partition (the worker stops).
func (rs *runState) releaseAll() {
	rs.mu.Lock()
	var leaving []*partState
	for p, ps := range rs.parts {
		delete(rs.parts, p)
		leaving = append(leaving, ps)
	}
	rs.mu.Unlock()
	rs.settle(leaving, false)
}

func (rs *runState) settle(leaving []*partState, lost bool) {
	giveUp := func() {
		for _, ps := range leaving {
			ps.gone = true
			ps.lost = ps.lost || lost
			ps.cancel()
		}
		rs.cond.Broadcast()
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if lost {
		giveUp()
	} else {
		for _, ps := range leaving {
			ps.draining, ps.drainTo = true, -1
			for _, it := range ps.pending {
				if it.started {
					ps.drainTo = max(ps.drainTo, it.rec.Offset)
				}
			}
		}
		timer := time.AfterFunc(rs.w.cfg.DrainTimeout, func() {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			giveUp()
		})
		defer timer.Stop()
	}
	for _, ps := range leaving {
		for ps.running > 0 || !(ps.gone || ps.drained()) {
			rs.cond.Wait()
		}
	}
	giveUp() // what was left beyond drainTo is dropped by its lane
}

// waitForRoom blocks while MaxInFlight records are in flight.
func (rs *runState) waitForRoom(ctx context.Context) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for rs.inFlight >= rs.w.cfg.MaxInFlight && ctx.Err() == nil {
		rs.cond.Wait()
	}
}

// room is how many records the next poll may take (at most 500).
func (rs *runState) room() int {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return max(1, min(500, rs.w.cfg.MaxInFlight-rs.inFlight))
}

// wake wakes every waiter (ctx ended).
func (rs *runState) wake() {
	rs.mu.Lock()
	rs.cond.Broadcast()
	rs.mu.Unlock()
}

// acquire takes a handler slot; false when ctx ended first.
func (rs *runState) acquire(ctx context.Context) bool {
	select {
	case rs.slots <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (rs *runState) releaseSlot() { <-rs.slots }
