package testkit

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalT records a Fatalf and ends its goroutine as testing.T does.
type fatalT struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fatalT) Helper() {}

func (f *fatalT) Fatalf(format string, args ...any) {
	f.mu.Lock()
	f.msg = fmt.Sprintf(format, args...)
	f.mu.Unlock()
	runtime.Goexit()
}

// run runs body as a test goroutine and returns its Fatalf message ("" when
// it passed).
func run(t *testing.T, body func(tb testing.TB)) string {
	f := &fatalT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	return f.msg
}

func TestEventuallyWaitsForABoolOrAnError(t *testing.T) {
	start := time.Now()
	n := 0
	if msg := run(t, func(tb testing.TB) {
		Eventually(tb, 10*time.Second, "three calls", func() bool { n++; return n == 3 })
	}); msg != "" || n != 3 {
		t.Fatalf("bool: %q after %d calls", msg, n)
	}
	n = 0
	if msg := run(t, func(tb testing.TB) {
		Eventually(tb, 10*time.Second, "three calls", func() error {
			if n++; n < 3 {
				return errors.New("not three")
			}
			return nil
		})
	}); msg != "" || n != 3 {
		t.Fatalf("error: %q after %d calls", msg, n)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("took %s", el)
	}
}

func TestEventuallyFailsNamingWhatAndTheLastError(t *testing.T) {
	msg := run(t, func(tb testing.TB) {
		Eventually(tb, 50*time.Millisecond, "the impossible", func() bool { return false })
	})
	if !strings.Contains(msg, "the impossible") || strings.Contains(msg, "not yet") {
		t.Fatalf("bool failure: %q", msg)
	}
	calls := 0
	msg = run(t, func(tb testing.TB) {
		Eventually(tb, 50*time.Millisecond, "the row", func() error {
			calls++
			return fmt.Errorf("%d rows", calls)
		})
	})
	if !strings.Contains(msg, "the row") || !strings.Contains(msg, fmt.Sprintf(": %d rows", calls)) {
		t.Fatalf("error failure: %q (last call %d)", msg, calls)
	}
	// Zero and negative totals still check once.
	for _, total := range []time.Duration{0, -time.Hour} {
		if msg := run(t, func(tb testing.TB) { Eventually(tb, total, "x", func() bool { return true }) }); msg != "" {
			t.Fatalf("total %s: %q", total, msg)
		}
		if msg := run(t, func(tb testing.TB) { Eventually(tb, total, "x", func() bool { return false }) }); msg == "" {
			t.Fatalf("total %s: passed", total)
		}
	}
}
