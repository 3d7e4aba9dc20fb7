package binance

import (
	"encoding/json"
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
func Decode(frame []byte) (Event, error) {
	env, err := ParseEnvelope(frame)
	if err != nil {
		return Event{}, err
	}
	ev := Event{Type: env.Event, EventTime: env.EventTime, Stream: env.Stream, Payload: env.Payload}
	if env.Array {
		return decodeArray(ev, env)
	}
	if ev.Type == "" {
		return Event{}, ErrNoEventType
	}
	if err := decodeBody(&ev, env); err != nil {
		return Event{}, fmt.Errorf("decoding %s: %w", ev.Type, err)
	}
	return ev, nil
}

func decodeArray(ev Event, env Envelope) (Event, error) {
	if env.Count == 0 {
		return Event{}, errors.New("decoding array frame: no elements")
	}
	if env.Event != EventMarkPriceUpdate {
		ev.Unknown = true
		return ev, nil
	}
	var elems []struct {
		E  Int64           `json:"E"`
		Ev json.RawMessage `json:"e"` // absorbs "e" (see OrderUpdate.RawM)
		MarkPrice
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

// envelopeT is the transaction time of a modelled event. The lower-case
// "t" is declared so that encoding/json's case-insensitive fallback cannot
// route a TRADE_LITE trade id into T.
type envelopeT struct {
	T Int64           `json:"T"`
	L json.RawMessage `json:"t"`
}

func decodeBody(ev *Event, env Envelope) error {
	p := env.Payload
	switch ev.Type {
	case EventOrderTradeUpdate, EventAlgoUpdate:
		var b struct {
			envelopeT
			O json.RawMessage `json:"o"`
		}
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		ev.TransactionTime = int64(b.T)
		if ev.Type == EventAlgoUpdate {
			ev.Algo = new(AlgoUpdate)
			return decodeObject(b.O, "o", ev.Algo)
		}
		ev.Order = new(OrderUpdate)
		return decodeObject(b.O, "o", ev.Order)
	case EventAccountUpdate:
		var b struct {
			envelopeT
			A *AccountUpdate `json:"a"`
		}
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		if b.A == nil {
			return errors.New(`missing object "a"`)
		}
		ev.TransactionTime, ev.Account = int64(b.T), b.A
	case EventTradeLite:
		ev.TradeLite = new(TradeLite)
		if err := json.Unmarshal(p, ev.TradeLite); err != nil {
			return err
		}
		ev.TransactionTime = int64(ev.TradeLite.Time)
	case EventMarginCall:
		ev.MarginCall = new(MarginCall)
		return json.Unmarshal(p, ev.MarginCall)
	case EventAccountConfig:
		return decodeAccountConfig(ev, p)
	case EventConditionalReject:
		var b struct {
			envelopeT
			Or *ConditionalReject `json:"or"`
		}
		if err := json.Unmarshal(p, &b); err != nil {
			return err
		}
		if b.Or == nil {
			return errors.New(`missing object "or"`)
		}
		ev.TransactionTime, ev.ConditionalReject = int64(b.T), b.Or
	case EventListenKeyExpired:
		ev.ListenKey = env.ListenKey
	case EventMarkPriceUpdate:
		var mp MarkPrice
		if err := json.Unmarshal(p, &mp); err != nil {
			return err
		}
		mp.EventTime = ev.EventTime
		ev.MarkPrices = []MarkPrice{mp}
	case EventStrategyUpdate, EventGridUpdate:
		// Known, not modelled: passed on with type and time only.
	default:
		ev.Unknown = true
	}
	return nil
}

func decodeAccountConfig(ev *Event, p []byte) error {
	var b struct {
		envelopeT
		AC *struct {
			Symbol   Text  `json:"s"`
			Leverage Int64 `json:"l"`
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

// decodeObject decodes a required JSON object field.
func decodeObject(raw json.RawMessage, name string, into any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return fmt.Errorf("missing object %q", name)
	}
	if raw[0] != '{' {
		return fmt.Errorf("field %q is not an object", name)
	}
	return json.Unmarshal(raw, into)
}
