package orders

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// streamRecords is the history as the orders topic carries it (keyed by
// account, in exchange order), every 7th event sent twice.
func streamRecords(t *testing.T, env *sinktest.Env, tr truth) []*kgo.Record {
	topic := topics.Orders.Name(env.Prefix)
	var recs []*kgo.Record
	for i, e := range tr.events {
		for range 1 + min(1, i%7/6) {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Account), Value: sinktest.JSON(t, e)})
		}
	}
	return recs
}

// checkPositions reads the positions topic and checks that it holds every
// transition once (none lost, none doubled), each account's on one
// partition, and each order's in the order they happened.
func checkPositions(t *testing.T, env *sinktest.Env, tr truth) {
	t.Helper()
	pos := env.Consume(t, topics.Positions.Name(env.Prefix), tr.transitions+1, 10*time.Second)
	type tkey struct {
		k  orderstatus.Key
		v  Version
		to string
	}
	seen := map[tkey]bool{}
	last := map[orderstatus.Key]Version{}
	part := map[string]int32{}
	for _, r := range pos {
		var pe topics.PositionEvent
		if err := json.Unmarshal(r.Value, &pe); err != nil || pe.Order == nil {
			t.Fatalf("observer record %s: %v", r.Value, err)
		}
		k, v := orderstatus.KeyOf(pe.Order), VersionOf(pe.Order)
		if tk := (tkey{k, v, pe.To}); seen[tk] {
			t.Errorf("transition %+v to %s published twice", k, pe.To)
		} else {
			seen[tk] = true
		}
		if prev, ok := last[k]; ok && !v.Newer(prev) {
			t.Errorf("order %+v: transition at %+v published after %+v", k, v, prev)
		}
		last[k] = v
		if p, ok := part[pe.Account]; ok && p != r.Partition {
			t.Errorf("account %s on partitions %d and %d", pe.Account, p, r.Partition)
		}
		part[pe.Account] = r.Partition
	}
	if len(pos) != tr.transitions {
		t.Errorf("positions has %d transitions, want exactly %d", len(pos), tr.transitions)
	}
}

// While two members write a stream that keeps arriving, their publishers
// (off the write loop) publish every transition once and in order, and
// batches keep their outbox rows behind the publisher's claim.
func TestOutboxPublishedOnceAndInOrderWhileWriting(t *testing.T) {
	tr := history(21, 12, 25)
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			env := sinktest.Start(t)
			d := f.New(t)
			a, b := newSink(t, env, d, "orders"), newSink(t, env, d, "orders")
			ra, rb := sinktest.Run(t, a.Run), sinktest.Run(t, b.Run)
			recs := streamRecords(t, env, tr)
			for i := 0; i < len(recs); i += 25 {
				env.Produce(t, recs[i:min(i+25, len(recs))]...)
				time.Sleep(2 * time.Millisecond)
			}
			env.WaitCommitted(t, "orders", topics.Orders.Name(env.Prefix), 60*time.Second)
			for _, r := range []*sinktest.Runner{ra, rb} {
				if err := r.Stop(); err != nil {
					t.Fatal(err)
				}
			}
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatal(err)
			}
			if n := outboxTransitions(t, d); n != tr.transitions {
				t.Errorf("outbox has %d transitions, want %d", n, tr.transitions)
			}
			if n := dbtest.Count(t, d, "FROM order_outbox WHERE published_at IS NULL"); n != 0 {
				t.Errorf("%d outbox rows left unpublished after the stop", n)
			}
			checkPositions(t, env, tr)
			if a.loop.Stats().Batches+b.loop.Stats().Batches == 0 {
				t.Error("no batch written")
			}
		})
	}
}

// Killed mid-stream (after a database commit, with asynchronous offset
// commits and publishing in flight) and restarted three times while the
// stream goes on, the sink ends with the ground truth, every transition in
// the outbox and on the positions topic exactly once.
func TestKilledMidStreamLosesNothingDoublesNothing(t *testing.T) {
	tr := history(22, 10, 25)
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			env := sinktest.Start(t)
			d := f.New(t)
			recs := streamRecords(t, env, tr)
			chunk := (len(recs) + 3) / 4
			for round := range 4 {
				env.Produce(t, recs[round*chunk:min((round+1)*chunk, len(recs))]...)
				s := newSink(t, env, d, "orders")
				if round == 3 {
					runUntilCommitted(t, env, s, "orders")
					break
				}
				batches := 0
				s.loop.SetTestCrashAfterWrite(func() bool { batches++; return batches == 2+round })
				r := sinktest.Run(t, s.Run)
				if err := r.Wait(30 * time.Second); !errors.Is(err, consume.ErrCrashed) {
					t.Fatalf("round %d: the sink did not crash: %v", round, err)
				}
				committedAtMost(t, env, d, round)
			}
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatal(err)
			}
			if n := outboxTransitions(t, d); n != tr.transitions {
				t.Errorf("outbox has %d transitions, want exactly %d", n, tr.transitions)
			}
			checkPositions(t, env, tr)
		})
	}
}

// committedAtMost checks, after a kill, that the group's committed offsets
// are not ahead of the database: every event before a committed offset has
// moved its row at least to that event's version.
func committedAtMost(t *testing.T, env *sinktest.Env, d *db.DB, round int) {
	t.Helper()
	topic := topics.Orders.Name(env.Prefix)
	committed := env.CommittedOffsets(t, "orders", topic)
	for _, r := range env.Consume(t, topic, 1<<30, 2*time.Second) {
		if r.Offset >= committed[r.Partition] {
			continue
		}
		e, err := Decode(r.Value)
		if err != nil {
			continue
		}
		k := orderstatus.KeyOf(e)
		table, idCol, _ := tableOf(k.Kind)
		var s State
		q := d.Rebind("SELECT status, event_time, transaction_time, status_rank FROM " + table + " WHERE exchange = ? AND account = ? AND " + idCol + " = ?")
		if err := d.QueryRow(q, k.Exchange, k.Account, k.ID).Scan(&s.Status, &s.Version.E, &s.Version.T, &s.Version.Rank); err != nil {
			t.Fatalf("round %d: offset %d/%d committed, its order %+v not stored: %v", round, r.Partition, r.Offset, k, err)
		}
		if VersionOf(e).Newer(s.Version) {
			t.Fatalf("round %d: offset %d/%d committed, its event %+v newer than the stored %+v", round, r.Partition, r.Offset, VersionOf(e), s.Version)
		}
	}
}
