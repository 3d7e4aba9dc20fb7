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
		d, drop, err := scratchDB(ctx, u, nil)
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
