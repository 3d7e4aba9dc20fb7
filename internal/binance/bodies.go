package binance

import (
	"errors"
	"fmt"
)

// The readers below decode one JSON object into a typed body with the
// semantics the reflection decoder had, so the same frames give the same
// events: a key read twice is decoded twice (the last value wins, objects
// merge into what an earlier occurrence filled), null resets a typed field
// to its zero value, a value of the wrong kind is an error, and unknown keys
// are validated and ignored. Each returns the first semantic error.

// fieldErr names the key in a field's error; nil stays nil.
func fieldErr(err error, key []byte) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("field %q: %w", clip(key), err)
}

// object reads the object at the cursor into fields (called once per key
// with the cursor on the value, and which must consume it). null leaves the
// target alone; any other kind is an error. It reports whether the value
// was null.
func (s *scanner) object(what string, field func(key []byte) error) (null bool, err error) {
	switch s.peek() {
	case '{':
	case 'n':
		s.lit("null")
		return true, nil
	default:
		return false, s.wrongKind(what)
	}
	if !s.open() {
		return false, nil
	}
	for first := true; s.next('}', &first); {
		k := s.key()
		if s.err != nil {
			return false, nil
		}
		if e := field(k); err == nil && e != nil {
			err = fieldErr(e, k)
		}
	}
	return false, err
}

// slice reads an array of objects into cur the way encoding/json does: the
// elements decode in place (an element null stays as it was), the slice is
// cut to the array's length, [] is an empty non-nil slice and null is nil.
func slice[T any](s *scanner, cur []T, what string, elem func(*T, []byte) error) ([]T, error) {
	switch s.peek() {
	case '[':
	case 'n':
		s.lit("null")
		return nil, nil
	default:
		return cur, s.wrongKind("an array of " + what)
	}
	if !s.open() {
		return cur, nil
	}
	var err error
	i := 0
	for first := true; s.next(']', &first); i++ {
		if i >= len(cur) {
			if i < cap(cur) {
				cur = cur[:i+1]
			} else {
				var zero T
				cur = append(cur, zero)
			}
		}
		p := &cur[i]
		if _, e := s.object(what, func(k []byte) error { return elem(p, k) }); err == nil && e != nil {
			err = fmt.Errorf("element %d: %w", i, e)
		}
	}
	if i < len(cur) {
		cur = cur[:i]
	}
	if i == 0 {
		cur = make([]T, 0)
	}
	return cur, err
}

func (s *scanner) orderField(o *OrderUpdate, k []byte) (err error) {
	switch string(k) {
	case "s":
		o.Symbol, err = s.text()
	case "c":
		o.ClientOrderID, err = s.text()
	case "S":
		o.Side, err = s.text()
	case "o":
		o.OrderType, err = s.text()
	case "f":
		o.TimeInForce, err = s.text()
	case "q":
		o.OrigQty, err = s.decimal()
	case "p":
		o.Price, err = s.decimal()
	case "ap":
		o.AvgPrice, err = s.decimal()
	case "sp":
		o.StopPrice, err = s.decimal()
	case "x":
		o.ExecutionType, err = s.text()
	case "X":
		o.Status, err = s.text()
	case "i":
		o.OrderID, err = s.int64v()
	case "l":
		o.LastQty, err = s.decimal()
	case "z":
		o.CumQty, err = s.decimal()
	case "L":
		o.LastPrice, err = s.decimal()
	case "N":
		o.CommissionAsset, err = s.text()
	case "n":
		o.Commission, err = s.decimal()
	case "T":
		o.TradeTime, err = s.int64v()
	case "t":
		o.TradeID, err = s.int64v()
	case "m":
		o.Maker, err = s.boolv()
	case "R":
		o.ReduceOnly, err = s.boolv()
	case "wt":
		o.WorkingType, err = s.text()
	case "ot":
		o.OrigType, err = s.text()
	case "ps":
		o.PositionSide, err = s.text()
	case "cp":
		o.ClosePosition, err = s.boolv()
	case "rp":
		o.RealizedProfit, err = s.decimal()
	case "V":
		o.STPMode, err = s.text()
	case "pm":
		o.PriceMatch, err = s.text()
	case "gtd":
		o.GoodTillDate, err = s.int64v()
	case "er":
		o.ExpiryReason, err = s.text()
	case "AP":
		o.ActivationPrice, err = s.decimal()
	case "cr":
		o.CallbackRate, err = s.decimal()
	case "pP":
		o.PriceProtect, err = s.boolv()
	case "M":
		o.RawM = s.raw()
	case "W":
		o.RawW = s.raw()
	default:
		s.skip()
	}
	return err
}

func (s *scanner) algoField(a *AlgoUpdate, k []byte) (err error) {
	switch string(k) {
	case "caid":
		a.ClientAlgoID, err = s.text()
	case "aid":
		a.AlgoID, err = s.int64v()
	case "at":
		a.AlgoType, err = s.text()
	case "o":
		a.OrderType, err = s.text()
	case "s":
		a.Symbol, err = s.text()
	case "S":
		a.Side, err = s.text()
	case "ps":
		a.PositionSide, err = s.text()
	case "f":
		a.TimeInForce, err = s.text()
	case "q":
		a.Qty, err = s.decimal()
	case "X":
		a.Status, err = s.text()
	case "ai":
		a.ActualOrderID, err = s.text()
	case "ap":
		a.AvgPrice, err = s.decimal()
	case "aq":
		a.ExecutedQty, err = s.decimal()
	case "act":
		a.ActualType, err = s.text()
	case "tp":
		a.TriggerPrice, err = s.decimal()
	case "p":
		a.Price, err = s.decimal()
	case "R":
		a.ReduceOnly, err = s.boolv()
	case "cp":
		a.ClosePosition, err = s.boolv()
	case "tt":
		a.TriggerTime, err = s.int64v()
	case "rm":
		a.FailReason, err = s.text()
	default:
		s.skip()
	}
	return err
}

func (s *scanner) balanceField(b *Balance, k []byte) (err error) {
	switch string(k) {
	case "a":
		b.Asset, err = s.text()
	case "wb":
		b.WalletBalance, err = s.decimal()
	case "cw":
		b.CrossWallet, err = s.decimal()
	case "bc":
		b.BalanceChange, err = s.decimal()
	default:
		s.skip()
	}
	return err
}

func (s *scanner) positionField(p *Position, k []byte) (err error) {
	switch string(k) {
	case "s":
		p.Symbol, err = s.text()
	case "pa":
		p.Amount, err = s.decimal()
	case "ep":
		p.EntryPrice, err = s.decimal()
	case "bep":
		p.BreakEven, err = s.decimal()
	case "cr":
		p.AccumRealized, err = s.decimal()
	case "up":
		p.UnrealizedPnL, err = s.decimal()
	case "mt":
		p.MarginType, err = s.text()
	case "iw":
		p.IsolatedWallet, err = s.decimal()
	case "ps":
		p.PositionSide, err = s.text()
	default:
		s.skip()
	}
	return err
}

func (s *scanner) accountField(a *AccountUpdate, k []byte) (err error) {
	switch string(k) {
	case "m":
		a.Reason, err = s.text()
	case "B":
		a.Balances, err = slice(s, a.Balances, "balance", s.balanceField)
	case "P":
		a.Positions, err = slice(s, a.Positions, "position", s.positionField)
	default:
		s.skip()
	}
	return err
}

func (s *scanner) tradeLiteField(t *TradeLite, k []byte) (err error) {
	switch string(k) {
	case "s":
		t.Symbol, err = s.text()
	case "q":
		t.OrigQty, err = s.decimal()
	case "p":
		t.Price, err = s.decimal()
	case "m":
		t.Maker, err = s.boolv()
	case "c":
		t.ClientOrderID, err = s.text()
	case "S":
		t.Side, err = s.text()
	case "L":
		t.LastPrice, err = s.decimal()
	case "l":
		t.LastQty, err = s.decimal()
	case "t":
		t.TradeID, err = s.int64v()
	case "i":
		t.OrderID, err = s.int64v()
	case "T":
		t.Time, err = s.int64v()
	default: // "e" and "E" are the envelope's (RawEv and RawE are set in fill)
		s.skip()
	}
	return err
}

func (s *scanner) marginPositionField(p *MarginCallPosition, k []byte) (err error) {
	switch string(k) {
	case "s":
		p.Symbol, err = s.text()
	case "ps":
		p.PositionSide, err = s.text()
	case "pa":
		p.Amount, err = s.decimal()
	case "mt":
		p.MarginType, err = s.text()
	case "iw":
		p.IsolatedWallet, err = s.decimal()
	case "mp":
		p.MarkPrice, err = s.decimal()
	case "up":
		p.UnrealizedPnL, err = s.decimal()
	case "mm":
		p.MaintenanceMargin, err = s.decimal()
	default:
		s.skip()
	}
	return err
}

func (s *scanner) marginCallField(m *MarginCall, k []byte) (err error) {
	switch string(k) {
	case "cw":
		m.CrossWallet, err = s.decimal()
	case "p":
		m.Positions, err = slice(s, m.Positions, "position", s.marginPositionField)
	default:
		s.skip()
	}
	return err
}

func (s *scanner) rejectField(r *ConditionalReject, k []byte) (err error) {
	switch string(k) {
	case "s":
		r.Symbol, err = s.text()
	case "i":
		r.OrderID, err = s.int64v()
	case "r":
		r.Reason, err = s.text()
	default:
		s.skip()
	}
	return err
}

// markField reads one key of a markPriceUpdate object into m; it reports
// false for a key that is not a mark-price field (left unread).
func (s *scanner) markField(m *MarkPrice, k []byte) (ok bool, err error) {
	switch string(k) {
	case "s":
		m.Symbol, err = s.text()
	case "p":
		m.MarkPrice, err = s.decimal()
	case "i":
		m.IndexPrice, err = s.decimal()
	case "P":
		m.SettlePrice, err = s.decimal()
	case "r":
		m.FundingRate, err = s.decimal()
	case "T":
		m.NextFundingTime, err = s.int64v()
	default:
		return false, nil
	}
	return true, err
}

// body is the typed part of one event object, filled key by key for the
// event type known when the key is read.
type body struct {
	err error // first error of any field but "o"
	t   Int64 // "T": the transaction time

	// "o" of ORDER_TRADE_UPDATE and ALGO_UPDATE: only its last occurrence counts.
	oSeen bool
	oErr  error
	order *OrderUpdate
	algo  *AlgoUpdate

	acct   *AccountUpdate
	reject *ConditionalReject
	ac     *accountConfigAC
	ai     *accountConfigAI
	lite   *TradeLite
	margin *MarginCall
	mark   MarkPrice
}

type accountConfigAC struct {
	Symbol   Text
	Leverage Int64
}

type accountConfigAI struct {
	MultiAssets Bool
}

func (b *body) note(err error, k []byte) {
	if b.err == nil && err != nil {
		b.err = fieldErr(err, k)
	}
}

// bodyField reads key k of an event object of type typ into b (or skips it).
func (s *scanner) bodyField(typ string, b *body, k []byte) {
	switch typ {
	case EventOrderTradeUpdate, EventAlgoUpdate, EventAccountUpdate, EventAccountConfig, EventConditionalReject:
		if string(k) == "T" {
			v, err := s.int64v()
			b.t = v
			b.note(err, k)
			return
		}
	}
	var err error
	switch typ {
	case EventOrderTradeUpdate, EventAlgoUpdate:
		if string(k) != "o" {
			s.skip()
			return
		}
		s.readO(typ, b)
		return
	case EventAccountUpdate:
		if string(k) != "a" {
			s.skip()
			return
		}
		err = pointerObject(s, &b.acct, "an account update", s.accountField)
	case EventConditionalReject:
		if string(k) != "or" {
			s.skip()
			return
		}
		err = pointerObject(s, &b.reject, "a rejection", s.rejectField)
	case EventAccountConfig:
		switch string(k) {
		case "ac":
			err = pointerObject(s, &b.ac, "a leverage change", func(ac *accountConfigAC, k []byte) (err error) {
				switch string(k) {
				case "s":
					ac.Symbol, err = s.text()
				case "l":
					ac.Leverage, err = s.int64v()
				default:
					s.skip()
				}
				return err
			})
		case "ai":
			err = pointerObject(s, &b.ai, "a multi-assets change", func(ai *accountConfigAI, k []byte) (err error) {
				if string(k) == "j" {
					ai.MultiAssets, err = s.boolv()
				} else {
					s.skip()
				}
				return err
			})
		default:
			s.skip()
		}
	case EventTradeLite:
		if b.lite == nil {
			b.lite = new(TradeLite)
		}
		err = s.tradeLiteField(b.lite, k)
	case EventMarginCall:
		if b.margin == nil {
			b.margin = new(MarginCall)
		}
		err = s.marginCallField(b.margin, k)
	case EventMarkPriceUpdate:
		var ok bool
		if ok, err = s.markField(&b.mark, k); !ok {
			s.skip()
		}
	default:
		s.skip()
	}
	b.note(err, k)
}

// readO reads one occurrence of "o": an object replaces the order (or algo
// order) read so far; null or another kind makes the event invalid unless
// a later "o" is an object.
func (s *scanner) readO(typ string, b *body) {
	b.oSeen, b.order, b.algo, b.oErr = true, nil, nil, nil
	switch s.peek() {
	case '{':
	case 'n':
		s.lit("null")
		b.oErr = errors.New(`missing object "o"`)
		return
	default:
		s.skip()
		b.oErr = errors.New(`field "o" is not an object`)
		return
	}
	if typ == EventAlgoUpdate {
		a := new(AlgoUpdate)
		_, b.oErr = s.object("an algo update", func(k []byte) error { return s.algoField(a, k) })
		b.algo = a
		return
	}
	o := new(OrderUpdate)
	_, b.oErr = s.object("an order update", func(k []byte) error { return s.orderField(o, k) })
	b.order = o
}

// pointerObject reads an object into *p (allocated on first use, merged
// on later occurrences); null sets *p to nil.
func pointerObject[T any](s *scanner, p **T, what string, field func(*T, []byte) error) error {
	switch s.peek() {
	case '{':
		if *p == nil {
			*p = new(T)
		}
		t := *p
		_, err := s.object(what, func(k []byte) error { return field(t, k) })
		return err
	case 'n':
		s.lit("null")
		*p = nil
		return nil
	default:
		return s.wrongKind(what)
	}
}
