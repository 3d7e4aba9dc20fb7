package binance

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNoEventType is returned for a JSON object that carries no "e" (for
// example a subscription reply); it is not a user-data event.
var ErrNoEventType = errors.New("frame has no event type")

// Decode decodes one WebSocket frame into a typed Event.
//
// It is tolerant: E may be a number or a numeric string, null fields are
// zero values, ids are exact int64, the combined-stream wrapper
// {"stream","data"} is unwrapped, and an unknown event type gives an Event
// with Unknown set (not an error). It returns an error for input that is not
// a Binance event: invalid JSON, a frame without "e", a non-numeric E, or a
// known event whose body has the wrong shape (e.g. "o" missing). It never
// panics (FuzzDecode).
//
// The frame is read once: wrapper, envelope and body in one pass (the
// dispatch processor decodes every user-data record, so this is its hot
// path). It gives the results the reflection decoder it replaced gave
// (FuzzDecodeMatchesReference), except that field names match exactly:
// a key that differs from a known one only by case is ignored, where
// encoding/json would have read "P" into "p".
func Decode(frame []byte) (Event, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return Event{}, ErrEmptyFrame
	}
	s := scanner{b: frame}
	var p payload
	switch frame[0] {
	case '{':
		s.readObject(&p)
	case '[':
		s.readArray(&p)
	default:
		return Event{}, fmt.Errorf("frame is not a JSON object or array (starts with %q)", frame[0])
	}
	if s.ws(); s.err == nil && s.i != len(s.b) {
		s.fail("data after the top-level value")
	}
	if s.err != nil {
		return Event{}, fmt.Errorf("decoding frame: %w", s.err)
	}
	return p.event()
}

// payload is what one pass learned about an object or array frame (or the
// data of a combined-stream wrapper, recursively).
type payload struct {
	span  []byte
	array bool

	// The envelope: "e", "E", "stream", "data", "listenKey".
	typ       string
	eRaw      []byte // the last "E", as sent
	evRaw     []byte // the last "e", as sent
	hasStream bool
	stream    string
	hasData   bool
	data      *payload // the last "data", when an object or array
	// dataSpans are where the "data" values are, so that a second read of
	// the body jumps over them instead of reading nested wrappers again
	// (which made deeply nested wrappers quadratic).
	dataSpans [2][2]int
	nData     int
	moreData  [][2]int
	listenKey string
	envErr    error // a field of the envelope of the wrong kind

	// An object's body, read for bodyType (the "e" known when its keys came).
	bodyType string
	body     body

	// An array's elements: how many, and the mark prices if its first
	// element is a markPriceUpdate.
	count   int
	marks   []MarkPrice
	markErr error
}

func (p *payload) noteEnv(err error, k string) {
	if p.envErr == nil && err != nil {
		p.envErr = fmt.Errorf("field %q: %w", k, err)
	}
}

// envField reads the envelope keys; it reports false for any other key.
func (s *scanner) envField(p *payload, k []byte) bool {
	switch string(k) {
	case "E":
		p.eRaw = s.raw()
	case "stream":
		switch s.peek() {
		case '"':
			p.hasStream, p.stream = true, s.strText()
		case 'n':
			s.lit("null")
			p.hasStream = false
		default:
			p.noteEnv(s.wrongKind("a string"), "stream")
		}
	case "data":
		p.hasData, p.data = true, nil
		s.ws()
		start := s.i
		switch s.peek() {
		case '{':
			p.data = new(payload)
			s.readObject(p.data)
		case '[':
			p.data = new(payload)
			s.readArray(p.data)
		default:
			s.skip()
		}
		p.noteData(start, s.i)
	case "listenKey":
		switch s.peek() {
		case '"':
			p.listenKey = s.strText()
		case 'n':
			s.lit("null")
		default:
			p.noteEnv(s.wrongKind("a string"), "listenKey")
		}
	default:
		return false
	}
	return true
}

// noteData records the span of a "data" value.
func (p *payload) noteData(start, end int) {
	if p.nData < len(p.dataSpans) {
		p.dataSpans[p.nData] = [2]int{start, end}
	} else {
		p.moreData = append(p.moreData, [2]int{start, end})
	}
	p.nData++
}

// dataEnd is where the "data" value that begins at start ends (0 if none does).
func (p *payload) dataEnd(start int) int {
	for i := range min(p.nData, len(p.dataSpans)) {
		if p.dataSpans[i][0] == start {
			return p.dataSpans[i][1]
		}
	}
	for _, sp := range p.moreData {
		if sp[0] == start {
			return sp[1]
		}
	}
	return 0
}

// eventName is the event type b names, without allocating for a known one.
func eventName(b []byte) string {
	switch string(b) {
	case EventOrderTradeUpdate:
		return EventOrderTradeUpdate
	case EventAlgoUpdate:
		return EventAlgoUpdate
	case EventAccountUpdate:
		return EventAccountUpdate
	case EventTradeLite:
		return EventTradeLite
	case EventListenKeyExpired:
		return EventListenKeyExpired
	case EventMarginCall:
		return EventMarginCall
	case EventAccountConfig:
		return EventAccountConfig
	case EventConditionalReject:
		return EventConditionalReject
	case EventStrategyUpdate:
		return EventStrategyUpdate
	case EventGridUpdate:
		return EventGridUpdate
	case EventMarkPriceUpdate:
		return EventMarkPriceUpdate
	}
	return string(b)
}

// readEv reads "e": a string, or null (which leaves it as it was).
func (s *scanner) readEv(p *payload, into *string) {
	switch s.peek() {
	case '"':
		*into = eventName(s.strBytes())
	case 'n':
		s.lit("null")
	default:
		p.noteEnv(s.wrongKind("a string"), "e")
	}
}

// readObject reads the object at the cursor. Body keys are decoded as they
// come for the event type known at that point; a frame whose "e" comes
// after its body or changes is read a second time for the final type.
func (s *scanner) readObject(p *payload) {
	start := s.i
	if !s.open() {
		return
	}
	again := false
	for first := true; s.next('}', &first); {
		k := s.key()
		if s.err != nil {
			return
		}
		if string(k) == "e" {
			before := p.typ
			s.ws()
			at := s.i
			s.readEv(p, &p.typ)
			p.evRaw = s.b[at:s.i]
			if p.bodyType != "" && p.typ != before {
				again = true
			}
			continue
		}
		if s.envField(p, k) {
			continue
		}
		if s.envOnly {
			s.skip()
			continue
		}
		if p.typ == "" || again {
			again = true
			s.skip()
			continue
		}
		p.bodyType = p.typ
		s.bodyField(p.typ, &p.body, k)
	}
	p.span = s.b[start:s.i]
	if s.err != nil || !again || p.typ == "" {
		return
	}
	// Rare: read the body again, now that the type is final. The span is
	// valid JSON, so this pass cannot fail on syntax.
	p.body, p.bodyType = body{}, p.typ
	r := scanner{b: s.b, i: start}
	r.open()
	for first := true; r.next('}', &first); {
		k := r.key()
		switch string(k) {
		case "data":
			r.ws()
			if end := p.dataEnd(r.i); end > 0 {
				r.i = end
			} else {
				r.skip()
			}
		case "e", "E", "stream", "listenKey":
			r.skip()
		default:
			r.bodyField(p.typ, &p.body, k)
		}
	}
}

// readArray reads the array at the cursor: every element is an envelope
// (an object or null), and a mark-price element as well.
func (s *scanner) readArray(p *payload) {
	start := s.i
	p.array = true
	if !s.open() {
		return
	}
	// The envelope of the first element counts; the others' are read for
	// their errors only.
	var first0, other payload
	for first := true; s.next(']', &first); p.count++ {
		env := &first0
		if p.count > 0 {
			other = payload{}
			env = &other
		}
		var m MarkPrice
		switch s.peek() {
		case '{':
		case 'n':
			s.lit("null")
			if !s.envOnly {
				p.marks = append(p.marks, m)
			}
			continue
		default:
			err := s.wrongKind("an event object")
			p.noteEnv(err, "element")
			if p.markErr == nil {
				p.markErr = err
			}
			continue
		}
		if !s.open() {
			return
		}
		for first := true; s.next('}', &first); {
			k := s.key()
			if s.err != nil {
				return
			}
			switch string(k) {
			case "e":
				s.readEv(env, &env.typ)
			case "E":
				if s.envOnly {
					env.eRaw = s.raw()
					continue
				}
				// Read twice on purpose: the element's time as an Int64
				// and the first element's raw E for the envelope.
				at := s.i
				env.eRaw = s.raw()
				r := scanner{b: s.b, i: at}
				v, err := r.int64v()
				m.EventTime = int64(v)
				if p.markErr == nil && err != nil {
					p.markErr = fmt.Errorf("element %d: field \"E\": %w", p.count, err)
				}
			default:
				if s.envField(env, k) {
					continue
				}
				if s.envOnly {
					s.skip()
					continue
				}
				ok, err := s.markField(&m, k)
				if !ok {
					s.skip()
				}
				if p.markErr == nil && err != nil {
					p.markErr = fmt.Errorf("element %d: %w", p.count, fieldErr(err, k))
				}
			}
		}
		if env.envErr != nil && p.envErr == nil {
			p.envErr = fmt.Errorf("element %d: %w", p.count, env.envErr)
		}
		if !s.envOnly {
			p.marks = append(p.marks, m)
		}
	}
	p.span = s.b[start:s.i]
	p.typ, p.eRaw = first0.typ, first0.eRaw
}

// event turns what the pass read into the Event, with the errors of the
// reflection decoder: the envelope first, then the body.
func (p *payload) event() (Event, error) {
	if p.array {
		return p.arrayEvent()
	}
	if p.hasStream && p.hasData {
		if p.envErr != nil {
			return Event{}, fmt.Errorf("decoding frame: %w", p.envErr)
		}
		if p.data == nil {
			return Event{}, errors.New("wrapped data is not a JSON object or array")
		}
		ev, err := p.data.event()
		if err != nil {
			return Event{}, err
		}
		ev.Stream = p.stream
		return ev, nil
	}
	if p.envErr != nil {
		return Event{}, fmt.Errorf("decoding frame: %w", p.envErr)
	}
	at, err := eventTimeOf(p.eRaw)
	if err != nil {
		return Event{}, fmt.Errorf("decoding E: %w", err)
	}
	if p.typ == "" {
		return Event{}, ErrNoEventType
	}
	ev := Event{Type: p.typ, EventTime: at, Payload: p.span}
	if err := p.body.fill(&ev, p); err != nil {
		return Event{}, fmt.Errorf("decoding %s: %w", ev.Type, err)
	}
	return ev, nil
}

func (p *payload) arrayEvent() (Event, error) {
	if p.envErr != nil {
		return Event{}, fmt.Errorf("decoding array frame: %w", p.envErr)
	}
	at, err := eventTimeOf(p.eRaw)
	if err != nil {
		return Event{}, fmt.Errorf("decoding E: %w", err)
	}
	if p.count == 0 {
		return Event{}, errors.New("decoding array frame: no elements")
	}
	ev := Event{Type: p.typ, EventTime: at, Payload: p.span}
	if p.typ != EventMarkPriceUpdate {
		ev.Unknown = true
		return ev, nil
	}
	if p.markErr != nil {
		return Event{}, fmt.Errorf("decoding %s array: %w", EventMarkPriceUpdate, p.markErr)
	}
	ev.MarkPrices = p.marks
	return ev, nil
}

// fill sets the typed body of ev from what was read for its type.
func (b *body) fill(ev *Event, p *payload) error {
	switch ev.Type {
	case EventOrderTradeUpdate, EventAlgoUpdate:
		if b.err != nil {
			return b.err
		}
		if !b.oSeen {
			return errors.New(`missing object "o"`)
		}
		if b.oErr != nil {
			return b.oErr
		}
		ev.TransactionTime, ev.Order, ev.Algo = int64(b.t), b.order, b.algo
	case EventAccountUpdate:
		if b.err != nil {
			return b.err
		}
		if b.acct == nil {
			return errors.New(`missing object "a"`)
		}
		ev.TransactionTime, ev.Account = int64(b.t), b.acct
	case EventTradeLite:
		if b.err != nil {
			return b.err
		}
		if b.lite == nil {
			b.lite = new(TradeLite)
		}
		// TradeLite absorbs the envelope's "e" and "E" as sent.
		b.lite.RawEv, b.lite.RawE = p.evRaw, p.eRaw
		ev.TradeLite, ev.TransactionTime = b.lite, int64(b.lite.Time)
	case EventMarginCall:
		if b.err != nil {
			return b.err
		}
		if b.margin == nil {
			b.margin = new(MarginCall)
		}
		ev.MarginCall = b.margin
	case EventAccountConfig:
		if b.err != nil {
			return b.err
		}
		ac := &AccountConfig{}
		if b.ac != nil {
			ac.Symbol, ac.Leverage = string(b.ac.Symbol), int64(b.ac.Leverage)
		}
		if b.ai != nil {
			j := bool(b.ai.MultiAssets)
			ac.MultiAssets = &j
		}
		ev.TransactionTime, ev.AccountConfig = int64(b.t), ac
	case EventConditionalReject:
		if b.err != nil {
			return b.err
		}
		if b.reject == nil {
			return errors.New(`missing object "or"`)
		}
		ev.TransactionTime, ev.ConditionalReject = int64(b.t), b.reject
	case EventListenKeyExpired:
		ev.ListenKey = p.listenKey
	case EventMarkPriceUpdate:
		if b.err != nil {
			return b.err
		}
		mp := b.mark
		mp.EventTime = ev.EventTime
		ev.MarkPrices = []MarkPrice{mp}
	case EventStrategyUpdate, EventGridUpdate:
		// Known, not modelled: passed on with type and time only.
	default:
		ev.Unknown = true
	}
	return nil
}
