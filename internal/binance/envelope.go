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

// ParseEnvelope reads the envelope of one WebSocket frame. It never panics;
// invalid JSON, a non-object/non-array frame or an E that is neither a number
// nor a numeric string is an error (the caller still publishes the raw frame).
// On an error it returns what it could read: the event type when only E is
// wrong, the stream of a wrapper, Array for an array frame.
//
// It reads the frame once, with Decode's scanner, skipping the body (the
// producers call it on every frame, the mark-price array included), and
// gives the results of the reflection decoder it replaced
// (FuzzParseEnvelopeMatchesReference), field names matched exactly.
func ParseEnvelope(frame []byte) (Envelope, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return Envelope{}, ErrEmptyFrame
	}
	s := scanner{b: frame, envOnly: true}
	var p payload
	switch frame[0] {
	case '[':
		s.readArray(&p)
	case '{':
		s.readObject(&p)
	default:
		return Envelope{}, fmt.Errorf("frame is not a JSON object or array (starts with %q)", frame[0])
	}
	if s.ws(); s.err == nil && s.i != len(s.b) {
		s.fail("data after the top-level value")
	}
	if s.err != nil {
		if p.array {
			return Envelope{Array: true}, fmt.Errorf("decoding array frame: %w", s.err)
		}
		return Envelope{}, fmt.Errorf("decoding frame: %w", s.err)
	}
	return p.envelope()
}

// envelope is the Envelope of what the pass read.
func (p *payload) envelope() (Envelope, error) {
	if p.array {
		if p.envErr != nil {
			return Envelope{Array: true}, fmt.Errorf("decoding array frame: %w", p.envErr)
		}
		env := Envelope{Payload: p.span, Array: true, Count: p.count}
		if p.count > 0 {
			env.Event = p.typ
			t, err := eventTimeOf(p.eRaw)
			if err != nil {
				return env, fmt.Errorf("decoding E: %w", err)
			}
			env.EventTime = t
		}
		return env, nil
	}
	if p.envErr != nil {
		return Envelope{}, fmt.Errorf("decoding frame: %w", p.envErr)
	}
	if p.hasStream && p.hasData {
		env, err := Envelope{}, errors.New("wrapped data is not a JSON object or array")
		if p.data != nil {
			env, err = p.data.envelope()
		}
		env.Stream = p.stream
		return env, err
	}
	t, err := eventTimeOf(p.eRaw)
	if err != nil {
		return Envelope{Event: p.typ, Payload: p.span}, fmt.Errorf("decoding E: %w", err)
	}
	return Envelope{Event: p.typ, EventTime: t, Payload: p.span, ListenKey: p.listenKey}, nil
}
