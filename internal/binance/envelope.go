// Package binance holds the Binance USD-M frame formats: the envelope every
// producer reads (event type, event time, combined-stream wrapper) and the
// typed events the dispatch processor decodes.
//
// Decoding is tolerant by design: prices stay strings, ids are int64 (they
// exceed 2^53), E may arrive as a JSON string, fields may be null, and unknown
// event types are reported as such instead of failing.
package binance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Event type names ("e").
const (
	EventOrderTradeUpdate  = "ORDER_TRADE_UPDATE"
	EventAlgoUpdate        = "ALGO_UPDATE"
	EventAccountUpdate     = "ACCOUNT_UPDATE"
	EventTradeLite         = "TRADE_LITE"
	EventListenKeyExpired  = "listenKeyExpired"
	EventMarginCall        = "MARGIN_CALL"
	EventAccountConfig     = "ACCOUNT_CONFIG_UPDATE"
	EventConditionalReject = "CONDITIONAL_ORDER_TRIGGER_REJECT"
	EventStrategyUpdate    = "STRATEGY_UPDATE"
	EventGridUpdate        = "GRID_UPDATE"
	EventMarkPriceUpdate   = "markPriceUpdate"
)

// ErrEmptyFrame is returned for an empty or whitespace-only frame.
var ErrEmptyFrame = errors.New("empty frame")

// Envelope is what a producer needs to know about a frame without decoding
// its body: the event type, the event time, and where the payload is.
type Envelope struct {
	// Event is "e"; for an array frame the "e" of its first element.
	Event string
	// EventTime is "E" in ms (accepted as a number or a numeric string); 0 if absent.
	EventTime int64
	// Stream is the combined-stream name when the frame was wrapped as
	// {"stream":..., "data":...}; for user data in stream mode it is the listenKey.
	Stream string
	// Payload is the unwrapped body (the frame itself when not wrapped).
	Payload json.RawMessage
	// Array is true when the payload is a JSON array (e.g. !markPrice@arr).
	Array bool
	// Count is the number of elements of an array payload.
	Count int
	// ListenKey is set on listenKeyExpired frames that carry it.
	ListenKey string
}

type rawObject struct {
	E         json.RawMessage `json:"E"`
	Ev        string          `json:"e"`
	Stream    *string         `json:"stream"`
	Data      json.RawMessage `json:"data"`
	ListenKey string          `json:"listenKey"`
}

// ParseEnvelope reads the envelope of one WebSocket frame. It never panics;
// invalid JSON, a non-object/non-array frame or an E that is neither a number
// nor a numeric string is an error (the caller still publishes the raw frame).
func ParseEnvelope(frame []byte) (Envelope, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return Envelope{}, ErrEmptyFrame
	}
	switch frame[0] {
	case '[':
		return parseArray(frame, "")
	case '{':
	default:
		return Envelope{}, fmt.Errorf("frame is not a JSON object or array (starts with %q)", frame[0])
	}
	var o rawObject
	if err := json.Unmarshal(frame, &o); err != nil {
		return Envelope{}, fmt.Errorf("decoding frame: %w", err)
	}
	if o.Stream != nil && len(o.Data) > 0 {
		inner := bytes.TrimSpace(o.Data)
		if len(inner) > 0 && inner[0] == '[' {
			return parseArray(inner, *o.Stream)
		}
		env, err := ParseEnvelope(inner)
		env.Stream = *o.Stream
		return env, err
	}
	t, err := parseEventTime(o.E)
	if err != nil {
		return Envelope{Event: o.Ev, Payload: frame}, err
	}
	return Envelope{Event: o.Ev, EventTime: t, Payload: frame, ListenKey: o.ListenKey}, nil
}

func parseArray(frame []byte, stream string) (Envelope, error) {
	var elems []rawObject
	if err := json.Unmarshal(frame, &elems); err != nil {
		return Envelope{Stream: stream, Array: true}, fmt.Errorf("decoding array frame: %w", err)
	}
	env := Envelope{Stream: stream, Payload: frame, Array: true, Count: len(elems)}
	if len(elems) > 0 {
		env.Event = elems[0].Ev
		t, err := parseEventTime(elems[0].E)
		if err != nil {
			return env, err
		}
		env.EventTime = t
	}
	return env, nil
}

// parseEventTime accepts E as a JSON number or a numeric JSON string.
func parseEventTime(raw json.RawMessage) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	s := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, fmt.Errorf("decoding E: %w", err)
		}
	}
	t, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("E %q is not an integer: %w", s, err)
	}
	return t, nil
}
