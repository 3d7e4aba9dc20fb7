package markprice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/universe"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// tickFrame is a !markPrice@arr frame of the whole universe with every base
// price multiplied by mult.
func tickFrame(t testing.TB, e int64, mult float64) []byte {
	type el struct {
		Ev string `json:"e"`
		E  int64  `json:"E"`
		S  string `json:"s"`
		P  string `json:"p"`
	}
	var els []el
	for _, in := range universe.Instruments() {
		els = append(els, el{"markPriceUpdate", e, in.Symbol, strconv.FormatFloat(in.BasePrice*mult, 'f', -1, 64)})
	}
	b, err := json.Marshal(els)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func markRecord(prefix string, v []byte) *kgo.Record {
	return &kgo.Record{Topic: topics.MarkPrice.Name(prefix), Key: []byte("binance"), Value: v}
}

var expectedCache sync.Map

// expected computes, from the universe alone, the price every listing must
// hold after a tick of base prices times mult (absent: no Binance source).
func expected(mult float64) map[[2]string]float64 {
	if m, ok := expectedCache.Load(mult); ok {
		return m.(map[[2]string]float64)
	}
	factor := map[[2]string]universe.Mapper{}
	for _, m := range universe.Mappers() {
		factor[[2]string{string(m.Venue), m.Token}] = m
	}
	out := map[[2]string]float64{}
	for _, v := range universe.Venues() {
		for _, l := range universe.Listings(v) {
			for _, in := range universe.Instruments() {
				tok, f := in.Token, 1.0
				if m, ok := factor[[2]string{string(v), in.Token}]; ok && v != universe.Binance {
					tok, f = m.VenueToken, m.PriceFactor
				}
				if tok == l.Token && in.Quote == l.Quote {
					out[[2]string{string(v), l.Symbol}] = in.BasePrice * mult * f
				}
			}
		}
	}
	expectedCache.Store(mult, out)
	return out
}

// checkPrices compares every exchange_symbols row with expected(mult).
func checkPrices(t testing.TB, d *db.DB, mult float64) error {
	want := expected(mult)
	rows := dbtest.Dump(t, d, "SELECT exchange, symbol, mark_price FROM exchange_symbols")
	if len(rows) == 0 {
		return errors.New("no rows")
	}
	for _, r := range rows {
		w, ok := want[[2]string{r[0], r[1]}]
		if !ok {
			if r[2] != "NULL" {
				return fmt.Errorf("%s %s has price %s but no Binance source", r[0], r[1], r[2])
			}
			continue
		}
		got, err := strconv.ParseFloat(r[2], 64)
		if err != nil || math.Abs(got-w) > w*1e-9 {
			return fmt.Errorf("%s %s = %s, want %v", r[0], r[1], r[2], w)
		}
	}
	return nil
}

func TestMarkPriceSinkContract(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) { runSinkSuite(t, f.Name, f.New) })
	}
}

func seeded(t *testing.T, newDB func(testing.TB) *db.DB) *db.DB {
	d := newDB(t)
	if _, err := d.SeedUniverse(context.Background()); err != nil {
		t.Fatal(err)
	}
	return d
}

func runSinkSuite(t *testing.T, dialect string, newDB func(testing.TB) *db.DB) {
	t.Run("a tick reaches every venue with its price factor and the newest tick wins", func(t *testing.T) {
		d := seeded(t, newDB)
		env := sinktest.Start(t)
		s, err := New(Config{Kafka: env.Kafka(), Prefix: env.Prefix, Group: "mp", FromStart: true}, d, sinktest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		r := sinktest.Run(t, s.Run)
		env.Produce(t, markRecord(env.Prefix, tickFrame(t, 1000, 1)))
		testkit.Eventually(t, 15*time.Second, "the mark prices of tick 1", func() error { return checkPrices(t, d, 1) })
		// A burst of ticks, an undecodable record in the middle: the last
		// tick is what stays.
		var burst []*kgo.Record
		for i := 2; i <= 20; i++ {
			burst = append(burst, markRecord(env.Prefix, tickFrame(t, int64(1000+i), float64(i))))
			if i == 10 {
				burst = append(burst, markRecord(env.Prefix, []byte(`{"garbage`)))
			}
		}
		env.Produce(t, burst...)
		testkit.Eventually(t, 15*time.Second, "the mark prices of tick 20", func() error { return checkPrices(t, d, 20) })
		env.WaitCommitted(t, "mp", topics.MarkPrice.Name(env.Prefix), 15*time.Second)
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
		if q := env.Consume(t, topics.Quarantine.Name(env.Prefix), 1, 5*time.Second); len(q) != 1 {
			t.Errorf("quarantine has %d records, want 1", len(q))
		}
		t.Logf("ticks written %d, skipped %d", s.Written(), s.Skipped())
		for ex, age := range s.Freshness() {
			if age > 30*time.Second {
				t.Errorf("%s freshness %s", ex, age)
			}
		}
	})
	if dialect == "sqlite" {
		return // no server to take down
	}
	t.Run("a database outage makes the sink unhealthy and the newest tick lands after it", func(t *testing.T) {
		d := seeded(t, newDB)
		env := sinktest.Start(t)
		u := dbtest.URL(d)
		proxy := sinktest.StartProxy(t, hostPort(t, dialect, u))
		pd, err := db.Open(context.Background(), viaProxy(t, u, proxy.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer pd.Close()
		s, err := New(Config{Kafka: env.Kafka(), Prefix: env.Prefix, Group: "mp", FromStart: true,
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, pd, sinktest.Logger())
		if err != nil {
			t.Fatal(err)
		}
		r := sinktest.Run(t, s.Run)
		env.Produce(t, markRecord(env.Prefix, tickFrame(t, 1, 1)))
		testkit.Eventually(t, 15*time.Second, "the mark prices of tick 1", func() error { return checkPrices(t, d, 1) })
		proxy.Down()
		env.Produce(t, markRecord(env.Prefix, tickFrame(t, 2, 2)), markRecord(env.Prefix, tickFrame(t, 3, 3)))
		testkit.Eventually(t, 10*time.Second, "the sink to report unhealthy", func() error {
			if s.Healthy() {
				return errors.New("still healthy")
			}
			return nil
		})
		proxy.Up()
		testkit.Eventually(t, 15*time.Second, "the sink to recover", func() error {
			if !s.Healthy() {
				return errors.New("not healthy again")
			}
			return checkPrices(t, d, 3)
		})
		env.NoneQuarantined(t, 500*time.Millisecond) // an outage is retried, never a bad record
		if err := r.Stop(); err != nil {
			t.Fatal(err)
		}
	})
}
