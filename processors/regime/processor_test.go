package regime

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

type regimeTest struct {
	tt      *tester.Tester
	p       *Runner
	rg      *regime
	changes *tester.QueueTracker

	mu       sync.Mutex
	controlQ []*topics.QuarantineRecord // quarantined override records
}

func newRegimeTest(t *testing.T, opts ...func(*Config)) *regimeTest {
	t.Helper()
	tt := tester.New(t)
	cfg := DefaultConfig(nil, prefix)
	for _, o := range opts {
		o(&cfg)
	}
	cfg.ViewOptions = []goka.ViewOption{goka.WithViewTester(tt)}
	r := &regimeTest{tt: tt}
	cfg.ControlQuarantined = func(_ string, q *topics.QuarantineRecord) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.controlQ = append(r.controlQ, q)
	}
	p, rg, err := newRegime(cfg, goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor run: %v", err)
		}
	})
	if err := p.WaitForReady(t.Context()); err != nil {
		t.Fatalf("waiting for the processor: %v", err)
	}
	r.p, r.rg, r.changes = p, rg, tt.NewQueueTracker(string(ChangesTopic(prefix)))
	return r
}

// setOverride writes one raw record to the overrides topic and waits until
// the overrides View's Guard handled it.
func (r *regimeTest) setOverride(t *testing.T, raw []byte) {
	t.Helper()
	guard := r.p.Guards()[0]
	seen := guard.Seen()
	r.tt.Consume(string(OverridesTable(prefix)), regimestate.OverrideScope, raw)
	testkit.Eventually(t, 20*time.Second, "the overrides view to handle the record", func() bool { return guard.Seen() > seen })
}

// controlQuarantined is the number of refused override records.
func (r *regimeTest) controlQuarantined() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.controlQ)
}

func (r *regimeTest) feed(frame []byte) {
	r.tt.Consume(string(InputTopic(prefix)), topics.ExchangeBinance, frame)
}

func (r *regimeTest) drain(t *testing.T) []topics.RegimeChange {
	t.Helper()
	var out []topics.RegimeChange
	for {
		_, v, ok := r.changes.Next()
		if !ok {
			return out
		}
		out = append(out, *v.(*topics.RegimeChange))
	}
}

func (r *regimeTest) state(t *testing.T) *State {
	t.Helper()
	v, _ := r.tt.TableValue(Table(prefix), topics.ExchangeBinance).(*State)
	if v == nil {
		t.Fatal("no regime state in the table")
	}
	// The market is not in the table value: it is the processor's, in
	// memory, when it is the table value's.
	if mem := r.rg.mem.peek(v.Partition, topics.ExchangeBinance); matches(mem, v) {
		v.Market = mem.Market
	}
	return v
}

// path renders changes as "Band/gate" steps.
func path(cs []topics.RegimeChange) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.To+"/"+c.Gate)
	}
	return out
}

// indexAfter is the first index >= from where pred holds, or -1.
func indexAfter(cs []topics.RegimeChange, from int, pred func(topics.RegimeChange) bool) int {
	for i := from; i < len(cs); i++ {
		if pred(cs[i]) {
			return i
		}
	}
	return -1
}

func TestRegimeCrashGoesCalmToCriticalToCooldownToCalm(t *testing.T) {
	r := newRegimeTest(t)
	_, frames := ptest.Crash().Frames()
	for _, f := range frames {
		r.feed(f)
	}
	cs := r.drain(t)
	t.Logf("path: %v", path(cs))
	if len(cs) == 0 || cs[0].To != string(regimestate.Calm) {
		t.Fatalf("first band is not Calm: %v", path(cs))
	}
	crit := indexAfter(cs, 0, func(c topics.RegimeChange) bool {
		return c.To == string(regimestate.Critical) && c.Gate == regimestate.GateBlocked
	})
	cool := indexAfter(cs, max(crit, 0), func(c topics.RegimeChange) bool { return c.Gate == regimestate.GateCooldown })
	open := indexAfter(cs, max(cool, 0), func(c topics.RegimeChange) bool { return c.Gate == regimestate.GateOpen })
	if crit < 0 || cool < 0 || open < 0 {
		t.Fatalf("want Critical, then cooldown, then open; got %v", path(cs))
	}
	if got := cs[open].AtMs - cs[cool].AtMs; got < (30 * time.Minute).Milliseconds() {
		t.Fatalf("cooldown lasted %s, want 30m", time.Duration(got)*time.Millisecond)
	}
	if last := cs[len(cs)-1]; last.To != string(regimestate.Calm) || last.Gate != regimestate.GateOpen {
		t.Fatalf("market did not settle to Calm/open: %v", path(cs))
	}
	for _, c := range cs[:crit] {
		if c.To == string(regimestate.Critical) {
			t.Fatalf("Critical before the crash: %v", path(cs))
		}
	}
	st := r.state(t)
	if st.Band != regimestate.Calm || st.Gate != regimestate.GateOpen || st.Inputs.Symbols != 30 || st.Records != int64(len(frames)) {
		t.Fatalf("final state %+v", st.Inputs)
	}
}

func TestRegimeOverrideBeatsTheCooldownAndExpiresByItself(t *testing.T) {
	r := newRegimeTest(t)
	times, frames := ptest.Crash().Frames()
	i := 0
	for ; i < len(frames); i++ {
		r.feed(frames[i])
		if r.state(t).Gate == regimestate.GateCooldown {
			break
		}
	}
	if i == len(frames) {
		t.Fatal("never reached the cooldown")
	}
	until := times[i] + (10 * time.Minute).Milliseconds()
	ov, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "allow", UntilMs: until, Reason: "test", CreatedMs: times[i]})
	r.setOverride(t, ov)
	r.drain(t)
	i++
	r.feed(frames[i])
	if st := r.state(t); st.Gate != regimestate.GateOverrideAllow || st.Override == nil {
		t.Fatalf("override did not beat the cooldown: gate %s", st.Gate)
	}
	for i++; times[i] < until; i++ {
		r.feed(frames[i])
	}
	r.feed(frames[i])
	if st := r.state(t); st.Gate != regimestate.GateCooldown || st.Override != nil {
		t.Fatalf("expired override still in force: gate %s", st.Gate)
	}
	cs := r.drain(t)
	if !slices.ContainsFunc(cs, func(c topics.RegimeChange) bool { return c.Gate == regimestate.GateCooldown }) {
		t.Fatalf("no change record for the override ending: %v", path(cs))
	}
}

func TestRegimeReplayIsIdentical(t *testing.T) {
	_, frames := ptest.Crash().Frames()
	run := func() ([]byte, []byte) {
		r := newRegimeTest(t)
		for _, f := range frames {
			r.feed(f)
		}
		cs, _ := json.Marshal(r.drain(t))
		st, _ := json.Marshal(r.state(t))
		return cs, st
	}
	c1, s1 := run()
	c2, s2 := run()
	if string(c1) != string(c2) {
		t.Fatal("replay gave a different change sequence")
	}
	if string(s1) != string(s2) {
		t.Fatal("replay gave a different final state")
	}
}

func TestRegimeQuarantinesUndecodableFramesAndKeepsGoing(t *testing.T) {
	r := newRegimeTest(t)
	q := r.tt.NewQueueTracker(string(QuarantineTopic(prefix)))
	r.feed([]byte(`not json`))
	_, frames := ptest.Crash().Frames()
	r.feed(frames[0])
	if _, _, ok := q.Next(); !ok {
		t.Fatal("nothing quarantined")
	}
	if st := r.state(t); st.Records != 1 {
		t.Fatalf("records %d", st.Records)
	}
}

func TestTableSpecNamesTheGokaGroupTable(t *testing.T) {
	if got, want := regimestate.TableSpec().Name(prefix), string(Table(prefix)); got != want {
		t.Fatalf("TableSpec names %q, goka uses %q", got, want)
	}
}

func TestNewRefusesAConfigWithoutBrokersOrViewOptions(t *testing.T) {
	_, err := New(DefaultConfig(nil, prefix))
	if err == nil || !strings.Contains(err.Error(), "ViewOptions") {
		t.Fatalf("New without brokers or view options: %v", err)
	}
}
