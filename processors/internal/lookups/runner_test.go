package lookups_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

var (
	input = goka.Stream(topics.UserDataStream.Name(ptest.Prefix))
	table = goka.Table(topics.Allowlist.Name(ptest.Prefix))
)

// newRunner builds a stateless processor over input whose callback cb
// reads the View of table through lookups.Get.
func newRunner(t *testing.T, c *ptest.Cluster, group string, cb func(ctx goka.Context, v *goka.View)) *lookups.Runner {
	t.Helper()
	v, err := lookups.NewView(c.Brokers(), table, topics.Raw{}, nil, ptest.ViewOptions())
	if err != nil {
		t.Fatal(err)
	}
	g := goka.DefineGroup(goka.Group(ptest.Prefix+group),
		goka.Input(input, topics.Raw{}, func(ctx goka.Context, _ any) { cb(ctx, v) }))
	p, err := goka.NewProcessor(c.Brokers(), g, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	r := lookups.New(p, v)
	if r.View(table) != v || r.Processor() != p {
		t.Fatal("the runner does not expose its processor and View")
	}
	return r
}

// start runs r until the returned stop is called (or the test ends) and
// waits until it is ready; stop returns Run's error.
func start(t *testing.T, r *lookups.Runner) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var (
		once sync.Once
		err  error
	)
	stop = func() error {
		once.Do(func() {
			cancel()
			err = <-done
		})
		return err
	}
	t.Cleanup(func() { _ = stop() })
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := r.WaitForReady(wctx); err != nil {
		t.Fatalf("waiting for the runner: %v", err)
	}
	return stop
}

func TestTheViewOutlivesACallbackThatIsStillRunningAtShutdown(t *testing.T) {
	c := ptest.StartCluster(t)
	c.Produce(t, string(table), "binance", []byte(`{"exchange":"binance","types":["TRADE"]}`))
	entered, release, got := make(chan struct{}), make(chan struct{}), make(chan string, 1)
	var first atomic.Bool
	r := newRunner(t, c, "lookups-outlive", func(ctx goka.Context, v *goka.View) {
		if !first.CompareAndSwap(false, true) {
			return
		}
		close(entered)
		<-release // shutdown begins while the callback is here
		raw, _ := lookups.Get(ctx, v, "binance").([]byte)
		got <- string(raw)
	})
	stop := start(t, r)
	c.Produce(t, string(input), "acct-1", []byte("{}"))
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		t.Fatal("the callback never ran")
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// goka's own Lookup would close the View now; the Runner must not
	// while the processor still runs a callback.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if s := r.View(table).CurrentState(); s != goka.ViewStateRunning {
			close(release)
			t.Fatalf("the View left the running state (%v) under a running callback", s)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if v := <-got; v != `{"exchange":"binance","types":["TRADE"]}` {
		t.Fatalf("the callback read %q after shutdown began", v)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("run: %v", err)
	}
	if s := r.View(table).CurrentState(); s != goka.ViewStateIdle {
		t.Fatalf("the View is %v after Run returned, want idle", s)
	}
}

// TestStoppingWhileRecordsFlowIsRaceFree is the regression test of the
// goka race: every callback reads the View, and the runner is stopped
// while a backlog is still being processed. Run it with -race.
func TestStoppingWhileRecordsFlowIsRaceFree(t *testing.T) {
	c := ptest.StartCluster(t)
	recs := make([]*kgo.Record, 3000)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: string(input), Key: fmt.Appendf(nil, "acct-%d", i%50), Value: []byte("{}")}
	}
	c.ProduceBatch(t, recs)
	var seen atomic.Int64
	r := newRunner(t, c, "lookups-flowing", func(ctx goka.Context, v *goka.View) {
		lookups.Get(ctx, v, "binance")
		time.Sleep(time.Millisecond) // keep the backlog flowing at shutdown
		seen.Add(1)
	})
	stop := start(t, r)
	testkit.Eventually(t, 30*time.Second, "records to flow", func() bool { return seen.Load() > 20 })
	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if n := seen.Load(); n >= int64(len(recs)) {
		t.Fatalf("the whole backlog (%d) was processed before the stop; the test proves nothing", n)
	}
}

func TestRunEndsCleanlyWhenCancelledBeforeTheViewsRecovered(t *testing.T) {
	c := ptest.StartCluster(t)
	r := newRunner(t, c, "lookups-early", func(goka.Context, *goka.View) {})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); err != nil {
		t.Fatalf("run with a cancelled context: %v", err)
	}
	if err := r.WaitForReady(context.Background()); err == nil {
		t.Fatal("WaitForReady reported ready for a processor that never started")
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("a second Run was accepted")
	}
}

func TestAShutdownDuringTheProcessorsStartUpIsNoFailure(t *testing.T) {
	c := ptest.StartCluster(t)
	hits := 0
	for i := range 5 {
		r := newRunner(t, c, fmt.Sprintf("lookups-startup-%d", i), func(goka.Context, *goka.View) {})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- r.Run(ctx) }()
		testkit.Eventually(t, 30*time.Second, "the processor to start", func() bool {
			return r.Processor().StateReader().State() >= goka.ProcStateStarting
		})
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("stopping during start-up: %v", err)
		}
		if r.Processor().StateReader().IsState(goka.ProcStateStarting) {
			hits++ // stopped before the first rebalance: the path under test
		}
	}
	t.Logf("%d of 5 runs stopped before their first rebalance", hits)
}
