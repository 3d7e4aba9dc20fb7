package scheduler

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

func testSchedules() []Schedule {
	return []Schedule{
		{Name: "tick", Every: 200 * time.Millisecond, Queue: topics.Cronjobs},
		{Name: "sync", Every: 300 * time.Millisecond, Jitter: 50 * time.Millisecond, Queue: topics.Cronjobs, PerAccount: true},
	}
}

func newTestScheduler(t testing.TB, addr, id string) *Scheduler {
	s, err := New(Config{Kafka: kclient.ForBrokers(addr), Schedules: testSchedules(), ID: id,
		Accounts: func() []string { return []string{"acct-1", "acct-2"} }}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMain doubles as the child process of the kill -9 test.
func TestMain(m *testing.M) {
	if addr := os.Getenv("KRAITE_SCHED_CHILD"); addr != "" {
		s, err := New(Config{Kafka: kclient.ForBrokers(addr), Schedules: testSchedules(), ID: "child",
			Accounts: func() []string { return []string{"acct-1", "acct-2"} }}, testkit.Logger(nil))
		if err != nil {
			os.Exit(2)
		}
		_ = s.Run(context.Background()) // until killed
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type running struct {
	s    *Scheduler
	stop func()
}

func start(t *testing.T, s *Scheduler) *running {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	r := &running{s: s, stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("scheduler run: %v", err)
			}
		})
	}}
	t.Cleanup(r.stop)
	return r
}

// jobs reads the cronjobs topic and returns jobs after dedupe plus the repeat count.
func jobs(t *testing.T, r *testkit.Reader) (map[string][]int64, int) {
	d := NewDeduper()
	out := map[string][]int64{}
	dups := 0
	for _, rec := range r.Poll(t) {
		var j topics.Job
		if err := json.Unmarshal(rec.Value, &j); err != nil {
			t.Fatal(err)
		}
		if d.Duplicate(j) {
			dups++
			continue
		}
		out[j.Type+"/"+j.Account] = append(out[j.Type+"/"+j.Account], j.ScheduledMs)
	}
	return out, dups
}

func TestOnlyOneReplicaLeadsAndAGracefulStopHandsOverAtOnce(t *testing.T) {
	b := testkit.Broker(t, prefix)
	a := start(t, newTestScheduler(t, b.Addr(), "a"))
	testkit.Eventually(t, 15*time.Second, "a to lead", a.s.Leader)
	c := start(t, newTestScheduler(t, b.Addr(), "c"))
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if a.s.Leader() && c.s.Leader() {
			t.Fatal("two leaders at once")
		}
		time.Sleep(20 * time.Millisecond)
	}
	firedByC := c.s.Fired()
	if firedByC != 0 {
		t.Fatalf("the follower fired %d jobs", firedByC)
	}
	stopAt := time.Now()
	a.stop()
	testkit.Eventually(t, 10*time.Second, "c to take over", c.s.Leader)
	t.Logf("graceful hand-over took %s", time.Since(stopAt).Round(time.Millisecond))
	time.Sleep(time.Second)

	r := testkit.NewReader(t, b.Addr(), topics.Cronjobs.Name(prefix))
	testkit.Eventually(t, 10*time.Second, "jobs", func() bool { return len(r.Poll(t)) > 20 })
	got, dups := jobs(t, r)
	tick := got["tick/"]
	every := int64(200)
	for i := 1; i < len(tick); i++ {
		if tick[i]-tick[i-1] != every {
			t.Fatalf("tick slots not contiguous at %d: %v", i, tick)
		}
	}
	if len(got["sync/acct-1"]) == 0 || len(got["sync/acct-2"]) == 0 {
		t.Fatalf("per-account jobs missing: %v", got)
	}
	t.Logf("%d tick slots, %d repeats dropped by the consumer", len(tick), dups)
}

func TestKillingTheLeaderHandsOverWithinSeconds(t *testing.T) {
	b := testkit.Broker(t, prefix)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "KRAITE_SCHED_CHILD="+b.Addr())
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	lease := testkit.NewReader(t, b.Addr(), topics.SchedulerLease.Name(prefix))
	leader := func() string {
		recs := lease.Poll(t)
		if len(recs) == 0 {
			return ""
		}
		var l Lease
		_ = json.Unmarshal(recs[len(recs)-1].Value, &l)
		return l.Leader
	}
	testkit.Eventually(t, 20*time.Second, "the child to lead", func() bool { return leader() == "child" })
	p := start(t, newTestScheduler(t, b.Addr(), "parent"))
	time.Sleep(time.Second)
	if p.s.Leader() {
		t.Fatal("two leaders")
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	testkit.Eventually(t, 30*time.Second, "the survivor to lead", p.s.Leader)
	took := time.Since(killed)
	t.Logf("hand-over after kill -9 took %s (session timeout 6s)", took.Round(time.Millisecond))
	if took > 20*time.Second {
		t.Fatalf("hand-over took %s", took)
	}
	time.Sleep(500 * time.Millisecond)
	r := testkit.NewReader(t, b.Addr(), topics.Cronjobs.Name(prefix))
	testkit.Eventually(t, 10*time.Second, "jobs", func() bool { return len(r.Poll(t)) > 10 })
	got, dups := jobs(t, r)
	tick := got["tick/"]
	for i := 1; i < len(tick); i++ {
		if tick[i]-tick[i-1] != 200 {
			t.Fatalf("tick slots not contiguous across the kill at %d: %v", i, tick)
		}
	}
	t.Logf("%d repeats dropped by the consumer", dups)
}
