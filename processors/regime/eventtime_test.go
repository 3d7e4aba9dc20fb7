package regime

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// year2100 is the E of the hostile record of issue 10 (2100-01-01).
const year2100 = int64(4102444800000)

// clockAt pins the processor's clock.
func clockAt(t time.Time) func(*Config) {
	return func(c *Config) { c.Now = func() time.Time { return t } }
}

func hostileFrame(e int64) []byte {
	return fmt.Appendf(nil, `[{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"1.0","P":"1.0","i":"1.0","r":"0","T":%d}]`, e, e)
}

// criticalReached feeds frames and reports whether the gate was blocked
// by Critical at some point.
func criticalReached(t *testing.T, r *regimeTest, frames [][]byte) bool {
	t.Helper()
	for _, f := range frames {
		r.feed(f)
	}
	for _, c := range r.drain(t) {
		if c.To == string(regimestate.Critical) && c.Gate == regimestate.GateBlocked {
			return true
		}
	}
	return false
}

func TestRegimeQuarantinesAFarFutureRecordAndStillSeesTheCrash(t *testing.T) {
	times, frames := ptest.Crash().Frames()
	end := time.UnixMilli(times[len(times)-1])
	r := newRegimeTest(t, clockAt(end))
	q := r.tt.NewQueueTracker(string(QuarantineTopic(prefix)))

	r.feed(hostileFrame(year2100))
	if v := r.tt.TableValue(Table(prefix), topics.ExchangeBinance); v != nil {
		t.Fatalf("a far-future record created state: %+v", v)
	}
	_, v, ok := q.Next()
	if !ok || !strings.Contains(v.(*topics.QuarantineRecord).Error, "ahead of this consumer's clock") {
		t.Fatalf("far-future record not quarantined with its reason: %v %+v", ok, v)
	}
	// Just past the tolerance is refused too; within it is accepted.
	r.feed(hostileFrame(end.Add(topics.DefaultMaxAhead + time.Second).UnixMilli()))
	if v := r.tt.TableValue(Table(prefix), topics.ExchangeBinance); v != nil {
		t.Fatalf("a record 61 s ahead created state: %+v", v)
	}

	if !criticalReached(t, r, frames) {
		t.Fatal("the crash after a far-future record never drove the band to Critical")
	}
	if st := r.state(t); st.AtMs != times[len(times)-1] || st.Records != int64(len(frames)) {
		t.Fatalf("state at %d with %d records, want %d and %d", st.AtMs, st.Records, times[len(times)-1], len(frames))
	}
}

func TestRegimeDropsFarFutureTicksInsideAFrame(t *testing.T) {
	times, frames := ptest.Crash().Frames()
	r := newRegimeTest(t, clockAt(time.UnixMilli(times[len(times)-1])))
	q := r.tt.NewQueueTracker(string(QuarantineTopic(prefix)))
	var arr []map[string]any
	if err := json.Unmarshal(frames[0], &arr); err != nil {
		t.Fatal(err)
	}
	arr[1]["E"] = year2100 // one altcoin claims 2100
	mixed, _ := json.Marshal(arr)
	r.feed(mixed)
	st := r.state(t)
	if st.AtMs != times[0] || st.Inputs.Symbols != len(arr)-1 {
		t.Fatalf("mixed frame: state at %d with %d symbols, want %d and %d", st.AtMs, st.Inputs.Symbols, times[0], len(arr)-1)
	}
	if _, v, ok := q.Next(); !ok || !strings.Contains(v.(*topics.QuarantineRecord).Error, "refused 1 of 30 ticks") {
		t.Fatalf("mixed frame not quarantined with its reason: %+v", v)
	}
	if !criticalReached(t, r, frames[1:]) {
		t.Fatal("no Critical after a mixed frame")
	}
}

func TestRegimeResetsAStatePoisonedInTheFuture(t *testing.T) {
	times, frames := ptest.Crash().Frames()
	r := newRegimeTest(t, clockAt(time.UnixMilli(times[len(times)-1])))
	// What an older version persisted after the hostile record.
	poisoned := &State{State: regimestate.State{Scope: topics.ExchangeBinance, AtMs: year2100, Band: regimestate.Calm, SinceMs: year2100, Gate: regimestate.GateOpen, Records: 7},
		Market: Market{AtMs: year2100, Symbols: map[string]*Series{"BTCUSDT": {LastMs: year2100, Last: 1}}}}
	r.tt.SetTableValue(Table(prefix), topics.ExchangeBinance, poisoned)
	if !criticalReached(t, r, frames) {
		t.Fatal("a poisoned state still froze the regime")
	}
	if st := r.state(t); st.AtMs != times[len(times)-1] || st.Records != 7+int64(len(frames)) {
		t.Fatalf("state at %d, %d records", st.AtMs, st.Records)
	}
}

func TestBoundTicksRefusesZeroAndFutureTimes(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	ok := Tick{Symbol: "A", Price: 1, AtMs: now.UnixMilli()}
	for _, tc := range []struct {
		name  string
		at    int64
		ticks []Tick
		kept  int
		err   bool
	}{
		{"all good", ok.AtMs, []Tick{ok}, 1, false},
		{"zero time", 0, []Tick{{Symbol: "A", Price: 1}}, 0, true},
		{"negative time", -5, []Tick{{Symbol: "A", Price: 1, AtMs: -5}}, 0, true},
		{"frame E ahead, ticks fine", year2100, []Tick{ok}, 1, true},
		{"one tick ahead", year2100, []Tick{ok, {Symbol: "B", Price: 1, AtMs: year2100}}, 1, true},
		{"max int64", 1<<63 - 1, []Tick{{Symbol: "A", Price: 1, AtMs: 1<<63 - 1}}, 0, true},
	} {
		at, kept, err := BoundTicks(tc.at, tc.ticks, now, 0)
		if len(kept) != tc.kept || (err != nil) != tc.err {
			t.Errorf("%s: kept %d err %v", tc.name, len(kept), err)
		}
		if len(kept) > 0 && at != ok.AtMs {
			t.Errorf("%s: at %d", tc.name, at)
		}
	}
}

func TestRegimeQuarantinesAnUnknownExchangeKeyAndAFrameWithoutValidTicks(t *testing.T) {
	r := newRegimeTest(t)
	q := r.tt.NewQueueTracker(string(QuarantineTopic(prefix)))
	_, frames := ptest.Crash().Frames()
	r.tt.Consume(string(InputTopic(prefix)), "evil\x00", frames[0])
	if v := r.tt.TableValue(Table(prefix), "evil\x00"); v != nil {
		t.Fatalf("a record under an unknown key created state: %+v", v)
	}
	r.feed([]byte(`[{"e":"markPriceUpdate","E":1772324460000,"s":"BTCUSDT","p":"1e5"},{"e":"markPriceUpdate","E":1772324460000,"s":"ETHUSDT","p":"0"}]`))
	if v := r.tt.TableValue(Table(prefix), topics.ExchangeBinance); v != nil {
		t.Fatalf("a frame without a valid price created state: %+v", v)
	}
	for _, want := range []string{"mark-price record key", "without a valid symbol and price"} {
		_, v, ok := q.Next()
		if !ok || !strings.Contains(v.(*topics.QuarantineRecord).Error, want) {
			t.Fatalf("want a quarantine record with %q, got %v %+v", want, ok, v)
		}
	}
}

// TestRegimeOneRecordInventingSymbolsNeitherDegradesNorGrowsTheState: a
// record with 1,500 invented (well-formed) symbols between two real frames
// leaves the gate open, the invented symbols are forgotten within
// DegradedAfter, and a crash afterwards still closes the gate.
func TestRegimeOneRecordInventingSymbolsNeitherDegradesNorGrowsTheState(t *testing.T) {
	times, frames := ptest.Crash().Frames()
	r := newRegimeTest(t, clockAt(time.UnixMilli(times[len(times)-1])))
	for _, f := range frames[:20] {
		r.feed(f)
	}
	var ticks []Tick
	for i := range 1500 {
		ticks = append(ticks, Tick{Symbol: fmt.Sprintf("FAKE%04dUSDT", i), Price: 1})
	}
	r.feed(frameOf(times[19]+1000, ticks))
	if st := r.state(t); st.Gate != regimestate.GateOpen || st.Inputs.Symbols != 30 || len(st.Market.Symbols) != 1530 {
		t.Fatalf("right after the flood: gate %s (%s), %d symbols known, %d kept", st.Gate, st.Degraded, st.Inputs.Symbols, len(st.Market.Symbols))
	}
	for _, f := range frames[20:22] {
		r.feed(f)
	}
	if st := r.state(t); st.Gate != regimestate.GateOpen || len(st.Market.Symbols) != 30 {
		t.Fatalf("after the flood: gate %s (%s), %d symbols kept", st.Gate, st.Degraded, len(st.Market.Symbols))
	}
	if !criticalReached(t, r, frames[22:]) {
		t.Fatal("no Critical after the flood")
	}
}
