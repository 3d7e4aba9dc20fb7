package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

func produceJobs(t *testing.T, addr string, jobs []topics.Job, keyOf func(topics.Job) string) {
	t.Helper()
	cl, err := kgo.NewClient(kclient.ProducerOpts([]string{addr}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for _, j := range jobs {
		v, _ := json.Marshal(j)
		recs = append(recs, &kgo.Record{Topic: topics.Cronjobs.Name(prefix), Key: []byte(keyOf(j)), Value: v})
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

type member struct {
	w    *Worker
	stop func()
}

func startWorker(t *testing.T, addr, id string, h Handler) *member {
	t.Helper()
	w, err := New(Config{Kafka: kclient.ForBrokers(addr), Queue: topics.Cronjobs, Handler: h, ClientID: id,
		Backoff: backoff.Policy{Base: 10 * time.Millisecond, Cap: 40 * time.Millisecond}}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	m := &member{w: w, stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker %s: %v", id, err)
			}
		})
	}}
	t.Cleanup(m.stop)
	return m
}

func TestAFailingJobIsRetriedThenParkedWithoutBlockingItsPartition(t *testing.T) {
	b := testkit.Broker(t, prefix)
	var attempts atomic.Int64
	var done sync.Map
	h := Jobs(map[string]JobHandler{
		"flaky": func(ctx context.Context, j topics.Job) error {
			attempts.Add(1)
			return errors.New("exchange said no")
		},
		"ok": func(ctx context.Context, j topics.Job) error { done.Store(j.ID, true); return nil },
	})
	// All on one key: one partition, in order.
	jobs := []topics.Job{{ID: "1", Type: "ok"}, {ID: "2", Type: "flaky"}, {ID: "3", Type: "ok"}, {ID: "4", Type: "unknown"}, {ID: "5", Type: "ok"}}
	produceJobs(t, b.Addr(), jobs, func(topics.Job) string { return "same" })
	m := startWorker(t, b.Addr(), "w1", h)
	testkit.Eventually(t, 15*time.Second, "the jobs after the failures", func() bool {
		_, ok := done.Load("5")
		return ok && m.w.Stats.Parked.Load() == 2
	})
	if n := attempts.Load(); n != 3 {
		t.Fatalf("flaky job attempted %d times, want 3", n)
	}
	r := testkit.NewReader(t, b.Addr(), topics.Quarantine.Name(prefix))
	testkit.Eventually(t, 10*time.Second, "two parked records", func() bool { return len(r.Poll(t)) == 2 })
	var q topics.QuarantineRecord
	if err := json.Unmarshal(r.Poll(t)[0].Value, &q); err != nil {
		t.Fatal(err)
	}
	if q.Error != "exchange said no" || q.SourceTopic != topics.Cronjobs.Name(prefix) || q.Consumer == "" {
		t.Fatalf("parked record %+v", q)
	}
}

func TestScalingFromOneToThreeMembersLosesAndDoublesNoJob(t *testing.T) {
	b := testkit.Broker(t, prefix)
	var (
		mu    sync.Mutex
		count = map[string]int{}
		by    = map[string]map[string]bool{}
		// order checks that each account's jobs ran in the order produced
		// (the lanes' promise), across the rebalances too.
		lastOf = map[string]int{}
	)
	var misordered atomic.Int64
	handler := func(id string) Handler {
		return Jobs(map[string]JobHandler{"work": func(ctx context.Context, j topics.Job) error {
			time.Sleep(500 * time.Microsecond) // a little real work
			var seq int
			fmt.Sscanf(j.ID, "job-%d", &seq)
			mu.Lock()
			count[j.ID]++
			if seq < lastOf[j.Account] && count[j.ID] == 1 {
				misordered.Add(1)
			}
			lastOf[j.Account] = max(lastOf[j.Account], seq)
			if by[id] == nil {
				by[id] = map[string]bool{}
			}
			by[id][j.ID] = true
			mu.Unlock()
			return nil
		}})
	}
	// Jobs keep coming, 40 accounts round robin, until the new members
	// have taken partitions and work (lanes finish a batch long before a
	// member joins).
	var produced atomic.Int64
	produce := func(k int) {
		var jobs []topics.Job
		for range k {
			i := int(produced.Add(1)) - 1
			jobs = append(jobs, topics.Job{ID: fmt.Sprintf("job-%05d", i), Type: "work", Account: fmt.Sprintf("acct-%d", i%40)})
		}
		produceJobs(t, b.Addr(), jobs, func(j topics.Job) string { return j.Account })
	}
	produce(1000)
	processed := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(count)
	}
	a := startWorker(t, b.Addr(), "a", handler("a"))
	testkit.Eventually(t, 20*time.Second, "the first member to make progress", func() bool { return processed() > 200 })
	startWorker(t, b.Addr(), "b", handler("b"))
	startWorker(t, b.Addr(), "c", handler("c"))
	joined := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(by["b"]) > 0 && len(by["c"]) > 0
	}
	testkit.Eventually(t, 30*time.Second, "the new members to take partitions", func() bool {
		if !joined() {
			produce(50)
			time.Sleep(50 * time.Millisecond)
		}
		return joined()
	})
	produce(1000)
	a.stop() // a member leaves mid-run
	produce(1000)
	n := int(produced.Load())
	testkit.Eventually(t, 60*time.Second, "every job", func() bool { return processed() == n })
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for id, c := range count {
		if c != 1 {
			t.Fatalf("job %s handled %d times", id, c)
		}
	}
	if m := misordered.Load(); m != 0 {
		t.Fatalf("%d jobs ran before an earlier job of their account", m)
	}
	t.Logf("%d jobs handled by a=%d b=%d c=%d", n, len(by["a"]), len(by["b"]), len(by["c"]))
}

// A dependency outage (a transient error) keeps a job retrying for RetryFor
// instead of parking it after MaxAttempts; a permanent error is parked at
// once, never retried.
func TestATransientFailureIsRetriedForRetryForAndAPermanentOneIsNot(t *testing.T) {
	b := testkit.Broker(t, prefix)
	outageUntil := time.Now().Add(1500 * time.Millisecond)
	var outageAttempts, badAttempts atomic.Int64
	var done sync.Map
	h := Jobs(map[string]JobHandler{
		"needs-db": func(ctx context.Context, j topics.Job) error {
			outageAttempts.Add(1)
			if time.Now().Before(outageUntil) {
				return errors.New("invalid connection")
			}
			done.Store(j.ID, true)
			return nil
		},
		"bad": func(ctx context.Context, j topics.Job) error {
			badAttempts.Add(1)
			return fmt.Errorf("no symbol: %w", ErrPermanent)
		},
	})
	produceJobs(t, b.Addr(), []topics.Job{{ID: "1", Type: "needs-db"}, {ID: "2", Type: "bad"}},
		func(topics.Job) string { return "same" })
	w, err := New(Config{Kafka: kclient.ForBrokers(b.Addr()), Queue: topics.Cronjobs, Handler: h, MaxAttempts: 2, RetryFor: 10 * time.Second,
		Backoff: backoff.Policy{Base: 50 * time.Millisecond, Cap: 200 * time.Millisecond}}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- w.Run(ctx) }()
	defer func() { cancel(); <-stopped }()
	testkit.Eventually(t, 30*time.Second, "the job after the outage done and the bad one parked", func() bool {
		_, ok := done.Load("1")
		return ok && w.Stats.Parked.Load() == 1
	})
	if n := outageAttempts.Load(); n <= 2 {
		t.Fatalf("the job was attempted %d times during a 1.5 s outage: parked instead of waiting it out?", n)
	}
	if n := badAttempts.Load(); n != 1 {
		t.Fatalf("the permanent failure was attempted %d times, want 1 (no retry)", n)
	}
}
