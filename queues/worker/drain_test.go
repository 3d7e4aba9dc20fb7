package worker

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// drainRig runs lanes without a broker: records are dispatched by hand and
// partitions released by hand, as the rebalance callbacks do.
type drainRig struct {
	rs      *runState
	mu      sync.Mutex
	ran     []int64
	release chan struct{} // key "A", offset 0 blocks on it
	started chan struct{}
}

func newDrainRig(t *testing.T, drain time.Duration) *drainRig {
	t.Helper()
	r := &drainRig{release: make(chan struct{}), started: make(chan struct{}, 1)}
	w, err := New(Config{Kafka: kclient.ForBrokers("127.0.0.1:1"), Queue: topics.Cronjobs, DrainTimeout: drain,
		Handler: func(ctx context.Context, rec *kgo.Record) error {
			if string(rec.Key) == "A" && rec.Offset == 0 {
				r.started <- struct{}{}
				select {
				case <-r.release:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			r.mu.Lock()
			r.ran = append(r.ran, rec.Offset)
			r.mu.Unlock()
			return nil
		}}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r.rs = newRunState(ctx, w)
	// A client without a group: marking is a no-op, nothing is dialled.
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	r.rs.cl = cl
	return r
}

// dispatchABBA queues A@0 (blocks), B@1, B@2, A@3 on partition 0 and waits
// until B's two are done and A@0 runs.
func (r *drainRig) dispatchABBA(t *testing.T) {
	t.Helper()
	for i, k := range []string{"A", "B", "B", "A"} {
		r.rs.dispatch(&kgo.Record{Key: []byte(k), Partition: 0, Offset: int64(i)})
	}
	<-r.started
	testkit.Eventually(t, 5*time.Second, "B's records", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		return len(r.ran) == 2
	})
}

func (r *drainRig) ranOffsets() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]int64(nil), r.ran...)
}

// A revoked partition is drained: the record started before the revoke
// (A@0, behind which B@1 and B@2 already finished) is waited for, so the
// commit covers all three; A@3, not started, is left to the next owner.
func TestARevokedPartitionFinishesWhatWasStartedAndLeavesTheRest(t *testing.T) {
	r := newDrainRig(t, 5*time.Second)
	r.dispatchABBA(t)
	released := make(chan struct{})
	go func() { r.rs.release([]int32{0}, false); close(released) }()
	select {
	case <-released:
		t.Fatal("release returned while A@0, before the done B@1 and B@2, was running")
	case <-time.After(200 * time.Millisecond):
	}
	close(r.release)
	select {
	case <-released:
	case <-time.After(5 * time.Second):
		t.Fatal("release did not return after A@0 finished")
	}
	r.rs.lanes.Wait()
	if got := r.ranOffsets(); len(got) != 3 || got[2] != 0 {
		t.Fatalf("ran %v, want B@1, B@2, A@0 and not A@3", got)
	}
	if n := r.rs.w.Stats.InFlight.Load(); n != 0 {
		t.Fatalf("%d in flight after the release", n)
	}
}

// A drain is bounded: a record that never finishes is cancelled after
// DrainTimeout.
func TestADrainGivesUpAfterDrainTimeout(t *testing.T) {
	r := newDrainRig(t, 300*time.Millisecond)
	r.dispatchABBA(t)
	t0 := time.Now()
	r.rs.release([]int32{0}, false)
	if took := time.Since(t0); took < 250*time.Millisecond || took > 3*time.Second {
		t.Fatalf("release took %s, want about the 300ms drain timeout", took)
	}
	r.rs.lanes.Wait()
	if got := r.ranOffsets(); len(got) != 2 {
		t.Fatalf("ran %v, want only B@1 and B@2", got)
	}
}

// A lost partition is given up at once: the running call is cancelled.
func TestALostPartitionIsGivenUpAtOnce(t *testing.T) {
	r := newDrainRig(t, time.Minute)
	r.dispatchABBA(t)
	t0 := time.Now()
	r.rs.release([]int32{0}, true)
	if took := time.Since(t0); took > time.Second {
		t.Fatalf("release of a lost partition took %s", took)
	}
	r.rs.lanes.Wait()
	if got := r.ranOffsets(); len(got) != 2 {
		t.Fatalf("ran %v, want only B@1 and B@2", got)
	}
}
