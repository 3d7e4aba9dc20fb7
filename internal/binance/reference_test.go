package binance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// refDecode is the reflection decoder that Decode replaced (three to four
// encoding/json passes per frame), kept as the reference of
// FuzzDecodeMatchesReference. It differs from the original in one way
// only: the ref* types below declare, next to each struct's fields, the
// keys that encoding/json's case-insensitive fallback would have routed
// into a field ("P" into "p", "S" into "s", ...), so the reference matches
// names exactly as Decode does. Keys that are no Binance name at all but
// fold onto one ("STREAM", "ſ") are renamed by the test before either
// decoder sees the frame (see caseSafe).
func refDecode(frame []byte) (Event, error) {
	env, err := refParseEnvelope(frame)
	if err != nil {
		return Event{}, err
	}
	ev := Event{Type: env.Event, EventTime: env.EventTime, Stream: env.Stream, Payload: env.Payload}
	if env.Array {
		return refDecodeArray(ev, env)
	}
	if ev.Type == "" {
		return Event{}, ErrNoEventType
	}
	if err := refDecodeBody(&ev, env); err != nil {
		return Event{}, fmt.Errorf("decoding %s: %w", ev.Type, err)
	}
	return ev, nil
}

type foldR struct {
	XR json.RawMessage `json:"R"`
}
type foldS struct {
	XS json.RawMessage `json:"S"`
}

type refMark struct {
	MarkPrice
	foldR
	foldS
	Xt json.RawMessage `json:"t"`
}

func refDecodeArray(ev Event, env Envelope) (Event, error) {
	if env.Count == 0 {
		return Event{}, errors.New("decoding array frame: no elements")
	}
	if env.Event != EventMarkPriceUpdate {
		ev.Unknown = true
		return ev, nil
	}
	var elems []struct {
		E  Int64           `json:"E"`
		Ev json.RawMessage `json:"e"`
		refMark
	}
	if err := json.Unmarshal(env.Payload, &elems); err != nil {
		return Event{}, fmt.Errorf("decoding %s array: %w", EventMarkPriceUpdate, err)
	}
	ev.MarkPrices = make([]MarkPrice, len(elems))
	for i, e := range elems {
		ev.MarkPrices[i] = e.MarkPrice
		ev.MarkPrices[i].EventTime = int64(e.E)
	}
	return ev, nil
}

type refEnvelopeT struct {
	T Int64           `json:"T"`
	L json.RawMessage `json:"t"`
}

type refOrder struct {
	OrderUpdate
	Xr json.RawMessage `json:"r"`
	XP json.RawMessage `json:"P"`
}

type refAlgo struct {
	AlgoUpdate
	Xr  json.RawMessage `json:"r"`
	XP  json.RawMessage `json:"P"`
	XAP json.RawMessage `json:"AP"`
	Xx  json.RawMessage `json:"x"`
}

type refPosition struct {
	Position
	foldS
}

type refAccount struct {
	Reason    Text            `json:"m"`
	Balances  []Balance       `json:"B"`
	Positions []refPosition   `json:"P"`
	XM        json.RawMessage `json:"M"`
	Xp        json.RawMessage `json:"p"`
}

type refTradeLite struct {
	TradeLite
	XM json.RawMessage `json:"M"`
	XP json.RawMessage `json:"P"`
}

type refMCPos struct {
	MarginCallPosition
	foldS
}

type refMarginCall struct {
	CrossWallet Decimal         `json:"cw"`
	Positions   []refMCPos      `json:"p"`
	XP          json.RawMessage `json:"P"`
}

type refReject struct {
	ConditionalReject
	foldR
	foldS
}

func refDecodeBody(ev *Event, env Envelope) error {
	p := env.Payload
	switch ev.Type {
	case EventOrderTradeUpdate, EventAlgoUpdate:
		var b struct {
			refEnvelopeT
			O json.RawMessage `json:"o"`
		}
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		ev.TransactionTime = int64(b.T)
		if ev.Type == EventAlgoUpdate {
			var a refAlgo
			if err := refDecodeObject(b.O, "o", &a); err != nil {
				return err
			}
			ev.Algo = &a.AlgoUpdate
			return nil
		}
		var o refOrder
		if err := refDecodeObject(b.O, "o", &o); err != nil {
			return err
		}
		ev.Order = &o.OrderUpdate
	case EventAccountUpdate:
		var b struct {
			refEnvelopeT
			A *refAccount `json:"a"`
		}
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		if b.A == nil {
			return errors.New(`missing object "a"`)
		}
		a := &AccountUpdate{Reason: b.A.Reason, Balances: b.A.Balances}
		if b.A.Positions != nil {
			a.Positions = make([]Position, len(b.A.Positions))
			for i, p := range b.A.Positions {
				a.Positions[i] = p.Position
			}
		}
		ev.TransactionTime, ev.Account = int64(b.T), a
	case EventTradeLite:
		var t refTradeLite
		if err := json.Unmarshal(p, &t); err != nil {
			return err
		}
		ev.TradeLite = &t.TradeLite
		ev.TransactionTime = int64(ev.TradeLite.Time)
	case EventMarginCall:
		var m refMarginCall
		if err := json.Unmarshal(p, &m); err != nil {
			return err
		}
		ev.MarginCall = &MarginCall{CrossWallet: m.CrossWallet}
		if m.Positions != nil {
			ev.MarginCall.Positions = make([]MarginCallPosition, len(m.Positions))
			for i, p := range m.Positions {
				ev.MarginCall.Positions[i] = p.MarginCallPosition
			}
		}
	case EventAccountConfig:
		return refDecodeAccountConfig(ev, p)
	case EventConditionalReject:
		var b struct {
			refEnvelopeT
			Or *refReject `json:"or"`
		}
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		if b.Or == nil {
			return errors.New(`missing object "or"`)
		}
		ev.TransactionTime, ev.ConditionalReject = int64(b.T), &b.Or.ConditionalReject
	case EventListenKeyExpired:
		ev.ListenKey = env.ListenKey
	case EventMarkPriceUpdate:
		var mp refMark
		if err := json.Unmarshal(p, &mp); err != nil {
			return err
		}
		mp.EventTime = ev.EventTime
		ev.MarkPrices = []MarkPrice{mp.MarkPrice}
	case EventStrategyUpdate, EventGridUpdate:
	default:
		ev.Unknown = true
	}
	return nil
}

func refDecodeAccountConfig(ev *Event, p []byte) error {
	var b struct {
		refEnvelopeT
		AC *struct {
			Symbol   Text            `json:"s"`
			Leverage Int64           `json:"l"`
			XS       json.RawMessage `json:"S"`
			XL       json.RawMessage `json:"L"`
		} `json:"ac"`
		AI *struct {
			MultiAssets Bool `json:"j"`
		} `json:"ai"`
	}
	if err := json.Unmarshal(p, &b); err != nil {
		return err
	}
	ac := &AccountConfig{}
	if b.AC != nil {
		ac.Symbol = string(b.AC.Symbol)
		ac.Leverage = int64(b.AC.Leverage)
	}
	if b.AI != nil {
		j := bool(b.AI.MultiAssets)
		ac.MultiAssets = &j
	}
	ev.TransactionTime, ev.AccountConfig = int64(b.T), ac
	return nil
}

func refDecodeObject(raw json.RawMessage, name string, into any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("missing object %q", name)
	}
	if raw[0] != '{' {
		return fmt.Errorf("field %q is not an object", name)
	}
	return json.Unmarshal(raw, into)
}

type refRawObject struct {
	E         json.RawMessage `json:"E"`
	Ev        string          `json:"e"`
	Stream    *string         `json:"stream"`
	Data      json.RawMessage `json:"data"`
	ListenKey string          `json:"listenKey"`
}

// refParseEnvelope is the reflection ParseEnvelope, kept as the reference
// of FuzzParseEnvelopeMatchesReference. ParseEnvelope reads the envelope of one WebSocket frame. It never panics;
// invalid JSON, a non-object/non-array frame or an E that is neither a number
// nor a numeric string is an error (the caller still publishes the raw frame).
func refParseEnvelope(frame []byte) (Envelope, error) {
	frame = bytes.TrimSpace(frame)
	if len(frame) == 0 {
		return Envelope{}, ErrEmptyFrame
	}
	switch frame[0] {
	case '[':
		return refParseArray(frame, "")
	case '{':
	default:
		return Envelope{}, fmt.Errorf("frame is not a JSON object or array (starts with %q)", frame[0])
	}
	var o refRawObject
	if err := json.Unmarshal(frame, &o); err != nil {
		return Envelope{}, fmt.Errorf("decoding frame: %w", err)
	}
	if o.Stream != nil && len(o.Data) > 0 {
		inner := bytes.TrimSpace(o.Data)
		if len(inner) > 0 && inner[0] == '[' {
			return refParseArray(inner, *o.Stream)
		}
		env, err := refParseEnvelope(inner)
		env.Stream = *o.Stream
		return env, err
	}
	t, err := refParseEventTime(o.E)
	if err != nil {
		return Envelope{Event: o.Ev, Payload: frame}, err
	}
	return Envelope{Event: o.Ev, EventTime: t, Payload: frame, ListenKey: o.ListenKey}, nil
}

func refParseArray(frame []byte, stream string) (Envelope, error) {
	var elems []refRawObject
	if err := json.Unmarshal(frame, &elems); err != nil {
		return Envelope{Stream: stream, Array: true}, fmt.Errorf("decoding array frame: %w", err)
	}
	env := Envelope{Stream: stream, Payload: frame, Array: true, Count: len(elems)}
	if len(elems) > 0 {
		env.Event = elems[0].Ev
		t, err := refParseEventTime(elems[0].E)
		if err != nil {
			return env, err
		}
		env.EventTime = t
	}
	return env, nil
}

// parseEventTime accepts E as a JSON number or a numeric JSON string.
func refParseEventTime(raw json.RawMessage) (int64, error) {
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
