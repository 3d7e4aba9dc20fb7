package worker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// startWith runs a worker with cfg (brokers, queue, handler and a fast
// backoff filled in) until the test ends; stop ends it early.
func startWith(t *testing.T, addr string, cfg Config) (*Worker, func()) {
	t.Helper()
	cfg.Kafka, cfg.Queue = kclient.ForBrokers(addr), topics.Cronjobs
	if cfg.Backoff.Base == 0 {
		cfg.Backoff = backoff.Policy{Base: 10 * time.Millisecond, Cap: 40 * time.Millisecond}
	}
	w, err := New(cfg, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("worker: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return w, stop
}

// One account's job retrying through an outage, and another's hanging in
// its handler, hold up only their own accounts: the other accounts' jobs
// (in the same partitions, behind them in offset order) finish at once, and
// each account's jobs still run in order.
func TestAStalledKeyHoldsUpOnlyItsOwnJobs(t *testing.T) {
	b := testkit.Broker(t, prefix)
	release := make(chan struct{})
	outageUntil := time.Now().Add(3 * time.Second)
	var (
		mu     sync.Mutex
		doneAt = map[string]time.Time{}
		order  = map[string][]string{}
	)
	h := Jobs(map[string]JobHandler{
		"work": func(ctx context.Context, j topics.Job) error {
			switch {
			case j.Account == "retrying" && time.Now().Before(outageUntil):
				return errors.New("exchange: http 503")
			case j.Account == "hanging":
				select {
				case <-release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			mu.Lock()
			doneAt[j.ID] = time.Now()
			order[j.Account] = append(order[j.Account], j.ID)
			mu.Unlock()
			return nil
		},
	})
	var jobs []topics.Job
	for i := range 5 {
		for _, a := range []string{"retrying", "hanging", "a1", "a2", "a3", "a4", "a5", "a6"} {
			jobs = append(jobs, topics.Job{ID: fmt.Sprintf("%s-%d", a, i), Type: "work", Account: a})
		}
	}
	start := time.Now()
	produceJobs(t, b.Addr(), jobs, func(j topics.Job) string { return j.Account })
	w, _ := startWith(t, b.Addr(), Config{Handler: h, MaxAttempts: 3, RetryFor: time.Minute})
	others := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for id := range doneAt {
			if id[0] == 'a' {
				n++
			}
		}
		return n
	}
	testkit.Eventually(t, 10*time.Second, "the other accounts' jobs", func() bool { return others() == 30 })
	if took := time.Since(start); took > 2500*time.Millisecond {
		t.Fatalf("the other accounts' jobs took %s, with one account retrying and one hanging", took)
	}
	mu.Lock()
	if len(order["retrying"])+len(order["hanging"]) != 0 {
		t.Fatalf("stalled accounts already done: %v %v", order["retrying"], order["hanging"])
	}
	mu.Unlock()
	close(release)
	testkit.Eventually(t, 15*time.Second, "every job", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(doneAt) == len(jobs)
	})
	mu.Lock()
	defer mu.Unlock()
	for a, ids := range order {
		for i, id := range ids {
			if want := fmt.Sprintf("%s-%d", a, i); id != want {
				t.Fatalf("account %s ran %v, out of order", a, ids)
			}
		}
	}
	testkit.Eventually(t, 5*time.Second, "nothing in flight", func() bool { return w.Stats.InFlight.Load() == 0 })
	if w.Stats.LastDoneMs.Load() < start.UnixMilli() {
		t.Fatalf("last done %d, before the start", w.Stats.LastDoneMs.Load())
	}
	if w.Stats.Parked.Load() != 0 || w.Stats.Retried.Load() == 0 {
		t.Fatalf("parked %d, retried %d", w.Stats.Parked.Load(), w.Stats.Retried.Load())
	}
}

// retryAfterErr asks for a wait, as a 429 with Retry-After does.
type retryAfterErr time.Duration

func (e retryAfterErr) Error() string             { return "rate limited" }
func (e retryAfterErr) RetryAfter() time.Duration { return time.Duration(e) }

func TestARetryWaitsAtLeastWhatTheErrorAsksFor(t *testing.T) {
	b := testkit.Broker(t, prefix)
	var mu sync.Mutex
	var at []time.Time
	h := Jobs(map[string]JobHandler{"limited": func(ctx context.Context, j topics.Job) error {
		mu.Lock()
		defer mu.Unlock()
		at = append(at, time.Now())
		if len(at) < 3 {
			return fmt.Errorf("placing: %w", retryAfterErr(400*time.Millisecond))
		}
		return nil
	}})
	produceJobs(t, b.Addr(), []topics.Job{{ID: "1", Type: "limited"}}, func(topics.Job) string { return "k" })
	w, _ := startWith(t, b.Addr(), Config{Handler: h, MaxAttempts: 5})
	testkit.Eventually(t, 10*time.Second, "the job", func() bool { return w.Stats.Handled.Load() == 1 })
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(at); i++ {
		if gap := at[i].Sub(at[i-1]); gap < 400*time.Millisecond {
			t.Fatalf("attempt %d came %s after the previous one; the error asked for 400ms", i+1, gap)
		}
	}
	// The cap: a ban of days does not put a job to sleep for days.
	w2, err := New(Config{Kafka: kclient.ForBrokers(b.Addr()), Queue: topics.Cronjobs, Handler: h, MaxRetryAfter: time.Second}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if d := w2.retryDelay(0, retryAfterErr(72*time.Hour)); d != time.Second {
		t.Fatalf("delay %s for a 72 h Retry-After, want the 1 s cap", d)
	}
}

// A worker that stops while one account's job is stuck commits nothing at
// or beyond that job: the next member handles it (never lost), while the
// jobs finished before it are not repeated.
func TestAJobStuckAtShutdownIsRedeliveredNotSkipped(t *testing.T) {
	b := testkit.Broker(t, prefix)
	var stuckCalls, firstRuns atomic.Int64
	var mu sync.Mutex
	count := map[string]int{}
	handler := func(stuck bool) Handler {
		return Jobs(map[string]JobHandler{"work": func(ctx context.Context, j topics.Job) error {
			if j.Account == "stuck" && stuck {
				stuckCalls.Add(1)
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			count[j.ID]++
			mu.Unlock()
			firstRuns.Add(1)
			return nil
		}})
	}
	// One key: one partition, so the stuck job holds the commit point.
	jobs := []topics.Job{{ID: "before", Type: "work", Account: "x"}, {ID: "stuck-1", Type: "work", Account: "stuck"}}
	produceJobs(t, b.Addr(), jobs, func(topics.Job) string { return "same" })
	_, stop := startWith(t, b.Addr(), Config{Handler: handler(true), DrainTimeout: 300 * time.Millisecond})
	testkit.Eventually(t, 10*time.Second, "the stuck job started", func() bool { return stuckCalls.Load() > 0 && firstRuns.Load() == 1 })
	t0 := time.Now()
	stop()
	if took := time.Since(t0); took > 3*time.Second {
		t.Fatalf("stopping took %s with a stuck job; the drain is bounded", took)
	}
	w2, _ := startWith(t, b.Addr(), Config{Handler: handler(false)})
	testkit.Eventually(t, 15*time.Second, "the stuck job redelivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return count["stuck-1"] == 1
	})
	time.Sleep(300 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if count["before"] != 1 {
		t.Fatalf("the job done before the stuck one ran %d times", count["before"])
	}
	_ = w2
}

// With room for only two records in flight, polling waits for lanes to
// finish and then goes on: every job is handled once, in order per key.
func TestPollingWaitsForRoomAndGoesOn(t *testing.T) {
	b := testkit.Broker(t, prefix)
	var mu sync.Mutex
	var seen []string
	var peak atomic.Int64
	var wp atomic.Pointer[Worker]
	h := Jobs(map[string]JobHandler{"work": func(ctx context.Context, j topics.Job) error {
		if n := wp.Load().Stats.InFlight.Load(); n > peak.Load() {
			peak.Store(n)
		}
		mu.Lock()
		seen = append(seen, j.ID)
		mu.Unlock()
		return nil
	}})
	var jobs []topics.Job
	for i := range 200 {
		jobs = append(jobs, topics.Job{ID: fmt.Sprintf("%03d", i), Type: "work", Account: fmt.Sprintf("a%d", i%3)})
	}
	produceJobs(t, b.Addr(), jobs, func(j topics.Job) string { return j.Account })
	w, err := New(Config{Kafka: kclient.ForBrokers(b.Addr()), Queue: topics.Cronjobs, Handler: h, MaxInFlight: 2}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	wp.Store(w)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	testkit.Eventually(t, 20*time.Second, "every job", func() bool { return w.Stats.Handled.Load() == 200 })
	mu.Lock()
	defer mu.Unlock()
	last := map[byte]string{}
	for _, id := range seen {
		var n int
		fmt.Sscanf(id, "%d", &n)
		k := byte(n % 3)
		if id <= last[k] {
			t.Fatalf("job %s after %s of the same account", id, last[k])
		}
		last[k] = id
	}
	if len(seen) != 200 {
		t.Fatalf("%d handled", len(seen))
	}
	if p := peak.Load(); p > 2 {
		t.Fatalf("%d records in flight, bound 2", p)
	}
}

// refusal is an error that classifies itself, as binanceapi.APIError does.
type refusal bool

func (r refusal) Error() string   { return fmt.Sprintf("exchange: http 400, permanent %v", bool(r)) }
func (r refusal) Permanent() bool { return bool(r) }

// An error that says it is permanent is parked at once, even when the
// handler did not wrap ErrPermanent; one that says it is not is retried.
func TestAnErrorThatSaysItIsPermanentIsParkedAtOnce(t *testing.T) {
	if !IsPermanent(fmt.Errorf("syncing: %w", refusal(true))) || IsPermanent(refusal(false)) || IsPermanent(errors.New("x")) ||
		!IsPermanent(fmt.Errorf("x: %w", ErrPermanent)) || IsPermanent(nil) {
		t.Fatal("IsPermanent")
	}
	b := testkit.Broker(t, prefix)
	var refused, transient atomic.Int64
	h := Jobs(map[string]JobHandler{
		"refused": func(context.Context, topics.Job) error { refused.Add(1); return fmt.Errorf("sync: %w", refusal(true)) },
		"transient": func(context.Context, topics.Job) error {
			transient.Add(1)
			return fmt.Errorf("sync: %w", refusal(false))
		},
	})
	produceJobs(t, b.Addr(), []topics.Job{{ID: "1", Type: "refused"}, {ID: "2", Type: "transient"}}, func(j topics.Job) string { return j.ID })
	w, _ := startWith(t, b.Addr(), Config{Handler: h, MaxAttempts: 3})
	testkit.Eventually(t, 10*time.Second, "both parked", func() bool { return w.Stats.Parked.Load() == 2 })
	if refused.Load() != 1 || transient.Load() != 3 {
		t.Fatalf("refused attempted %d times (want 1), transient %d (want 3)", refused.Load(), transient.Load())
	}
}
