package markprice

import (
	"bytes"
	"encoding/json"
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

// rawPrice is one markPriceUpdate element. encoding/json matches keys
// case-insensitively when no field has the exact name, so "P" (the estimated
// settle price, which follows "p" in every frame) would overwrite the mark
// price if only "p" were declared: Settle is declared to take it, and is
// never used. The same holds for "e" and "E".
type rawPrice struct {
	Event  string          `json:"e"`
	E      json.RawMessage `json:"E"`
	Symbol string          `json:"s"`
	Price  string          `json:"p"`
	Settle json.RawMessage `json:"P"`
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
func DecodeTickAt(frame []byte, now time.Time, maxAhead time.Duration) (prices []Price, skipped []error, err error) {
	payload, err := unwrap(frame)
	if err != nil {
		return nil, nil, fmt.Errorf("decoding mark-price frame: %w", err)
	}
	var elems []json.RawMessage
	if len(payload) > 0 && payload[0] == '[' {
		if err := json.Unmarshal(payload, &elems); err != nil {
			return nil, nil, fmt.Errorf("decoding mark-price array: %w", err)
		}
	} else {
		elems = []json.RawMessage{payload}
	}
	prices = make([]Price, 0, len(elems))
	for i, raw := range elems {
		p, err := decodeElement(raw, now, maxAhead)
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

// unwrap returns the frame's payload: the frame itself, or the data of a
// combined-stream wrapper {"stream":..,"data":..}. Unlike
// binance.ParseEnvelope it looks into no element, so one malformed element
// cannot cost the others.
func unwrap(frame []byte) ([]byte, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return nil, errors.New("empty frame")
	}
	switch frame[0] {
	case '[':
		return frame, nil
	case '{':
	default:
		return nil, fmt.Errorf("not a JSON object or array (starts with %q)", frame[0])
	}
	var w struct {
		Stream *string         `json:"stream"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(frame, &w); err != nil {
		return nil, err
	}
	if w.Stream != nil && len(w.Data) > 0 {
		return bytes.TrimSpace(w.Data), nil
	}
	return frame, nil
}

func decodeElement(raw json.RawMessage, now time.Time, maxAhead time.Duration) (Price, error) {
	var e rawPrice
	if err := json.Unmarshal(raw, &e); err != nil {
		return Price{}, fmt.Errorf("not a markPriceUpdate object: %w", err)
	}
	if e.Event != binance.EventMarkPriceUpdate {
		return Price{}, fmt.Errorf("event %q is not %s", topics.Bound(e.Event, 64), binance.EventMarkPriceUpdate)
	}
	if err := validate.Symbol(e.Symbol); err != nil {
		return Price{}, fmt.Errorf("symbol: %w", err)
	}
	if err := validate.MarkPrice(e.Price); err != nil {
		return Price{}, fmt.Errorf("%s mark price p: %w", e.Symbol, err)
	}
	at := eventTime(e.E)
	if err := topics.CheckEventTime(at, now, maxAhead); err != nil {
		return Price{}, fmt.Errorf("%s: %w", e.Symbol, err)
	}
	return Price{Symbol: e.Symbol, Price: e.Price, EventTime: at}, nil
}

func eventTime(raw json.RawMessage) int64 {
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
