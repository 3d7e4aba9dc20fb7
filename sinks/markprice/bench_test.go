package markprice

import (
	"context"
	"encoding/json"
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

// BenchmarkTick compares a full tick (every price changed) written as
// chunked 500-row CASE/WHEN updates with two baselines of one UPDATE per
// row, on MariaDB, in one run: all rows in one transaction
// (x_vs_rows_in_one_tx), and each row its own transaction
// (x_vs_autocommit_rows, what the PHP system runs today). The CASE/WHEN path
// is timed after one warm-up tick, as in a running sink (its statements are
// prepared once per connection).
func BenchmarkTick(b *testing.B) {
	for _, venues := range []int{4, 40} {
		b.Run(fmt.Sprintf("rows=%d", venues*universe.Size), func(b *testing.B) {
			d, ids := fullUniverse(b, venues)
			ctx := context.Background()
			round := 0
			measure := func(write func(context.Context, *db.DB, []Update, time.Time) error, rounds int) time.Duration {
				var total time.Duration
				for range rounds {
					round++
					us := updatesFor(ids, round) // every price differs from the last tick
					start := time.Now()
					if err := write(ctx, d, us, time.Now()); err != nil {
						b.Fatal(err)
					}
					total += time.Since(start)
				}
				return total / time.Duration(rounds)
			}
			measure(WriteTick, 1) // warm up
			var auto, inTx, fast time.Duration
			for i := 0; i < b.N; i++ {
				auto += measure(WriteRowByRowAutocommit, 1)
				inTx += measure(WriteRowByRow, 1)
				fast += measure(WriteTick, 5)
			}
			n := float64(b.N)
			b.ReportMetric(float64(fast)/n/1e6, "ms/tick_case")
			b.ReportMetric(float64(inTx)/n/1e6, "ms/tick_rows_in_one_tx")
			b.ReportMetric(float64(auto)/n/1e6, "ms/tick_autocommit_rows")
			b.ReportMetric(float64(inTx)/float64(fast), "x_vs_rows_in_one_tx")
			b.ReportMetric(float64(auto)/float64(fast), "x_vs_autocommit_rows")
		})
	}
}

// binanceArray is a !markPrice@arr frame of every symbol of the universe at
// now, in Binance's compact form (about 85 KB for 568 symbols).
func binanceArray(now time.Time) []byte {
	ms := now.UnixMilli()
	buf := []byte{'['}
	for i, in := range universe.Instruments() {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, `{"e":"markPriceUpdate","E":%d,"s":%q,"p":"%.8f","i":"%.8f","P":"%.8f","r":"0.00010000","T":%d}`,
			ms, in.Symbol, 1.5+float64(i), 1.49+float64(i), 1.49+float64(i), ms+3_600_000)
	}
	return append(buf, ']')
}

// alternate times fn and base in alternating short rounds (so the load of a
// shared machine falls on both alike) and returns their ns per call.
func alternate(fn, base func()) (nsFn, nsBase float64) {
	var n [2]int
	var d [2]time.Duration
	for range 5 {
		for j, f := range []func(){fn, base} {
			start := time.Now()
			for time.Since(start) < 25*time.Millisecond {
				f()
				n[j]++
			}
			d[j] += time.Since(start)
		}
	}
	return float64(d[0].Nanoseconds()) / float64(n[0]), float64(d[1].Nanoseconds()) / float64(n[1])
}

// BenchmarkDecodeTick decodes the full 568-symbol tick (read once) and
// reports, measured in the same run, its time over a plain json.Unmarshal
// of the frame into a minimal struct per element (x_vs_json_unmarshal) and
// over the decoder it replaced, which parsed the frame twice
// (x_vs_reflection_decoder).
func BenchmarkDecodeTick(b *testing.B) {
	now := time.Now()
	frame := binanceArray(now)
	if prices, skipped, err := DecodeTickAt(frame, now, time.Minute); err != nil || len(skipped) > 0 || len(prices) != universe.Size {
		b.Fatalf("%d prices, %v, %v", len(prices), skipped, err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		_, _, _ = DecodeTickAt(frame, now, time.Minute)
	}
	b.StopTimer()
	type minimal struct {
		Ev string `json:"e"`
		E  int64  `json:"E"`
		S  string `json:"s"`
		P  string `json:"p"`
	}
	decode := func() { _, _, _ = DecodeTickAt(frame, now, time.Minute) }
	ns, nsJSON := alternate(decode, func() {
		var m []minimal
		_ = json.Unmarshal(frame, &m)
	})
	_, nsRef := alternate(decode, func() { _, _, _ = refDecodeTickAt(frame, now, time.Minute) })
	b.ReportMetric(float64(len(frame)), "frame_bytes")
	b.ReportMetric(ns/1e3, "us/tick")
	b.ReportMetric(nsJSON/1e3, "us/json_unmarshal")
	b.ReportMetric(nsRef/1e3, "us/reflection_decoder")
	b.ReportMetric(ns/nsJSON, "x_vs_json_unmarshal")
	b.ReportMetric(ns/nsRef, "x_vs_reflection_decoder")
}
