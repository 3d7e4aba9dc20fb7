package backoff

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestDelayDoublesCapsAndJitters(t *testing.T) {
	p := Policy{Base: time.Second, Cap: 32 * time.Second, Jitter: DefaultJitter}
	for attempt, want := range []time.Duration{1, 2, 4, 8, 16, 32, 32, 32} {
		want *= time.Second
		for range 50 {
			if d := p.Delay(attempt); d < want || d > want+want/2 {
				t.Fatalf("attempt %d: delay %s outside [%s, %s]", attempt, d, want, want+want/2)
			}
		}
	}
	if d := p.Delay(1000); d < 32*time.Second || d > 48*time.Second {
		t.Fatalf("huge attempt: %s", d)
	}
}

// Without jitter the delays are exact: what the sinks' write loop relies on
// (MinBackoff doubling to MaxBackoff).
func TestDelayWithoutJitterIsExact(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Cap: time.Second}
	for attempt, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		if d := p.Delay(attempt); d != want*time.Millisecond {
			t.Fatalf("attempt %d: %s, want %s", attempt, d, want*time.Millisecond)
		}
	}
}

// Garbage policies and attempts give a delay in a sane range, never negative
// and never an overflow.
func TestDelayOfGarbage(t *testing.T) {
	const maxD = time.Duration(math.MaxInt64)
	cases := []struct {
		name     string
		p        Policy
		attempt  int
		min, max time.Duration
	}{
		{"zero policy", Policy{}, 0, time.Second, time.Second},
		{"zero policy capped at 32 base", Policy{}, 100, 32 * time.Second, 32 * time.Second},
		{"negative base and cap", Policy{Base: -5, Cap: -7}, 3, 8 * time.Second, 8 * time.Second},
		{"negative attempt", Policy{Base: time.Millisecond, Cap: time.Second}, -3, time.Millisecond, time.Millisecond},
		{"most negative attempt", Policy{Base: time.Millisecond}, math.MinInt, time.Millisecond, time.Millisecond},
		{"cap below base", Policy{Base: time.Second, Cap: time.Millisecond}, 4, time.Second, time.Second},
		{"huge attempt", Policy{Base: time.Millisecond, Cap: time.Hour}, math.MaxInt, time.Hour, time.Hour},
		{"attempt 63 with 1ns base", Policy{Base: 1, Cap: maxD}, 63, maxD, maxD},
		{"attempt 62 with 1ns base", Policy{Base: 1, Cap: maxD}, 62, maxD, maxD},
		{"huge base, default cap", Policy{Base: maxD / 2}, 5, maxD, maxD},
		{"huge base and full jitter", Policy{Base: maxD, Jitter: 1}, 7, maxD, maxD},
		{"huge cap, jitter", Policy{Base: time.Hour, Cap: maxD, Jitter: 0.5}, 40, maxD / 2, maxD},
		{"negative jitter", Policy{Base: time.Second, Jitter: -1}, 0, time.Second, time.Second},
		{"NaN jitter", Policy{Base: time.Second, Jitter: math.NaN()}, 0, time.Second, time.Second},
		{"infinite jitter", Policy{Base: time.Second, Jitter: math.Inf(1)}, 0, time.Second, 2 * time.Second},
		{"jitter above one", Policy{Base: time.Second, Jitter: 7}, 0, time.Second, 2 * time.Second},
	}
	for _, c := range cases {
		for range 20 {
			d := c.p.Delay(c.attempt)
			if d < c.min || d > c.max {
				t.Fatalf("%s: delay %s outside [%s, %s]", c.name, d, c.min, c.max)
			}
		}
	}
}

// Sleep returns true after its duration and false, at once, when the
// context ends first (a worker's retry wait or a bench's window must not
// outlive a shutdown), also for zero and negative durations.
func TestSleepStopsWithTheContext(t *testing.T) {
	if !Sleep(context.Background(), time.Millisecond) {
		t.Fatal("a short sleep on a live context returned false")
	}
	if !Sleep(context.Background(), -time.Hour) || !Sleep(context.Background(), 0) {
		t.Fatal("a non-positive sleep on a live context returned false")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	for _, d := range []time.Duration{time.Hour, 0, -1, math.MaxInt64} {
		if Sleep(ctx, d) {
			t.Fatalf("a sleep of %s on an ended context returned true", d)
		}
	}
	if (Policy{Base: time.Hour}).Sleep(ctx, 3) {
		t.Fatal("a policy sleep on an ended context returned true")
	}
	if Until(ctx, time.Now().Add(time.Hour)) || Until(ctx, time.Time{}) {
		t.Fatal("Until on an ended context returned true")
	}
	if el := time.Since(start); el > time.Minute {
		t.Fatalf("returned after %s", el)
	}
	if !Until(context.Background(), time.Now().Add(time.Millisecond)) || !Until(context.Background(), time.Time{}) {
		t.Fatal("Until on a live context returned false")
	}
}

// A context that ends during the sleep ends it.
func TestSleepEndsWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	if Sleep(ctx, time.Hour) {
		t.Fatal("returned true")
	}
	if el := time.Since(start); el > time.Minute {
		t.Fatalf("returned after %s", el)
	}
}

func FuzzDelay(f *testing.F) {
	f.Add(int64(time.Second), int64(32*time.Second), 0.5, 3)
	f.Add(int64(-1), int64(0), -1.0, -1)
	f.Add(int64(math.MaxInt64), int64(math.MaxInt64), 1.0, math.MaxInt)
	f.Fuzz(func(t *testing.T, base, capd int64, jitter float64, attempt int) {
		p := Policy{Base: time.Duration(base), Cap: time.Duration(capd), Jitter: jitter}
		d := p.Delay(attempt)
		b := p.Base
		if b <= 0 {
			b = DefaultBase
		}
		if d < b {
			t.Fatalf("%+v attempt %d: delay %s below the base", p, attempt, d)
		}
	})
}
