package binance

import (
	"bytes"
	"fmt"
)

// MarkTick is one element of a mark-price frame as a consumer that judges
// every element on its own reads it: the event type, symbol and mark price
// "p" as strings, and E as sent. Err is set when the element is not an
// object of that shape (a number where a string belongs, "junk", ...); the
// other elements of the frame are unaffected.
type MarkTick struct {
	Event  string
	Symbol string
	Price  string
	// E is the event time as sent (a number or a quoted number), aliasing
	// the frame; nil when absent.
	E   []byte
	Err error
}

// ReadMarkTicks reads a mark-price frame in one pass: a bare array (the
// live !markPrice@arr form), a combined-stream wrapper {"stream","data"}
// of one, or a single markPriceUpdate object (the data of a wrapper that is
// not an array is one element). Invalid JSON anywhere, a frame that is not
// an object or array, or a wrapper whose "stream" is not a string, is an
// error for the whole frame; an element of the wrong shape only has its
// Err set. Names match exactly: "p" is the mark price, never "P" (the
// settle price), which encoding/json's case-insensitive fallback could
// confuse. It never panics (FuzzReadMarkTicks).
func ReadMarkTicks(frame []byte) ([]MarkTick, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return nil, ErrEmptyFrame
	}
	s := scanner{b: frame}
	var ticks []MarkTick
	switch frame[0] {
	case '[':
		ticks = s.markTicks()
	case '{':
		var err error
		if ticks, err = s.markTickObject(); err != nil && s.err == nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("not a JSON object or array (starts with %q)", frame[0])
	}
	if s.ws(); s.err == nil && s.i != len(s.b) {
		s.fail("data after the top-level value")
	}
	if s.err != nil {
		return nil, s.err
	}
	return ticks, nil
}

// markTicks reads an array of elements.
func (s *scanner) markTicks() []MarkTick {
	if !s.open() {
		return nil
	}
	ticks := make([]MarkTick, 0, 64)
	for first := true; s.next(']', &first); {
		var t MarkTick
		s.markTick(&t, nil)
		ticks = append(ticks, t)
	}
	return ticks
}

// markTick reads one element into t. When w is not nil the element is the
// frame's top-level object, and the wrapper keys are read into w too.
func (s *scanner) markTick(t *MarkTick, w *tickWrapper) {
	switch s.peek() {
	case '{':
	case 'n':
		s.lit("null")
		return
	default:
		t.Err = s.wrongKind("a markPriceUpdate object")
		return
	}
	if !s.open() {
		return
	}
	note := func(err error, k string) {
		if t.Err == nil && err != nil {
			t.Err = fmt.Errorf("field %q: %w", k, err)
		}
	}
	for first := true; s.next('}', &first); {
		k := s.key()
		switch string(k) {
		case "e":
			v, err := s.tickString()
			if v != nil {
				t.Event = eventName(v)
			}
			note(err, "e")
		case "E":
			t.E = s.raw()
		case "s":
			v, err := s.tickString()
			if v != nil {
				t.Symbol = string(v)
			}
			note(err, "s")
		case "p":
			v, err := s.tickString()
			if v != nil {
				t.Price = string(v)
			}
			note(err, "p")
		case "stream":
			if w == nil {
				s.skip()
				break
			}
			switch s.peek() {
			case '"':
				w.hasStream = true
				s.skip()
			case 'n':
				s.lit("null")
				w.hasStream = false
			default:
				w.err = fmt.Errorf(`decoding wrapper: field "stream": %w`, s.wrongKind("a string"))
			}
		case "data":
			if w == nil {
				s.skip()
				break
			}
			w.hasData = true
			if s.peek() == '[' {
				w.data = s.markTicks()
			} else {
				var d MarkTick
				s.markTick(&d, nil)
				w.data = []MarkTick{d}
			}
		default:
			s.skip()
		}
	}
}

// tickString reads a string field: its text, nil for null (which leaves the
// field as it was), or an error for any other kind.
func (s *scanner) tickString() ([]byte, error) {
	switch s.peek() {
	case '"':
		v := s.strBytes()
		if v == nil {
			v = []byte{}
		}
		return v, nil
	case 'n':
		s.lit("null")
		return nil, nil
	default:
		return nil, s.wrongKind("a string")
	}
}

type tickWrapper struct {
	hasStream, hasData bool
	data               []MarkTick
	err                error
}

// markTickObject reads a top-level object: the ticks of its "data" when it
// is a wrapper, else the object itself as the one element.
func (s *scanner) markTickObject() ([]MarkTick, error) {
	var w tickWrapper
	var t MarkTick
	s.markTick(&t, &w)
	if w.err != nil {
		return nil, w.err
	}
	if w.hasStream && w.hasData {
		return w.data, nil
	}
	return []MarkTick{t}, nil
}
