package markprice

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/kraite/stream/internal/binance"
)

// Price is one symbol's mark price from a tick.
type Price struct {
	Symbol    string
	Price     string // decimal string as sent
	EventTime int64  // E, ms
}

type rawPrice struct {
	Event  string          `json:"e"`
	E      json.RawMessage `json:"E"`
	Symbol string          `json:"s"`
	Price  string          `json:"p"`
}

// DecodeTick reads a mark-price record: the raw !markPrice@arr frame (an
// array, bare or wrapped as {"stream":..,"data":[..]}) or a single
// markPriceUpdate object. It never panics; elements that are not mark-price
// updates or carry a price that is not a positive decimal are dropped, and a
// frame with no usable element is an error.
func DecodeTick(frame []byte) ([]Price, error) {
	env, err := binance.ParseEnvelope(frame)
	if err != nil && len(env.Payload) == 0 {
		return nil, fmt.Errorf("decoding mark-price frame: %w", err)
	}
	payload := bytes.TrimSpace(env.Payload)
	var elems []rawPrice
	if len(payload) > 0 && payload[0] == '[' {
		if err := json.Unmarshal(payload, &elems); err != nil {
			return nil, fmt.Errorf("decoding mark-price array: %w", err)
		}
	} else {
		var one rawPrice
		if err := json.Unmarshal(payload, &one); err != nil {
			return nil, fmt.Errorf("decoding mark-price object: %w", err)
		}
		elems = []rawPrice{one}
	}
	out := make([]Price, 0, len(elems))
	for _, e := range elems {
		if e.Event != binance.EventMarkPriceUpdate || e.Symbol == "" || !validDecimal(e.Price) {
			continue
		}
		out = append(out, Price{Symbol: e.Symbol, Price: e.Price, EventTime: eventTime(e.E)})
	}
	if len(out) == 0 {
		return nil, errors.New("decoding mark-price frame: no markPriceUpdate element with a valid price")
	}
	return out, nil
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
