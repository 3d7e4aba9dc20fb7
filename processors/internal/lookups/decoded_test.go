package lookups

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// decodedTest is a guarded View on goka's tester whose values are
// {"n": <int>} (anything else is garbage), read through a Decoded that
// counts its decodes.
type decodedTest struct {
	tt      *tester.Tester
	view    *goka.View
	guard   *Guard
	d       *Decoded[int]
	decodes atomic.Int64
	parses  atomic.Int64
	table   string
	stop    func()
}

type nValue struct {
	N *int `json:"n"`
}

func checkN(_ string, raw []byte) error {
	var v nValue
	if err := json.Unmarshal(raw, &v); err != nil {
		return err
	}
	if v.N == nil {
		return errors.New("no n")
	}
	return nil
}

func newDecodedTest(t *testing.T) *decodedTest { return newDecodedTestParsing(t, false) }

// newDecodedTestParsing is newDecodedTest whose Guard, with parse, keeps
// the value it checked (GuardConfig.Parse) and counts its parses.
func newDecodedTestParsing(t *testing.T, parse bool) *decodedTest {
	t.Helper()
	dt := &decodedTest{tt: tester.New(t), table: "kraite.decoded-test"}
	check, parseN := checkN, func(_ string, raw []byte) (any, error) {
		dt.parses.Add(1)
		var v nValue
		if err := json.Unmarshal(raw, &v); err != nil {
			return nil, err
		}
		if v.N == nil {
			return nil, errors.New("no n")
		}
		return *v.N, nil
	}
	if parse {
		check = nil
	} else {
		parseN = nil
	}
	v, g, err := NewGuardedView(GuardConfig{Table: goka.Table(dt.table), Group: "kraite.test", Quarantine: "kraite.quarantine",
		Check: check, Parse: parseN, KnownKey: func(k string) bool { return k == "a" || k == "b" },
		Quarantined: func(string, *topics.QuarantineRecord) {}, ViewOptions: []goka.ViewOption{goka.WithViewTester(dt.tt)}})
	if err != nil {
		t.Fatal(err)
	}
	dt.view, dt.guard = v, g
	dt.d = NewDecoded(v, g, func(_ string, v any) (int, error) {
		dt.decodes.Add(1)
		if reason, ok := Unreadable(v); ok {
			return 0, errors.New(reason)
		}
		raw, _ := v.([]byte)
		if raw == nil {
			return -1, nil // no value
		}
		var n nValue
		if err := json.Unmarshal(raw, &n); err != nil {
			return 0, err
		}
		return *n.N, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- v.Run(ctx) }()
	dt.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("view run: %v", err)
		}
	})
	t.Cleanup(dt.stop)
	select {
	case <-v.WaitRunning():
	case <-time.After(20 * time.Second):
		t.Fatal("the view did not start")
	}
	return dt
}

// put writes one record to the table and waits until the Guard handled it.
func (dt *decodedTest) put(t *testing.T, key string, raw []byte) {
	t.Helper()
	seen := dt.guard.Seen()
	dt.tt.Consume(dt.table, key, raw)
	testkit.Eventually(t, 20*time.Second, "the guard to handle the record", func() bool { return dt.guard.Seen() > seen })
}

func (dt *decodedTest) read(t *testing.T, key string) (int, error) {
	t.Helper()
	n, derr, err := dt.d.Read(key)
	if err != nil {
		t.Fatalf("reading %s: view error %v", key, err)
	}
	return n, derr
}

// A value is decoded once per write of its key, however often it is read;
// a new value is read at once; garbage keeps the last good value without
// a new decode; garbage on a key without a good value reads as the
// unreadable marker's error, again and again, and the same garbage again
// writes nothing.
func TestDecodedDecodesOncePerWrite(t *testing.T) {
	dt := newDecodedTest(t)
	if n, derr := dt.read(t, "a"); n != -1 || derr != nil {
		t.Fatalf("no value: %d, %v", n, derr)
	}
	dt.put(t, "a", []byte(`{"n":1}`))
	for range 100 {
		if n, derr := dt.read(t, "a"); n != 1 || derr != nil {
			t.Fatalf("read %d, %v; want 1", n, derr)
		}
	}
	if got := dt.decodes.Load(); got != 2 { // the empty key, then the value
		t.Fatalf("%d decodes, want 2", got)
	}
	dt.put(t, "a", []byte(`{"n":2}`))
	if n, _ := dt.read(t, "a"); n != 2 {
		t.Fatalf("after a new value: read %d, want 2", n)
	}
	dt.put(t, "a", []byte(`{"n":`))
	dt.put(t, "a", []byte(`{"m":3}`))
	if n, derr := dt.read(t, "a"); n != 2 || derr != nil {
		t.Fatalf("after garbage: read %d, %v; want the last good 2", n, derr)
	}
	if got := dt.decodes.Load(); got != 3 {
		t.Fatalf("%d decodes, want 3 (garbage kept the value, nothing to decode again)", got)
	}

	dt.put(t, "b", []byte(`garbage`))
	v := dt.guard.Version("b")
	if _, derr := dt.read(t, "b"); derr == nil {
		t.Fatal("a key holding only garbage reads without an error")
	}
	dt.put(t, "b", []byte(`garbage`))
	if dt.guard.Version("b") != v {
		t.Fatal("the same garbage again rewrote the marker")
	}
	for range 10 {
		if _, derr := dt.read(t, "b"); derr == nil {
			t.Fatal("a key holding only garbage reads without an error (cached)")
		}
	}
	dt.put(t, "b", []byte(`{"n":7}`))
	if n, derr := dt.read(t, "b"); n != 7 || derr != nil {
		t.Fatalf("after a good value: %d, %v", n, derr)
	}
	if n, _ := dt.read(t, "a"); n != 2 {
		t.Fatalf("key a changed with key b: %d", n)
	}
	if got := dt.decodes.Load(); got != 5 {
		t.Fatalf("%d decodes, want 5", got)
	}
}

// A key the Guard does not accept (one a record names) is never
// remembered, so it cannot grow the cache; its reads decode every time.
func TestDecodedDoesNotRememberUnknownKeys(t *testing.T) {
	dt := newDecodedTest(t)
	for i := range 50 {
		if n, derr := dt.read(t, fmt.Sprint("unknown-", i)); n != -1 || derr != nil {
			t.Fatalf("unknown key: %d, %v", n, derr)
		}
	}
	dt.read(t, "unknown-0")
	if got := dt.decodes.Load(); got != 51 {
		t.Fatalf("%d decodes, want 51", got)
	}
	dt.d.mu.RLock()
	defer dt.d.mu.RUnlock()
	if len(dt.d.entries) != 0 {
		t.Fatalf("%d entries remembered", len(dt.d.entries))
	}
}

// A remembered value is not served by a View that stopped: the read fails
// as View.Get does.
func TestDecodedFailsWhenTheViewStopped(t *testing.T) {
	dt := newDecodedTest(t)
	dt.put(t, "a", []byte(`{"n":1}`))
	if n, _ := dt.read(t, "a"); n != 1 {
		t.Fatalf("read %d", n)
	}
	dt.stop()
	if _, _, err := dt.d.Read("a"); err == nil {
		t.Fatal("a stopped View served its remembered value")
	}
}

// Readers on several goroutines (goka's partitions) while values change:
// every read returns a value that was written, each reader's values never
// go backwards, and once the last write is handled every reader reads it.
func TestDecodedConcurrentReadersFollowTheWrites(t *testing.T) {
	dt := newDecodedTest(t)
	dt.put(t, "a", []byte(`{"n":0}`))
	const writes = 200
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := 0
			for !stop.Load() {
				n, derr, err := dt.d.Read("a")
				switch {
				case err != nil || derr != nil:
					errs <- fmt.Errorf("read: %v, %v", err, derr)
					return
				case n < last || n > writes:
					errs <- fmt.Errorf("read %d after %d", n, last)
					return
				}
				last = n
			}
		}()
	}
	for i := 1; i <= writes; i++ {
		dt.put(t, "a", fmt.Appendf(nil, `{"n":%d}`, i))
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n, _ := dt.read(t, "a"); n != writes {
		t.Fatalf("after the last write: read %d, want %d", n, writes)
	}
	if got := dt.decodes.Load(); got > writes+2 {
		t.Fatalf("%d decodes for %d writes", got, writes+1)
	}
}

// With GuardConfig.Parse, a write is decoded once, by the Guard: readers
// take the Guard's value and never decode it again; the unreadable marker
// (no parsed value) still goes through decode, and fails closed.
func TestDecodedTakesTheGuardsParseOfAWrite(t *testing.T) {
	dt := newDecodedTestParsing(t, true)
	dt.put(t, "a", []byte(`{"n":7}`))
	for range 100 {
		if n, derr := dt.read(t, "a"); n != 7 || derr != nil {
			t.Fatalf("read %d, %v", n, derr)
		}
	}
	if p, d := dt.parses.Load(), dt.decodes.Load(); p != 1 || d != 0 {
		t.Fatalf("one write read 100 times: %d parses, %d decodes; want 1 and 0", p, d)
	}
	dt.put(t, "a", []byte(`{"n":8}`))
	if n, _ := dt.read(t, "a"); n != 8 {
		t.Fatalf("new write read as %d", n)
	}
	dt.put(t, "a", []byte(`garbage`)) // the last good value stays, no new write
	if n, derr := dt.read(t, "a"); n != 8 || derr != nil {
		t.Fatalf("after garbage: %d, %v", n, derr)
	}
	dt.put(t, "b", []byte(`garbage`)) // no good value: the marker
	if _, derr := dt.read(t, "b"); derr == nil {
		t.Fatal("the unreadable marker read without an error")
	}
	if p, d := dt.parses.Load(), dt.decodes.Load(); p != 4 || d != 1 {
		t.Fatalf("%d parses, %d decodes; want 4 (each record) and 1 (the marker)", p, d)
	}
}
