package marketjobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
)

// Kline is one candle as stored in `klines`. Prices and volume keep the
// exchange's decimal strings.
type Kline struct {
	OpenTime  int64 // ms
	Open      string
	High      string
	Low       string
	Close     string
	Volume    string
	CloseTime int64 // ms; the last millisecond of the candle
}

// intervals are the kline intervals Binance USD-M accepts.
var intervals = map[string]bool{
	"1m": true, "3m": true, "5m": true, "15m": true, "30m": true, "1h": true, "2h": true,
	"4h": true, "6h": true, "8h": true, "12h": true, "1d": true, "3d": true, "1w": true, "1M": true,
}

// ValidInterval reports whether interval is a Binance kline interval code.
func ValidInterval(interval string) bool { return intervals[interval] }

// maxKlineLimit is Binance's cap on GET /fapi/v1/klines.
const maxKlineLimit = 1500

// FetchKlinesAt fetches the last limit klines of symbol (GET /fapi/v1/klines,
// public, weight 1..10 by limit) and upserts the closed ones into `klines`,
// returning how many it stored.
//
// # The forming kline
//
// Binance's answer ends with the candle still forming (its closeTime is in
// the future); its OHLCV would change, so it is NOT stored: only candles
// with closeTime < now are written, which makes every stored row final and
// lets indicators be computed on closed candles only. The next fetch picks
// it up once closed. A re-run for the same slot upserts the same values
// (the exchange's correction, should there be one, overwrites).
func FetchKlinesAt(ctx context.Context, rest *binanceapi.Client, d *db.DB, exchange, symbol, interval string, limit int, now time.Time) (int, error) {
	if symbol == "" {
		return 0, errors.New("fetching klines: empty symbol")
	}
	if !ValidInterval(interval) {
		return 0, fmt.Errorf("fetching klines: invalid interval %q", interval)
	}
	if limit < 1 || limit > maxKlineLimit {
		return 0, fmt.Errorf("fetching klines: limit %d is not within 1..%d", limit, maxKlineLimit)
	}
	var raw json.RawMessage
	q := url.Values{"symbol": {symbol}, "interval": {interval}, "limit": {strconv.Itoa(limit)}}
	if err := rest.Public(ctx, "/fapi/v1/klines", q, &raw); err != nil {
		return 0, fmt.Errorf("fetching klines of %s %s: %w", symbol, interval, err)
	}
	all, err := ParseKlines(raw)
	if err != nil {
		return 0, fmt.Errorf("fetching klines of %s %s: %w", symbol, interval, err)
	}
	closed := ClosedKlines(all, now)
	if err := UpsertKlines(ctx, d, exchange, symbol, interval, closed); err != nil {
		return 0, err
	}
	return len(closed), nil
}

// ClosedKlines returns the klines whose closeTime is before now.
func ClosedKlines(ks []Kline, now time.Time) []Kline {
	nowMs := now.UnixMilli()
	out := ks[:0:0]
	for _, k := range ks {
		if k.CloseTime < nowMs {
			out = append(out, k)
		}
	}
	return out
}

// ParseKlines decodes a GET /fapi/v1/klines answer: an array of arrays
// [openTime, "open", "high", "low", "close", "volume", closeTime, ...].
// Prices must be finite non-negative decimals and closeTime after openTime.
func ParseKlines(body []byte) ([]Kline, error) {
	var rows [][]json.RawMessage
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("decoding klines: %w", err)
	}
	out := make([]Kline, 0, len(rows))
	for i, r := range rows {
		k, err := parseKline(r)
		if err != nil {
			return nil, fmt.Errorf("decoding kline %d: %w", i, err)
		}
		out = append(out, k)
	}
	return out, nil
}

func parseKline(r []json.RawMessage) (Kline, error) {
	if len(r) < 7 {
		return Kline{}, fmt.Errorf("%d fields, want at least 7", len(r))
	}
	var k Kline
	if err := json.Unmarshal(r[0], &k.OpenTime); err != nil {
		return Kline{}, fmt.Errorf("decoding open time: %w", err)
	}
	if err := json.Unmarshal(r[6], &k.CloseTime); err != nil {
		return Kline{}, fmt.Errorf("decoding close time: %w", err)
	}
	if k.OpenTime < 0 || k.CloseTime <= k.OpenTime {
		return Kline{}, fmt.Errorf("close time %d is not after open time %d", k.CloseTime, k.OpenTime)
	}
	for i, dst := range []*string{&k.Open, &k.High, &k.Low, &k.Close, &k.Volume} {
		s, err := decimalField(r[i+1])
		if err != nil {
			return Kline{}, fmt.Errorf("decoding field %d: %w", i+1, err)
		}
		*dst = s
	}
	return k, nil
}

// decimalField decodes a JSON string holding a finite non-negative decimal
// that fits DECIMAL(36,18).
func decimalField(raw json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", err
	}
	if err := checkDecimal(s); err != nil {
		return "", err
	}
	if s[0] == '-' {
		return "", fmt.Errorf("decimal %q: negative", s)
	}
	return s, nil
}

// checkDecimal accepts plain decimal text ("123.45", "-0.5") with at most
// 18 integer digits, as DECIMAL(36,18) stores, and nothing else (no
// exponent, no NaN/Inf, no spaces).
func checkDecimal(s string) error {
	if len(s) == 0 || len(s) > 40 {
		return fmt.Errorf("decimal %q: bad length", s)
	}
	i := 0
	if s[0] == '-' {
		i++
	}
	intDigits, fracDigits, dot := 0, 0, false
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.' && !dot:
			dot = true
		case c >= '0' && c <= '9':
			if dot {
				fracDigits++
			} else {
				intDigits++
			}
		default:
			return fmt.Errorf("decimal %q: unexpected %q", s, c)
		}
	}
	if intDigits == 0 || (dot && fracDigits == 0) || intDigits > 18 {
		return fmt.Errorf("decimal %q: not a plain decimal within 18 integer digits", s)
	}
	return nil
}

var klineCols = []string{"exchange", "symbol", "interval_code", "open_time", "open", "high", "low", "close", "volume"}

// UpsertKlines writes ks in one transaction; a kline already stored (same
// exchange, symbol, interval and open time) is overwritten with these values.
func UpsertKlines(ctx context.Context, d *db.DB, exchange, symbol, interval string, ks []Kline) error {
	if len(ks) == 0 {
		return nil
	}
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		for _, part := range db.Batches(ks, 500, 1, false) {
			q := d.UpsertSQL("klines", klineCols, len(part),
				[]string{"exchange", "symbol", "interval_code", "open_time"},
				[]string{"open", "high", "low", "close", "volume"})
			args := make([]any, 0, len(part)*len(klineCols))
			for _, k := range part {
				args = append(args, exchange, symbol, interval, k.OpenTime, k.Open, k.High, k.Low, k.Close, k.Volume)
			}
			if _, err := d.ExecIn(ctx, tx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("upserting %d klines of %s %s: %w", len(ks), symbol, interval, err)
	}
	return nil
}
