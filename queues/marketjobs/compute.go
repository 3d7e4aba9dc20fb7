package marketjobs

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"

	"github.com/kraite/stream/internal/db"
)

// Indicator names as stored in indicators.name, with their periods.
const (
	NameEMA20 = "ema20"
	NameEMA50 = "ema50"
	NameRSI14 = "rsi14"
	NameATR14 = "atr14"
)

const (
	// HistoryKlines is how many of the latest stored klines ComputeIndicators
	// reads: enough for EMA(50) to forget most of its SMA seed.
	HistoryKlines = 200
	// WriteKlines is how many of the latest klines get indicator rows.
	WriteKlines = 100
)

// IndicatorRow is one row of `indicators`.
type IndicatorRow struct {
	Name     string
	OpenTime int64
	Value    float64
	Data     string // JSON parameters, e.g. {"period":20}
}

// series is stored klines in open-time order.
type series struct {
	openTime          []int64
	high, low, closes []float64
}

// ComputeIndicators reads the latest HistoryKlines stored klines of symbol
// and interval, computes EMA(20), EMA(50), RSI(14) and ATR(14) and upserts
// one row per (name, open_time) for the latest WriteKlines klines that have
// a value. It returns how many rows it wrote.
//
// Each run recomputes from the current window, so a value already stored is
// overwritten (EMA's SMA seed moves with the window; the difference decays
// as (1-k)^n and is far below the stored precision after 200 klines for
// EMA(20)). With the same stored klines a re-run writes the same values.
func ComputeIndicators(ctx context.Context, d *db.DB, exchange, symbol, interval string) (int, error) {
	s, err := loadSeries(ctx, d, exchange, symbol, interval, HistoryKlines)
	if err != nil {
		return 0, err
	}
	rows := IndicatorRows(s.openTime, s.high, s.low, s.closes, WriteKlines)
	if err := UpsertIndicators(ctx, d, exchange, symbol, interval, rows); err != nil {
		return 0, err
	}
	return len(rows), nil
}

// IndicatorRows computes the four indicators over the klines given in
// open-time order and returns the rows of the latest last open times.
func IndicatorRows(openTime []int64, high, low, closes []float64, last int) []IndicatorRow {
	first := max(0, len(openTime)-last)
	var rows []IndicatorRow
	add := func(name string, period int, vals []float64) {
		off := len(openTime) - len(vals) // values are aligned to the end
		data := `{"period":` + strconv.Itoa(period) + `}`
		for k, v := range vals {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				continue // only from absurd stored prices; never stored
			}
			if i := off + k; i >= first {
				rows = append(rows, IndicatorRow{Name: name, OpenTime: openTime[i], Value: v, Data: data})
			}
		}
	}
	add(NameEMA20, 20, EMA(closes, 20))
	add(NameEMA50, 50, EMA(closes, 50))
	add(NameRSI14, 14, RSI(closes, 14))
	add(NameATR14, 14, ATR(high, low, closes, 14))
	return rows
}

func loadSeries(ctx context.Context, d *db.DB, exchange, symbol, interval string, n int) (series, error) {
	q := d.Rebind(`SELECT open_time, high, low, close FROM klines
WHERE exchange = ? AND symbol = ? AND interval_code = ?
ORDER BY open_time DESC LIMIT ?`)
	rows, err := d.QueryContext(ctx, q, exchange, symbol, interval, n)
	if err != nil {
		return series{}, fmt.Errorf("reading klines of %s %s: %w", symbol, interval, err)
	}
	defer rows.Close()
	var s series
	for rows.Next() {
		var ot int64
		var h, l, c float64
		if err := rows.Scan(&ot, &h, &l, &c); err != nil {
			return series{}, fmt.Errorf("scanning kline of %s %s: %w", symbol, interval, err)
		}
		s.openTime = append(s.openTime, ot)
		s.high, s.low, s.closes = append(s.high, h), append(s.low, l), append(s.closes, c)
	}
	if err := rows.Err(); err != nil {
		return series{}, fmt.Errorf("reading klines of %s %s: %w", symbol, interval, err)
	}
	reverse(s.openTime)
	reverse(s.high)
	reverse(s.low)
	reverse(s.closes)
	return s, nil
}

func reverse[T any](x []T) {
	for i, j := 0, len(x)-1; i < j; i, j = i+1, j-1 {
		x[i], x[j] = x[j], x[i]
	}
}

var indicatorCols = []string{"exchange", "symbol", "interval_code", "name", "open_time", "value", "data"}

// UpsertIndicators writes rows in one transaction, overwriting value and
// data of a row already stored for the same (name, open_time). Values are
// stored as decimal strings (strconv 'f', -1); DECIMAL(36,18) columns keep
// 18 decimals.
func UpsertIndicators(ctx context.Context, d *db.DB, exchange, symbol, interval string, rows []IndicatorRow) error {
	if len(rows) == 0 {
		return nil
	}
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		for _, part := range db.Batches(rows, 500, 1, false) {
			q := d.UpsertSQL("indicators", indicatorCols, len(part),
				[]string{"exchange", "symbol", "interval_code", "name", "open_time"},
				[]string{"value", "data"})
			args := make([]any, 0, len(part)*len(indicatorCols))
			for _, r := range part {
				args = append(args, exchange, symbol, interval, r.Name, r.OpenTime, FormatValue(r.Value), r.Data)
			}
			if _, err := d.ExecIn(ctx, tx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upserting %d indicator rows of %s %s: %w", len(rows), symbol, interval, err)
	}
	return nil
}

// FormatValue renders v as plain decimal text (shortest exact form; the
// DECIMAL(36,18) columns of MySQL and PostgreSQL round it to 18 decimals).
func FormatValue(v float64) string {
	return strconv.FormatFloat(v, 'f', -1, 64)
}
