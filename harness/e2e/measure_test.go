package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// A window frame without an exchange time (neither T nor E) is accounted
// for and counted, never timed: it adds no sample to a path measured from
// the exchange time (it would be measured from 1970), while the stages
// that do not start at the exchange time still time it.
func TestMeasureLeavesUntimedFramesOutOfExchangeTimePaths(t *testing.T) {
	base := time.UnixMilli(1_700_000_000_000)
	frames := frameSet{
		parseFrame("a", []byte(`{"e":"ORDER_TRADE_UPDATE","E":1700000000000,"T":1700000000000,"o":{"i":6,"X":"FILLED","x":"TRADE"}}`)),
		parseFrame("a", []byte(`{"e":"ORDER_TRADE_UPDATE","o":{"i":5,"X":"FILLED","x":"TRADE"}}`)),
	}
	var orderRecs, posRecs []*kgo.Record
	rows := newRowPoller(nil)
	final := map[orderKey]orderVer{}
	for _, f := range frames {
		e := topics.OrderEvent{Exchange: "binance", Account: f.account, Event: "ORDER_TRADE_UPDATE", ExecutionType: f.exec,
			Status: f.status, OrderID: f.id, EventTime: f.e}
		v, _ := json.Marshal(e)
		orderRecs = append(orderRecs, &kgo.Record{Value: v, Timestamp: base.Add(5 * time.Millisecond)})
		pv, _ := json.Marshal(topics.PositionEvent{Kind: topics.PositionOrderTransition, Account: f.account, Order: &e})
		posRecs = append(posRecs, &kgo.Record{Value: pv, Timestamp: base.Add(20 * time.Millisecond)})
		k := orderKey{f.account, f.id}
		ver := orderVer{f.e, f.t}
		rows.seen[k] = append(rows.seen[k], seenVer{f.account, f.id, ver, base.Add(10 * time.Millisecond)})
		final[k] = ver
	}
	var p Phase
	p.measure(frames, nil, orderRecs, posRecs, map[string][]time.Time{}, rows, final, nil)
	if p.NoExchangeTime != 1 || p.OrderFrames != 2 || p.RowVersionsSeen != 2 || p.MissingOrdersTopic != 0 || p.MissingOrdersRow != 0 {
		t.Fatalf("accounting: %+v", p)
	}
	for _, name := range []string{PathOrdersRow, PathTransition, "frame -> orders topic (dispatch)"} {
		if d := p.Path(name); d.N != 1 || d.Max > time.Second {
			t.Errorf("%s: %v, want the one timed frame only", name, d)
		}
	}
	for _, name := range []string{"orders topic -> orders row (orders sink)", "orders row -> transition (outbox)"} {
		if d := p.Path(name); d.N != 2 {
			t.Errorf("%s: %v, want both frames", name, d)
		}
	}
}

// The server URL (KRAITE_DATABASE_URL) is refused when it is garbage or
// names another dialect, and a password in it is never repeated in the
// error; nothing is created.
func TestScratchDBRefusesBadServerURLs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, u := range []string{"", "::not a url", "postgres://root:hunter2@127.0.0.1:1/kraite", "sqlite:///tmp/x.db",
		"mysql://root:hunter2@127.0.0.1:1/kraite", "mysql://root:hunter2@127.0.0.1:1/" + strings.Repeat("x", 1<<16)} {
		d, drop, err := ScratchDB(ctx, u, nil)
		if err == nil {
			drop()
			d.Close()
			t.Fatalf("%.40q: accepted", u)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Fatalf("%.40q: the error repeats the password: %v", u, err)
		}
	}
}

// The spread over repeated runs is the median and range of the per-run
// figures of one phase (an even count takes the mean of the middle two),
// leaving out runs without samples and other phases; the summary prints
// both phases and the ratio of the medians.
func TestSpreadOverRuns(t *testing.T) {
	ms := func(x int) time.Duration { return time.Duration(x) * time.Millisecond }
	ph := func(name string, run, p99 int) Phase {
		d := Dist{N: 10, P50: ms(p99 / 4), P99: ms(p99)}
		if p99 == 0 {
			d = Dist{}
		}
		return Phase{Name: name, Run: run, Paths: []Path{{PathOrdersRow, d}, {PathAuditRow, d}, {PathTransition, d}}}
	}
	rep := Report{Phases: []Phase{ph(PhaseNew, 1, 32), ph(PhaseBaseline, 1, 48), ph(PhaseNew, 2, 20), ph(PhaseBaseline, 2, 40),
		ph(PhaseNew, 3, 24), ph(PhaseBaseline, 3, 0), ph(PhaseNew, 4, 28), ph(PhaseBaseline, 4, 60)}}
	if got, want := rep.Spread(PhaseNew, PathOrdersRow, P99), (Spread{4, ms(26), ms(20), ms(32)}); got != want {
		t.Errorf("new: %+v, want %+v", got, want)
	}
	if got, want := rep.Spread(PhaseBaseline, PathOrdersRow, P99), (Spread{3, ms(48), ms(40), ms(60)}); got != want {
		t.Errorf("baseline: %+v, want %+v", got, want)
	}
	if got := rep.Spread("nosuch", PathOrdersRow, P99); got.Runs != 0 {
		t.Errorf("unknown phase: %+v", got)
	}
	var out strings.Builder
	rep.printSpread(&out)
	for _, want := range []string{PhaseNew + " over 4 runs", PhaseBaseline + " over 3 runs", "p99 26.0 [20.0 .. 32.0]",
		"ratio baseline/new of the medians, frame -> orders row:", "p99 1.85x"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the summary lacks %q:\n%s", want, out.String())
		}
	}
}
