package testkit

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fatalT records a Fatalf or a Skipf and ends its goroutine as testing.T
// does.
type fatalT struct {
	testing.TB
	mu      sync.Mutex
	msg     string
	skipped bool
}

func (f *fatalT) Skipf(format string, args ...any) {
	f.mu.Lock()
	f.msg, f.skipped = fmt.Sprintf(format, args...), true
	f.mu.Unlock()
	runtime.Goexit()
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
	msg, _ := runSkip(t, body)
	return msg
}

// runSkip is run, also telling whether body skipped.
func runSkip(t *testing.T, body func(tb testing.TB)) (string, bool) {
	f := &fatalT{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		body(f)
	}()
	<-done
	return f.msg, f.skipped
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

func TestInCI(t *testing.T) {
	for v, want := range map[string]bool{"": false, "0": false, "false": false, "FALSE": false,
		"true": true, "1": true, "TRUE": true, "yes": true, "github-actions": true} {
		t.Setenv("CI", v)
		if got := InCI(); got != want {
			t.Errorf("CI=%q: InCI %v, want %v", v, got, want)
		}
	}
}

// A missing fixture fails the test under CI and skips it otherwise; a
// present one is found from any package depth (the module root's sibling).
func TestSharedFixturesFailLoudlyUnderCI(t *testing.T) {
	for _, ci := range []string{"true", ""} {
		t.Setenv("CI", ci)
		for name, body := range map[string]func(tb testing.TB){
			"glob":      func(tb testing.TB) { SharedFiles(tb, "binance-frames/*.no-such-extension") },
			"bad glob":  func(tb testing.TB) { SharedFiles(tb, "binance-frames/[") },
			"directory": func(tb testing.TB) { SharedFiles(tb, "no-such-dir/*.json") },
			"file":      func(tb testing.TB) { SharedFile(tb, "binance-frames/no-such-frame.json") },
			"read all":  func(tb testing.TB) { ReadSharedFiles(tb, "no-such-dir/*") },
		} {
			msg, skipped := runSkip(t, body)
			if msg == "" || skipped == (ci == "true") {
				t.Errorf("CI=%q, %s: message %q, skipped %v", ci, name, msg, skipped)
			}
		}
	}
	t.Setenv("CI", "true")
	paths := SharedFiles(t, "binance-frames/*.json")
	if !slices.IsSorted(paths) || len(paths) < 10 {
		t.Fatalf("%d frames, sorted %v", len(paths), slices.IsSorted(paths))
	}
	if b := SharedFile(t, filepath.Join("binance-frames", filepath.Base(paths[0]))); len(b) == 0 {
		t.Fatal("empty frame")
	}
	if n := len(ReadSharedFiles(t, "binance-frames/*.json")); n != len(paths) {
		t.Fatalf("read %d frames of %d", n, len(paths))
	}
}
