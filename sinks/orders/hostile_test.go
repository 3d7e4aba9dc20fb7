package orders

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/sinks/internal/consume"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// hostileCase poisons a copy of a real event of the history. The copy is
// newer than anything stored, so if it were accepted it would move its row
// (and checkTruth would fail).
type hostileCase struct {
	reason string // expected in the quarantine error
	poison func(e *topics.OrderEvent)
	raw    func(b []byte) []byte // optional: edit the encoded value
}

var hostileCases = []hostileCase{
	{reason: "cum qty", poison: func(e *topics.OrderEvent) { e.CumQty = "1e999999" }},
	{reason: "last qty: invalid value: \"-3\" is negative", poison: func(e *topics.OrderEvent) { e.LastQty, e.TradeID = "-3", 999_001 }},
	{reason: "price: invalid value: \"NaN\"", poison: func(e *topics.OrderEvent) { e.Price = "NaN" }},
	{reason: "orig qty", poison: func(e *topics.OrderEvent) { e.OrigQty = "-Inf" }},
	{reason: "avg price", poison: func(e *topics.OrderEvent) { e.AvgPrice = "1234567890123456789" }},
	{reason: "stop price", poison: func(e *topics.OrderEvent) { e.StopPrice = "-0.5" }},
	{reason: "last price", poison: func(e *topics.OrderEvent) { e.LastPrice = "0x10" }},
	{reason: "commission", poison: func(e *topics.OrderEvent) { e.Commission = "1E5" }},
	{reason: "realized profit", poison: func(e *topics.OrderEvent) { e.RealizedProfit = strings.Repeat("9", 50) }},
	{reason: "event time: event time 4102444800000", poison: func(e *topics.OrderEvent) { e.EventTime = 4102444800000 }},
	{reason: "transaction time", poison: func(e *topics.OrderEvent) { e.TransactionTime = 4102444800000 }},
	{reason: "event time", poison: func(e *topics.OrderEvent) { e.EventTime = -5 }},
	{reason: "symbol", poison: func(e *topics.OrderEvent) { e.Symbol = "BTC\xffUSDT" }},
	{reason: "symbol", poison: func(e *topics.OrderEvent) { e.Symbol = "btcusdt'; DROP TABLE orders; --" }},
	{reason: "exchange", poison: func(e *topics.OrderEvent) { e.Exchange = "ftx" }},
	{reason: "status", poison: func(e *topics.OrderEvent) { e.Status = "filled" }},
	{reason: "side", poison: func(e *topics.OrderEvent) { e.Side = "HOLD" }},
	{reason: "position side", poison: func(e *topics.OrderEvent) { e.PositionSide = strings.Repeat("L", 300) }},
	{reason: "trade id -1 is negative", poison: func(e *topics.OrderEvent) { e.TradeID = -1 }},
	{reason: "is not positive", poison: func(e *topics.OrderEvent) {
		if e.OrderID != 0 {
			e.OrderID = -e.OrderID
		} else {
			e.AlgoID = -e.AlgoID
		}
	}},
	{reason: "orig qty", poison: func(e *topics.OrderEvent) { e.OrigQty = "1000000000000000000" }},
	{reason: "client order id", poison: func(e *topics.OrderEvent) { e.ClientOrderID = "x\x00y" }},
	{reason: "account", poison: func(e *topics.OrderEvent) { e.Account = "acc\xff" }},
	{reason: "cannot unmarshal number 99999999999999999999", poison: func(*topics.OrderEvent) {}, raw: func(b []byte) []byte {
		// after any order_id of the event, so this one is the one decoded
		return []byte(strings.Replace(string(b), `"event_time":`, `"order_id":99999999999999999999,"event_time":`, 1))
	}},
	{reason: "cannot unmarshal string", poison: func(*topics.OrderEvent) {}, raw: func(b []byte) []byte {
		return []byte(strings.Replace(string(b), `"event_time":`, `"event_time":"soon","x":`, 1))
	}},
}

// poisonedRecord returns the hostile record of c built on base.
func poisonedRecord(t testing.TB, prefix string, base *topics.OrderEvent, c hostileCase) *kgo.Record {
	e := *base
	e.EventTime += 10_000_000 // newer than the whole history of its account
	e.TransactionTime += 10_000_000
	e.Status, e.ExecutionType = "FILLED", "TRADE"
	c.poison(&e)
	b, err := json.Marshal(&e)
	if err != nil {
		t.Fatal(err)
	}
	if c.raw != nil {
		b = c.raw(b)
	}
	return &kgo.Record{Topic: topics.Orders.Name(prefix), Key: []byte(base.Account), Value: b}
}

func TestDecodeRefusesEveryHostileValue(t *testing.T) {
	tr := history(3, 1, 4)
	base := tr.events[0]
	for _, c := range hostileCases {
		rec := poisonedRecord(t, "p.", base, c)
		_, err := Decode(rec.Value)
		if err == nil || !strings.Contains(err.Error(), c.reason) {
			t.Errorf("%s: %v", c.reason, err)
			continue
		}
		if !consume.IsBadRecord(err) && !strings.Contains(err.Error(), "unmarshal") {
			t.Errorf("%s: %v is not marked as a bad record", c.reason, err)
		}
	}
	// Zero is legal where Binance sends it: a market order's price.
	ok := *base
	ok.Price, ok.AvgPrice, ok.StopPrice, ok.LastPrice, ok.LastQty, ok.RealizedProfit = "0", "0", "0", "0", "0", "-12.5"
	b, _ := json.Marshal(&ok)
	if _, err := Decode(b); err != nil {
		t.Errorf("a market order's 0 price: %v", err)
	}
}

// Every real order frame converts into an event the sink accepts.
func TestDecodeAcceptsTheRealFrames(t *testing.T) {
	paths := testkit.SharedFiles(t, "binance-frames/*.json")
	n := 0
	for _, p := range paths {
		if !strings.Contains(p, "ORDER_TRADE_UPDATE") && !strings.Contains(p, "ALGO_UPDATE") {
			continue
		}
		raw, _ := os.ReadFile(p)
		ev, err := binance.Decode(raw)
		if err != nil {
			continue
		}
		oe := ev.OrderEvent("binance", "acc-1", "stream")
		b, _ := json.Marshal(&oe)
		if _, err := DecodeAt(b, time.UnixMilli(oe.EventTime), time.Minute); err != nil {
			if oe.OrderID == 0 && oe.AlgoID == 0 {
				continue // a frame without an id (docs excerpt): refused for that
			}
			t.Errorf("%s: %v", filepath.Base(p), err)
		}
		n++
	}
	if n == 0 {
		t.Fatal("no order frame among the real frames")
	}
}

// absurdValues counts rows of orders, algo_orders and order_fills holding a
// value no valid event carries.
func absurdValues(t testing.TB, d *db.DB) int {
	n := 0
	for _, q := range []string{
		"FROM orders WHERE cum_qty LIKE '%e%' OR cum_qty LIKE '-%' OR price LIKE '%N%' OR orig_qty LIKE '-%' OR event_time > 4000000000000 OR symbol <> 'BTCUSDT' OR exchange <> 'binance' OR status = 'filled'",
		"FROM algo_orders WHERE cum_qty LIKE '%e%' OR cum_qty LIKE '-%' OR event_time > 4000000000000 OR symbol <> 'BTCUSDT'",
		"FROM order_fills WHERE qty LIKE '-%' OR qty LIKE '%e%' OR trade_id < 0 OR symbol <> 'BTCUSDT'",
	} {
		n += dbtest.Count(t, d, q)
	}
	return n
}

// Issue 10 item 8 over TCP into a running sink: every hostile event is
// quarantined with its reason, the history around it (other accounts, the
// same account, the same orders) is written exactly as without it, and no
// absurd value reaches orders, algo_orders or order_fills.
func TestOrdersSinkHostileEvents(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			tr := history(5, 4, 12)
			env := sinktest.Start(t)
			d := f.New(t)
			topic := topics.Orders.Name(env.Prefix)
			var recs []*kgo.Record
			reasons := map[*kgo.Record]string{}
			for i, e := range tr.events {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Account), Value: sinktest.JSON(t, e)})
				if i%3 == 0 && len(reasons) < len(hostileCases) {
					h := poisonedRecord(t, env.Prefix, e, hostileCases[len(reasons)])
					reasons[h] = hostileCases[len(reasons)].reason
					recs = append(recs, h)
				}
			}
			if len(reasons) != len(hostileCases) {
				t.Fatalf("history too short for %d cases", len(hostileCases))
			}
			env.Produce(t, recs...)
			runUntilCommitted(t, env, newSink(t, env, d, "orders"), "orders")
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatal(err)
			}
			if n := absurdValues(t, d); n != 0 {
				t.Errorf("%d rows with absurd values", n)
			}
			q := env.Quarantined(t, len(reasons), 10*time.Second)
			if len(q) != len(reasons) {
				t.Errorf("%d quarantined, want %d", len(q), len(reasons))
			}
			for h, reason := range reasons {
				if got := q[sinktest.PosOf(h)]; !strings.Contains(got.Error, reason) {
					t.Errorf("quarantined with %q, want %q", got.Error, reason)
				}
			}
		})
	}
}

// An event the database refuses although it is valid (here: a price longer
// than a narrowed column, MariaDB 1406, PostgreSQL 22001) is isolated by
// bisecting the batch and quarantined with the database's reason; the rest
// of the batch is written and the offsets move on.
func TestOrdersSinkQuarantinesWhatTheDatabaseRefuses(t *testing.T) {
	for _, f := range dbtest.All()[:2] {
		t.Run(f.Name, func(t *testing.T) {
			tr := history(7, 3, 10)
			env := sinktest.Start(t)
			d := f.New(t)
			alter := "ALTER TABLE orders MODIFY price VARCHAR(6) NOT NULL DEFAULT ''"
			if d.Dialect == db.Postgres {
				alter = "ALTER TABLE orders ALTER COLUMN price TYPE VARCHAR(6)"
			}
			if _, err := d.ExecContext(context.Background(), alter); err != nil {
				t.Fatal(err)
			}
			topic := topics.Orders.Name(env.Prefix)
			var recs []*kgo.Record
			for _, e := range tr.events {
				recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Account), Value: sinktest.JSON(t, e)})
			}
			wide := *tr.events[0]
			wide.OrderID, wide.Price = 9_999_999, "60000.25" // valid, but 8 characters
			bad := &kgo.Record{Topic: topic, Key: []byte(wide.Account), Value: sinktest.JSON(t, &wide)}
			recs = append(recs[:7], append([]*kgo.Record{bad}, recs[7:]...)...)
			env.Produce(t, recs...)
			runUntilCommitted(t, env, newSink(t, env, d, "orders"), "orders")
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatal(err)
			}
			q := env.Quarantined(t, 1, 10*time.Second)
			got := q[sinktest.PosOf(bad)]
			if len(q) != 1 || !strings.Contains(got.Error, "refused by the database") {
				t.Errorf("quarantine %+v", q)
			}
			t.Logf("reason: %s", got.Error)
		})
	}
}

// A bad record and an outage at once: with the database down, the batch
// holding an event the database refuses is retried (never quarantined for
// the outage); once it is back, the bad event alone is quarantined and the
// rest equals the ground truth.
func TestOrdersSinkOutageWithABadRecord(t *testing.T) {
	tr := history(9, 3, 10)
	env := sinktest.Start(t)
	d := dbtest.MySQL(t)
	if _, err := d.ExecContext(context.Background(), "ALTER TABLE orders MODIFY price VARCHAR(6) NOT NULL DEFAULT ''"); err != nil {
		t.Fatal(err)
	}
	pd, proxy := sinktest.DBBehindProxy(t, d)
	s := newSink(t, env, pd, "orders")
	r := sinktest.Run(t, s.Run)
	proxy.Down()
	topic := topics.Orders.Name(env.Prefix)
	var recs []*kgo.Record
	for _, e := range tr.events {
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(e.Account), Value: sinktest.JSON(t, e)})
	}
	wide := *tr.events[0]
	wide.OrderID, wide.Price = 9_999_999, "60000.25"
	bad := &kgo.Record{Topic: topic, Key: []byte(wide.Account), Value: sinktest.JSON(t, &wide)}
	recs = append(recs[:5], append([]*kgo.Record{bad}, recs[5:]...)...)
	env.Produce(t, recs...)
	testkit.Eventually(t, 10*time.Second, "the sink to report unhealthy", func() error {
		if s.Healthy() {
			return errors.New("still healthy")
		}
		return nil
	})
	time.Sleep(300 * time.Millisecond)
	env.NoneQuarantined(t, 200*time.Millisecond)
	proxy.Up()
	env.WaitCommitted(t, "orders", topic, 30*time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := checkTruth(t, d, tr); err != nil {
		t.Fatal(err)
	}
	q := env.Quarantined(t, 2, 2*time.Second)
	if got := q[sinktest.PosOf(bad)]; len(q) != 1 || !strings.Contains(got.Error, "Data too long") {
		t.Errorf("quarantine %+v", q)
	}
}
