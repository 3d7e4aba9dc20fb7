package health

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }
func streams(n, down int) []Stream {
	out := make([]Stream, n)
	for i := range out {
		out[i] = Stream{ID: fmt.Sprintf("acct-%03d", i), Connected: i >= down}
	}
	return out
}

func TestEveryStreamDownBeyondTheGraceMakesTheBoxNotReady(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	w := NewStreamWatch("user-data streams")
	w.Now = c.now
	if err := w.Observe(streams(10, 10)); err != nil {
		t.Fatalf("down for 0 s is within the grace: %v", err)
	}
	c.advance(30 * time.Second)
	if err := w.Observe(streams(10, 10)); err != nil {
		t.Fatalf("down for 30 s is within the grace: %v", err)
	}
	c.advance(31 * time.Second)
	err := w.Observe(streams(10, 10))
	if err == nil || !strings.Contains(err.Error(), "10 of 10 user-data streams down for more than 1m0s") ||
		!strings.Contains(err.Error(), "acct-000 (1m1s)") || !strings.Contains(err.Error(), "and 5 more") {
		t.Fatalf("all down for 61 s: %v", err)
	}
	// Reconnected: ready at once.
	if err := w.Observe(streams(10, 0)); err != nil {
		t.Fatalf("reconnected: %v", err)
	}
	// Down again: the grace starts over.
	if err := w.Observe(streams(10, 10)); err != nil {
		t.Fatalf("down again just now: %v", err)
	}
}

func TestOneBadAccountDoesNotTakeABoxOut(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	w := NewStreamWatch("user-data streams")
	w.Now = c.now
	w.Observe(streams(10, 2))
	c.advance(2 * time.Minute)
	if err := w.Observe(streams(10, 2)); err != nil {
		t.Fatalf("2 of 10 (20%%) down: %v", err)
	}
	if err := w.Observe(streams(10, 3)); err != nil {
		t.Fatalf("the third just went down: %v", err)
	}
	c.advance(2 * time.Minute)
	if err := w.Observe(streams(10, 3)); err == nil {
		t.Fatal("3 of 10 down for 2 min: still ready")
	}
	// A single critical stream (the mark-price feed) counts on its own.
	one := NewStreamWatch("mark-price stream")
	one.Now = c.now
	one.Observe([]Stream{{ID: "binance"}})
	c.advance(90 * time.Second)
	if err := one.Observe([]Stream{{ID: "binance"}}); err == nil {
		t.Fatal("the mark-price stream down for 90 s: still ready")
	}
}

func TestAStalledGroupIsToldFromABusyOrIdleOne(t *testing.T) {
	c := &clock{time.Unix(1000, 0)}
	w := NewStallWatch("kraite.worker.positions")
	w.Now = c.now
	p := func(committed, end int64) []Partition {
		return []Partition{{Topic: "kraite.positions", Partition: 3, Committed: committed, End: end}}
	}
	w.Observe(p(10, 10))
	c.advance(10 * time.Minute)
	if err := w.Observe(p(10, 10)); err != nil {
		t.Fatalf("idle (caught up) is not stalled: %v", err)
	}
	// Busy: records wait but the commit moves.
	for i := int64(0); i < 10; i++ {
		c.advance(time.Minute)
		if err := w.Observe(p(11+i, 100)); err != nil {
			t.Fatalf("busy: %v", err)
		}
	}
	// Stuck: the commit stays while records wait.
	c.advance(time.Minute)
	if err := w.Observe(p(20, 120)); err != nil {
		t.Fatalf("1 min without a commit is within the window: %v", err)
	}
	c.advance(90 * time.Second)
	err := w.Observe(p(20, 130))
	if err == nil || !strings.Contains(err.Error(), "group kraite.worker.positions stalled: 110 records waiting on kraite.positions/3 (lag 110, no commit for 2m30s)") {
		t.Fatalf("stuck: %v", err)
	}
	// No commit ever (-1) with records waiting is a stall too.
	w2 := NewStallWatch("g")
	w2.Now = c.now
	w2.Observe(p(-1, 5))
	c.advance(3 * time.Minute)
	if err := w2.Observe(p(-1, 5)); err == nil {
		t.Fatal("never committed with 5 waiting: not stalled")
	}
}
