package binance

import (
	"encoding/json"
	"errors"
	"fmt"
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
	env, err := ParseEnvelope(frame)
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
