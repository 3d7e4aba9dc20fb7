package markprice

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/universe"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// poisoned returns tickFrame(e, mult) with symbol's element replaced by raw
// (a JSON object) and "P" set to a different price on every element.
func poisoned(t testing.TB, e int64, mult float64, symbol, raw string) []byte {
	var els []map[string]any
	if err := json.Unmarshal(tickFrame(t, e, mult), &els); err != nil {
		t.Fatal(err)
	}
	out := make([]json.RawMessage, 0, len(els))
	for _, el := range els {
		if el["s"] == symbol {
			out = append(out, json.RawMessage(raw))
			continue
		}
		el["P"] = "77777" // the estimated settle price: never the mark price
		b, _ := json.Marshal(el)
		out = append(out, b)
	}
	b, _ := json.Marshal(out)
	return b
}

// rowPrice is symbol's mark price on Binance as text ("NULL" when unset).
func rowPrice(t testing.TB, d *db.DB, symbol string) string {
	rows := dbtest.Dump(t, d, "SELECT mark_price FROM exchange_symbols WHERE exchange = 'binance' AND symbol = ?", symbol)
	if len(rows) != 1 {
		t.Fatalf("%s: %d rows", symbol, len(rows))
	}
	return rows[0][0]
}

// Issue 10 items 4 and 5 over TCP into a running sink: a 19-digit price, 0,
// a negative, NaN and "1e999999" for one symbol inside otherwise good
// frames, a far-future E, a frame with nothing usable and a "P" that
// differs from "p" on every element. Every other symbol and venue keeps
// moving, the absurd values are never written, the all-bad frame is in
// quarantine with its reason, and a far-future tick cannot keep a price
// ahead of newer ticks.
func TestMarkPriceSinkHostileTicks(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := seeded(t, f.New)
			env := sinktest.Start(t)
			s, err := New(Config{Kafka: env.Kafka(), Prefix: env.Prefix, Group: "mp", FromStart: true,
				MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, d, sinktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			r := sinktest.Run(t, s.Run)
			now := time.Now().UnixMilli()
			env.Produce(t, markRecord(env.Prefix, tickFrame(t, now, 1)))
			testkit.Eventually(t, 15*time.Second, "the mark prices of tick 1", func() error { return checkPrices(t, d, 1) })
			btc := rowPrice(t, d, "BTCUSDT")

			hostile := []string{
				`{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"1234567890123456789"}`,
				`{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"0"}`,
				`{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"-65000"}`,
				`{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"NaN"}`,
				`{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"1e999999"}`,
			}
			for i, h := range hostile {
				env.Produce(t, markRecord(env.Prefix, poisoned(t, now+int64(i)+1, 2, "BTCUSDT", fmt.Sprintf(h, now+int64(i)+1))))
			}
			allBad := markRecord(env.Prefix, []byte(fmt.Sprintf(`[{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"0"},{"e":"markPriceUpdate","E":%d,"s":"ETHUSDT","p":"-1"}]`, now+10, now+10)))
			env.Produce(t, allBad)
			// Every other symbol moved to 2x (not to "P"); BTC kept its price.
			testkit.Eventually(t, 15*time.Second, "the ticks around the hostile records", func() error {
				if err := checkPrices(t, d, 2); err != nil && !strings.Contains(err.Error(), "BTC") && !strings.Contains(err.Error(), "XBT") {
					return err
				}
				if got := rowPrice(t, d, "ETHUSDT"); !strings.HasPrefix(got, fmt.Sprint(expected(2)[[2]string{"binance", "ETHUSDT"}])) {
					return fmt.Errorf("ETHUSDT = %s", got)
				}
				return nil
			})
			if got := rowPrice(t, d, "BTCUSDT"); got != btc {
				t.Errorf("BTCUSDT = %s after the hostile ticks, want %s", got, btc)
			}

			// A far-future tick is refused; the next real tick lands.
			future := markRecord(env.Prefix, []byte(`[{"e":"markPriceUpdate","E":4102444800000,"s":"BTCUSDT","p":"1"}]`))
			env.Produce(t, future)
			env.Produce(t, markRecord(env.Prefix, tickFrame(t, time.Now().UnixMilli(), 3)))
			testkit.Eventually(t, 15*time.Second, "the mark prices of tick 3", func() error { return checkPrices(t, d, 3) })

			if n := dbtest.Count(t, d, "FROM exchange_symbols WHERE mark_price <= 0 OR mark_price > 100000000"); n != 0 {
				t.Errorf("%d rows with an absurd mark price", n)
			}
			env.WaitCommitted(t, "mp", topics.MarkPrice.Name(env.Prefix), 15*time.Second)
			q := env.Quarantined(t, 2, 10*time.Second)
			if got := q[sinktest.PosOf(allBad)]; !strings.Contains(got.Error, "no usable markPriceUpdate") || !strings.Contains(got.Error, "is zero") {
				t.Errorf("the all-bad frame: quarantined with %q", got.Error)
			}
			if got := q[sinktest.PosOf(future)]; !strings.Contains(got.Error, "ahead of this consumer's clock") {
				t.Errorf("the far-future frame: quarantined with %q", got.Error)
			}
			if len(q) != 2 {
				t.Errorf("%d frames quarantined, want 2", len(q))
			}
			if s.Refused() < uint64(len(hostile)+3) {
				t.Errorf("refused %d ticks, want at least %d", s.Refused(), len(hostile)+3)
			}
			if !s.Healthy() {
				t.Error("unhealthy")
			}
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A price the database refuses (a column narrowed to DECIMAL(12,2), so a
// valid 11-integer-digit price is out of range: MariaDB 1264, PostgreSQL
// 22003) is isolated: its rows are dropped and its frame quarantined with
// the database's reason, every other row of the tick is written, and the
// sink stays healthy instead of retrying forever.
func TestMarkPriceSinkQuarantinesWhatTheDatabaseRefuses(t *testing.T) {
	for _, f := range dbtest.All()[:2] {
		t.Run(f.Name, func(t *testing.T) {
			d := seeded(t, f.New)
			alter := "ALTER TABLE exchange_symbols MODIFY mark_price DECIMAL(12,2) NULL"
			if d.Dialect == db.Postgres {
				alter = "ALTER TABLE exchange_symbols ALTER COLUMN mark_price TYPE NUMERIC(12,2)"
			}
			if _, err := d.ExecContext(context.Background(), alter); err != nil {
				t.Fatal(err)
			}
			env := sinktest.Start(t)
			s, err := New(Config{Kafka: env.Kafka(), Prefix: env.Prefix, Group: "mp", FromStart: true,
				MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, d, sinktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			r := sinktest.Run(t, s.Run)
			now := time.Now().UnixMilli()
			// 100x: every base price fits 10 integer digits except
			// nothing; BTC is set to 11 digits.
			rec := markRecord(env.Prefix, poisoned(t, now, 100, "BTCUSDT",
				fmt.Sprintf(`{"e":"markPriceUpdate","E":%d,"s":"BTCUSDT","p":"12345678901.5"}`, now)))
			env.Produce(t, rec)
			testkit.Eventually(t, 15*time.Second, "ETHUSDT written", func() error {
				if got := rowPrice(t, d, "ETHUSDT"); got == "NULL" {
					return fmt.Errorf("ETHUSDT not written")
				}
				return nil
			})
			env.WaitCommitted(t, "mp", topics.MarkPrice.Name(env.Prefix), 15*time.Second)
			if got := rowPrice(t, d, "BTCUSDT"); got != "NULL" {
				t.Errorf("BTCUSDT = %s, want it untouched", got)
			}
			if n := dbtest.Count(t, d, "FROM exchange_symbols WHERE mark_price IS NOT NULL"); n < len(universe.Instruments()) {
				t.Errorf("only %d rows written", n)
			}
			q := env.Quarantined(t, 1, 10*time.Second)
			got := q[sinktest.PosOf(rec)]
			if len(q) != 1 || !strings.Contains(got.Error, "refused by the database") || !strings.Contains(got.Error, "BTCUSDT") {
				t.Errorf("quarantine %+v", q)
			}
			t.Logf("reason: %s", got.Error)
			if !s.Healthy() || s.Refused() == 0 {
				t.Errorf("healthy %v refused %d", s.Healthy(), s.Refused())
			}
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}
