package markprice

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// Price is one symbol's mark price from a tick.
type Price struct {
	Symbol    string
	Price     string // decimal string as sent
	EventTime int64  // E, ms
	// rec is the record that carried the tick (quarantined if the
	// database refuses the price).
	rec *kgo.Record
}

// DecodeTick is DecodeTickAt with this process's clock and
// topics.DefaultMaxAhead.
func DecodeTick(frame []byte) ([]Price, error) {
	prices, _, err := DecodeTickAt(frame, time.Now(), topics.DefaultMaxAhead)
	return prices, err
}

// DecodeTickAt reads a mark-price record: the raw !markPrice@arr frame (an
// array, bare or wrapped as {"stream":..,"data":[..]}) or a single
// markPriceUpdate object. It never panics. Each element is judged on its
// own, so one bad tick never costs the other symbols theirs: an element
// that is not a markPriceUpdate, whose symbol is not a symbol, whose mark
// price "p" is not a plain decimal > 0 within DECIMAL(36,18)
// (validate.MarkPrice), or whose event time E is not positive or more than
// maxAhead ahead of now (topics.CheckEventTime: a far-future E would keep a
// poisoned price ahead of every newer tick) is skipped, and its reason is
// returned in skipped. A frame with no usable element is an error (the sink
// quarantines it) that carries the reasons.
//
// The frame is read once (binance.ReadMarkTicks): the live array of 568
// symbols is about 85 KB, and it used to be parsed twice (three times when
// wrapped). Field names match exactly, so "P" (the estimated settle price)
// and "S" are never read as "p" and "s".
func DecodeTickAt(frame []byte, now time.Time, maxAhead time.Duration) (prices []Price, skipped []error, err error) {
	ticks, err := binance.ReadMarkTicks(frame)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding mark-price frame: %w", err)
	}
	return collect(len(ticks), func(i int) (Price, error) { return judge(ticks[i], now, maxAhead) })
}

// collect judges the n elements of a frame one by one (judgeAt) and keeps
// the prices; the reasons for the others are returned in skipped. A frame
// with no usable element is an error that carries the first five reasons.
func collect(n int, judgeAt func(i int) (Price, error)) (prices []Price, skipped []error, err error) {
	prices = make([]Price, 0, n)
	for i := range n {
		p, err := judgeAt(i)
		if err != nil {
			skipped = append(skipped, fmt.Errorf("element %d: %w", i, err))
			continue
		}
		prices = append(prices, p)
	}
	if len(prices) == 0 {
		if len(skipped) == 0 {
			return nil, nil, errors.New("decoding mark-price frame: no element")
		}
		return nil, skipped, fmt.Errorf("decoding mark-price frame: no usable markPriceUpdate element (%d refused): %w",
			len(skipped), errors.Join(skipped[:min(len(skipped), 5)]...))
	}
	return prices, skipped, nil
}

// judge turns one element into a Price, or says why it cannot be one.
func judge(t binance.MarkTick, now time.Time, maxAhead time.Duration) (Price, error) {
	if t.Err != nil {
		return Price{}, fmt.Errorf("not a markPriceUpdate object: %w", t.Err)
	}
	if t.Event != binance.EventMarkPriceUpdate {
		return Price{}, fmt.Errorf("event %q is not %s", topics.Bound(t.Event, 64), binance.EventMarkPriceUpdate)
	}
	if err := validate.Symbol(t.Symbol); err != nil {
		return Price{}, fmt.Errorf("symbol: %w", err)
	}
	if err := validate.MarkPrice(t.Price); err != nil {
		return Price{}, fmt.Errorf("%s mark price p: %w", t.Symbol, err)
	}
	at := eventTime(t.E)
	if err := topics.CheckEventTime(at, now, maxAhead); err != nil {
		return Price{}, fmt.Errorf("%s: %w", t.Symbol, err)
	}
	return Price{Symbol: t.Symbol, Price: t.Price, EventTime: at}, nil
}

// eventTime is E as an integer (a number or a quoted number); 0, which
// CheckEventTime refuses, when it is anything else.
func eventTime(raw []byte) int64 {
	raw = bytes.Trim(bytes.TrimSpace(raw), `"`)
	t, _ := strconv.ParseInt(string(raw), 10, 64)
	return t
}

// validDecimal accepts a plain non-negative decimal of at most 36 digits
// ("123", "0.00012", "1.5"): what fits DECIMAL(36,18) after scaling.
func validDecimal(s string) bool {
	if s == "" || len(s) > 40 {
		return false
	}
	digits, dot := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c == '.' && !dot && i > 0 && i < len(s)-1:
			dot = true
		default:
			return false
		}
	}
	return digits > 0 && digits <= 36
}
