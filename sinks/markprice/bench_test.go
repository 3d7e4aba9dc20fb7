package markprice

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/universe"
)

// fullUniverse seeds rows x 568 symbols on MariaDB (4 venues: 2,272 rows, the
// issue's full tick; 40: 22,720 rows, ten times that) and returns their ids.
func fullUniverse(b *testing.B, venues int) (*db.DB, []int64) {
	d := dbtest.MySQL(b)
	var syms []db.Symbol
	for v := range venues {
		for _, in := range universe.Instruments() {
			syms = append(syms, db.Symbol{Exchange: fmt.Sprintf("venue%02d", v), Symbol: in.Symbol, Token: in.Token, Quote: in.Quote})
		}
	}
	ctx := context.Background()
	if err := d.UpsertSymbols(ctx, syms); err != nil {
		b.Fatal(err)
	}
	rows := dbtest.Dump(b, d, "SELECT id FROM exchange_symbols")
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i], _ = strconv.ParseInt(r[0], 10, 64)
	}
	return d, ids
}

func updatesFor(ids []int64, round int) []Update {
	us := make([]Update, len(ids))
	for i, id := range ids {
		us[i] = Update{ID: id, Price: strconv.FormatFloat(float64(round)+float64(i)/1e4, 'f', -1, 64)}
	}
	return us
}

// BenchmarkTick compares a full tick written as chunked CASE/WHEN updates
// with one UPDATE per row (same transaction shape), on MariaDB, in one run.
func BenchmarkTick(b *testing.B) {
	for _, venues := range []int{4, 40} {
		b.Run(fmt.Sprintf("rows=%d", venues*universe.Size), func(b *testing.B) {
			d, ids := fullUniverse(b, venues)
			ctx := context.Background()
			measure := func(write func(context.Context, *db.DB, []Update, time.Time) error, rounds int) time.Duration {
				start := time.Now()
				for r := range rounds {
					if err := write(ctx, d, updatesFor(ids, r+1), time.Now()); err != nil {
						b.Fatal(err)
					}
				}
				return time.Since(start) / time.Duration(rounds)
			}
			measure(WriteTick, 1) // warm up
			var base, fast time.Duration
			for i := 0; i < b.N; i++ {
				base += measure(WriteRowByRow, 1)
				fast += measure(WriteTick, 5)
			}
			b.ReportMetric(float64(base)/float64(fast), "x_faster")
			b.ReportMetric(float64(fast)/float64(b.N)/1e6, "ms/tick_case")
			b.ReportMetric(float64(base)/float64(b.N)/1e6, "ms/tick_per_row")
		})
	}
}
