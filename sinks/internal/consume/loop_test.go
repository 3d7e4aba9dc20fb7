package consume

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// startLoop runs a loop on topic with handle; the loop is stopped when the
// test ends.
func startLoop(t *testing.T, env *sinktest.Env, cfg Config, handle Handler) (*Loop, *sinktest.Runner) {
	t.Helper()
	cfg.Kafka = env.Kafka()
	l, err := New(cfg, sinktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return l, sinktest.Run(t, func(ctx context.Context) error { return l.Run(ctx, handle) })
}

func rec(topic, key string, i int) *kgo.Record {
	return &kgo.Record{Topic: topic, Key: []byte(key), Value: fmt.Appendf(nil, "%d", i)}
}

// A record that finds the loop idle is handed over at once: its batch
// waited in no linger, though the linger is long (counted, not timed).
// Records that queue while a batch is written make the loop linger and
// come as one batch.
func TestLingerOnlyWhenRecordsAreWaiting(t *testing.T) {
	env := sinktest.Start(t)
	topic := topics.Orders.Name(env.Prefix)
	var (
		mu      sync.Mutex
		batches [][]*kgo.Record
		hold    = make(chan struct{})
		holding = false
	)
	got := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, b := range batches {
			n += len(b)
		}
		return n
	}
	l, _ := startLoop(t, env, Config{Topic: topic, Group: "linger", Linger: 500 * time.Millisecond},
		func(_ context.Context, recs []*kgo.Record) error {
			mu.Lock()
			batches = append(batches, recs)
			h := holding
			mu.Unlock()
			if h {
				<-hold
			}
			return nil
		})

	for i := range 5 { // idle: one record at a time, each waited for
		// Produce only once the loop is back in its blocking poll (each
		// idle round is a buffered poll then a blocking one): a record
		// produced while the loop was still finishing the last batch is
		// already waiting when it polls, and rightly makes it linger.
		testkit.Eventually(t, 20*time.Second, "the loop idle in its poll", func() error {
			if p := l.Stats().Polls; p < int64(2*(i+1)) {
				return fmt.Errorf("%d polls, the loop is not idle in its poll yet", p)
			}
			return nil
		})
		time.Sleep(20 * time.Millisecond)
		env.Produce(t, rec(topic, "a", i))
		testkit.Eventually(t, 20*time.Second, "the records handled", func() error {
			if n := got(); n != i+1 {
				return fmt.Errorf("%d records handled, want %d", n, i+1)
			}
			return nil
		})
	}
	st := l.Stats()
	if st.Batches != 5 || st.Lingers != 0 {
		t.Fatalf("5 records that found the loop idle: %d batches, %d lingers; want 5 batches, no linger", st.Batches, st.Lingers)
	}

	// Busy: hold the next batch while 200 more records queue behind it.
	mu.Lock()
	holding = true
	mu.Unlock()
	env.Produce(t, rec(topic, "a", 5))
	testkit.Eventually(t, 20*time.Second, "the held batch", func() error {
		if got() != 6 {
			return fmt.Errorf("the held batch did not arrive")
		}
		return nil
	})
	mu.Lock()
	holding = false
	mu.Unlock()
	for i := range 200 {
		env.Produce(t, rec(topic, "a", 6+i))
	}
	time.Sleep(300 * time.Millisecond) // let the client buffer them (no timing is asserted)
	close(hold)
	testkit.Eventually(t, 20*time.Second, "the records handled", func() error {
		if n := got(); n != 206 {
			return fmt.Errorf("%d records handled, want 206", n)
		}
		return nil
	})
	st = l.Stats()
	t.Logf("after the busy spell: %+v", st)
	if st.Lingers < 1 {
		t.Errorf("records waited behind a batch and the loop did not linger: %+v", st)
	}
	if st.Batches-6 > 20 {
		t.Errorf("200 queued records came in %d batches; the linger should gather them", st.Batches-6)
	}
	if st.Commits < 1 {
		t.Errorf("no asynchronous commit: %+v", st)
	}
}

// With SyncCycle the loop never lingers and commits each batch
// synchronously: the previous cycle, kept as the baseline.
func TestSyncCycleIsThePreviousCycle(t *testing.T) {
	env := sinktest.Start(t)
	topic := topics.Orders.Name(env.Prefix)
	var n sync.WaitGroup
	n.Add(50)
	var afterCommit sync.WaitGroup
	l, _ := startLoop(t, env, Config{Topic: topic, Group: "sync", SyncCycle: true},
		func(_ context.Context, recs []*kgo.Record) error {
			for range recs {
				n.Done()
			}
			return nil
		})
	afterCommit.Add(1)
	var once sync.Once
	l.AfterCommit = func(context.Context, []*kgo.Record) { once.Do(afterCommit.Done) }
	for i := range 50 {
		env.Produce(t, rec(topic, "a", i))
	}
	n.Wait()
	afterCommit.Wait()
	env.WaitCommitted(t, "sync", topic, 20*time.Second)
	if st := l.Stats(); st.Lingers != 0 || st.Commits != 0 {
		t.Errorf("the sync cycle lingered or committed asynchronously: %+v", st)
	}
}

// The asynchronous committer never sends an offset past what the handler
// returned from (the database commit) and never one behind a previous
// commit; refused commits are retried or superseded until everything
// written is committed.
func TestAsyncCommitNeverAheadOfTheWrite(t *testing.T) {
	env := sinktest.Start(t)
	topic := topics.Orders.Name(env.Prefix)
	var (
		mu      sync.Mutex
		written = map[int32]int64{} // partition -> next offset after the last written record
		sent    = map[int32]int64{}
		bad     []string
	)
	l, r := startLoop(t, env, Config{Topic: topic, Group: "ahead", MaxBatch: 7},
		func(_ context.Context, recs []*kgo.Record) error {
			time.Sleep(time.Millisecond) // the write
			mu.Lock()
			defer mu.Unlock()
			for _, r := range recs {
				written[r.Partition] = max(written[r.Partition], r.Offset+1)
			}
			return nil
		})
	failed := 0
	l.commit.testBeforeCommit = func(due map[string]map[int32]kgo.EpochOffset) error {
		mu.Lock()
		defer mu.Unlock()
		for p, eo := range due[topic] {
			if eo.Offset > written[p] {
				bad = append(bad, fmt.Sprintf("partition %d: commit %d ahead of the write %d", p, eo.Offset, written[p]))
			}
			if eo.Offset < sent[p] {
				bad = append(bad, fmt.Sprintf("partition %d: commit %d behind the last sent %d", p, eo.Offset, sent[p]))
			}
			sent[p] = eo.Offset
		}
		if failed < 3 { // the broker refuses the first three commits
			failed++
			return errors.New("refused (test)")
		}
		return nil
	}
	var recs []*kgo.Record
	for i := range 400 {
		recs = append(recs, rec(topic, fmt.Sprintf("acc-%d", i%13), i))
	}
	for i := 0; i < len(recs); i += 40 {
		env.Produce(t, recs[i:i+40]...)
	}
	env.WaitCommitted(t, "ahead", topic, 30*time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Error(b)
	}
	if st := l.Stats(); st.Commits == 0 || st.CommitFailures != 3 {
		t.Errorf("stats %+v, want commits after the 3 refused", st)
	}
}

// Stopping commits what was written with a final synchronous commit, even
// when every asynchronous commit before it failed.
func TestStopCommitsWhatWasWritten(t *testing.T) {
	env := sinktest.Start(t)
	topic := topics.Orders.Name(env.Prefix)
	var handled sync.WaitGroup
	handled.Add(100)
	l, r := startLoop(t, env, Config{Topic: topic, Group: "stop", MaxBatch: 9, CommitRetry: time.Hour},
		func(_ context.Context, recs []*kgo.Record) error {
			for range recs {
				handled.Done()
			}
			return nil
		})
	var refuse sync.Mutex // held: commits are refused
	refuse.Lock()
	l.commit.testBeforeCommit = func(map[string]map[int32]kgo.EpochOffset) error {
		if !refuse.TryLock() {
			return errors.New("refused (test)")
		}
		refuse.Unlock()
		return nil
	}
	for i := range 100 {
		env.Produce(t, rec(topic, fmt.Sprintf("acc-%d", i%7), i))
	}
	handled.Wait()
	if st := l.Stats(); st.Commits != 0 || st.CommitFailures == 0 {
		t.Fatalf("stats before the stop %+v, want only refused commits", st)
	}
	refuse.Unlock()
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	env.WaitCommitted(t, "stop", topic, 5*time.Second)
}
