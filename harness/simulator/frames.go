package simulator

import (
	"encoding/json"
	"strconv"
)

// Frame shapes. Field order follows Binance's documentation; prices and
// quantities are strings, ids are int64, ALGO_UPDATE's ai is a string.

type otuFrame struct {
	Event string   `json:"e"`
	E     int64    `json:"E"`
	T     int64    `json:"T"`
	O     otuOrder `json:"o"`
}

type otuOrder struct {
	Symbol        string `json:"s"`
	ClientID      string `json:"c"`
	Side          string `json:"S"`
	Type          string `json:"o"`
	TimeInForce   string `json:"f"`
	Qty           string `json:"q"`
	Price         string `json:"p"`
	AvgPrice      string `json:"ap"`
	StopPrice     string `json:"sp"`
	Execution     string `json:"x"`
	Status        string `json:"X"`
	OrderID       int64  `json:"i"`
	LastQty       string `json:"l"`
	CumQty        string `json:"z"`
	LastPrice     string `json:"L"`
	FeeAsset      string `json:"N"`
	Fee           string `json:"n"`
	TradeTime     int64  `json:"T"`
	TradeID       int64  `json:"t"`
	Bids          string `json:"b"`
	Asks          string `json:"a"`
	Maker         bool   `json:"m"`
	ReduceOnly    bool   `json:"R"`
	WorkingType   string `json:"wt"`
	OrigType      string `json:"ot"`
	PositionSide  string `json:"ps"`
	ClosePosition bool   `json:"cp"`
	Activation    string `json:"AP"`
	CallbackRate  string `json:"cr"`
	PriceProtect  bool   `json:"pP"`
	SI            int64  `json:"si"`
	SS            int64  `json:"ss"`
	Realized      string `json:"rp"`
	STP           string `json:"V"`
	PriceMatch    string `json:"pm"`
	GTD           int64  `json:"gtd"`
	ExpiryReason  string `json:"er"`
}

type tradeLiteFrame struct {
	Event    string `json:"e"`
	E        int64  `json:"E"`
	T        int64  `json:"T"`
	Symbol   string `json:"s"`
	Qty      string `json:"q"`
	Price    string `json:"p"`
	Maker    bool   `json:"m"`
	ClientID string `json:"c"`
	Side     string `json:"S"`
	LastPx   string `json:"L"`
	LastQty  string `json:"l"`
	TradeID  int64  `json:"t"`
	OrderID  int64  `json:"i"`
}

type accountUpdateFrame struct {
	Event string        `json:"e"`
	E     int64         `json:"E"`
	T     int64         `json:"T"`
	A     accountUpdate `json:"a"`
}

type accountUpdate struct {
	Reason    string           `json:"m"`
	Balances  []balanceUpdate  `json:"B"`
	Positions []positionUpdate `json:"P"`
}

type balanceUpdate struct {
	Asset       string `json:"a"`
	Wallet      string `json:"wb"`
	CrossWallet string `json:"cw"`
	Change      string `json:"bc"`
}

type positionUpdate struct {
	Symbol       string `json:"s"`
	Amount       string `json:"pa"`
	Entry        string `json:"ep"`
	BreakEven    string `json:"bep"`
	Realized     string `json:"cr"`
	Unrealized   string `json:"up"`
	MarginType   string `json:"mt"`
	IsolatedWall string `json:"iw"`
	PositionSide string `json:"ps"`
}

type algoFrame struct {
	Event string     `json:"e"`
	T     int64      `json:"T"`
	E     int64      `json:"E"`
	O     algoOrderO `json:"o"`
}

type algoOrderO struct {
	ClientAlgoID  string  `json:"caid"`
	AlgoID        int64   `json:"aid"`
	AlgoType      string  `json:"at"`
	Type          string  `json:"o"`
	Symbol        string  `json:"s"`
	Side          string  `json:"S"`
	PositionSide  string  `json:"ps"`
	TimeInForce   string  `json:"f"`
	Qty           string  `json:"q"`
	Status        string  `json:"X"`
	ActualOrderID string  `json:"ai"`
	AvgPrice      *string `json:"ap,omitempty"`
	ExecutedQty   *string `json:"aq,omitempty"`
	ActualType    *string `json:"act,omitempty"`
	TriggerPrice  string  `json:"tp"`
	Price         string  `json:"p"`
	STP           string  `json:"V"`
	WorkingType   string  `json:"wt"`
	PriceMatch    string  `json:"pm"`
	ClosePosition bool    `json:"cp"`
	PriceProtect  bool    `json:"pP"`
	ReduceOnly    bool    `json:"R"`
	TriggerTime   int64   `json:"tt"`
	GTD           int64   `json:"gtd"`
	Reason        string  `json:"rm,omitempty"`
}

// execution is what one ORDER_TRADE_UPDATE reports beyond the order state.
type execution struct {
	x         string // NEW, TRADE, CANCELED, EXPIRED, AMENDMENT, CALCULATED
	lastLots  int64
	lastPrice float64
	fee       float64
	tradeID   int64
	maker     bool
	realized  float64
	t         int64 // transaction time
}

func (a *account) otuFrame(o *order, ex execution, e int64) []byte {
	sp := o.sp
	stop := "0"
	if o.stopPrice > 0 {
		stop = sp.fmtPrice(o.stopPrice)
	}
	price := "0"
	if o.price > 0 {
		price = sp.fmtPrice(o.price)
	}
	avg := "0"
	if o.filled > 0 {
		avg = fmtDec(o.avg, sp.pricePrec+2)
	}
	last := "0"
	if ex.lastLots > 0 {
		last = sp.fmtPrice(ex.lastPrice)
	}
	bids, asks := a.openNotional(sp.Symbol)
	f := otuFrame{Event: "ORDER_TRADE_UPDATE", E: e, T: ex.t, O: otuOrder{
		Symbol: sp.Symbol, ClientID: o.clientID, Side: o.side, Type: o.typ, TimeInForce: o.tif,
		Qty: sp.fmtQty(o.lots), Price: price, AvgPrice: avg, StopPrice: stop,
		Execution: ex.x, Status: o.status, OrderID: o.id,
		LastQty: fmtQtyOrZero(sp, ex.lastLots), CumQty: fmtQtyOrZero(sp, o.filled), LastPrice: last,
		FeeAsset: sp.Quote, Fee: fmtDec(ex.fee, 8), TradeTime: ex.t, TradeID: ex.tradeID,
		Bids: bids, Asks: asks, Maker: ex.maker, ReduceOnly: o.reduceOnly,
		WorkingType: "CONTRACT_PRICE", OrigType: o.origType, PositionSide: "BOTH",
		Activation: "0", CallbackRate: "0", Realized: fmtDec(ex.realized, 8),
		STP: "EXPIRE_MAKER", PriceMatch: "NONE", ExpiryReason: o.er,
	}}
	return mustJSON(f)
}

func fmtQtyOrZero(sp *spec, lots int64) string {
	if lots == 0 {
		return "0"
	}
	return sp.fmtQty(lots)
}

// openNotional sums price x remaining quantity of open orders per side ("b", "a").
func (a *account) openNotional(symbol string) (bids, asks string) {
	var b, s float64
	for _, o := range a.live {
		if o.sp.Symbol != symbol || o.typ != "LIMIT" {
			continue
		}
		n := o.price * o.sp.qty(o.lots-o.filled)
		if o.side == "BUY" {
			b += n
		} else {
			s += n
		}
	}
	return trimZero(fmtDec(b, 5)), trimZero(fmtDec(s, 5))
}

func trimZero(s string) string {
	if f, err := strconv.ParseFloat(s, 64); err == nil && f == 0 {
		return "0"
	}
	return s
}

func (a *account) tradeLiteFrame(o *order, ex execution, e int64) []byte {
	sp := o.sp
	price := "0"
	if o.typ == "LIMIT" {
		price = sp.fmtPrice(o.price)
	}
	return mustJSON(tradeLiteFrame{
		Event: "TRADE_LITE", E: e, T: ex.t, Symbol: sp.Symbol, Qty: sp.fmtQty(o.lots), Price: price,
		Maker: ex.maker, ClientID: o.clientID, Side: o.side, LastPx: sp.fmtPrice(ex.lastPrice),
		LastQty: sp.fmtQty(ex.lastLots), TradeID: ex.tradeID, OrderID: o.id,
	})
}

func (a *account) accountUpdateFrame(sp *spec, mark float64, t, e int64) []byte {
	p := a.positions[sp.Symbol]
	if p == nil {
		p = &position{}
	}
	w := fmtDec(a.wallet[sp.Quote], 8)
	up := (mark - p.entry) * sp.qty(p.lots)
	if p.lots == 0 {
		up = 0
	}
	return mustJSON(accountUpdateFrame{Event: "ACCOUNT_UPDATE", E: e, T: t, A: accountUpdate{
		Reason:   "ORDER",
		Balances: []balanceUpdate{{Asset: sp.Quote, Wallet: w, CrossWallet: w, Change: "0"}},
		Positions: []positionUpdate{{
			Symbol: sp.Symbol, Amount: sp.fmtQty(p.lots), Entry: fmtDec(p.entry, sp.pricePrec+2),
			BreakEven: fmtDec(p.entry, sp.pricePrec+2), Realized: fmtDec(p.realized, 8),
			Unrealized: fmtDec(up, 8), MarginType: "cross", IsolatedWall: "0", PositionSide: "BOTH",
		}},
	}})
}

func (a *account) algoFrame(g *algoOrder, t, e int64) []byte {
	sp := g.sp
	price := "0"
	if g.price > 0 {
		price = sp.fmtPrice(g.price)
	}
	o := algoOrderO{
		ClientAlgoID: g.clientID, AlgoID: g.id, AlgoType: "CONDITIONAL", Type: g.typ,
		Symbol: sp.Symbol, Side: g.side, PositionSide: "BOTH", TimeInForce: "GTC",
		Qty: sp.fmtQty(g.lots), Status: g.status, TriggerPrice: sp.fmtPrice(g.trigger), Price: price,
		STP: "EXPIRE_MAKER", WorkingType: "CONTRACT_PRICE", PriceMatch: "NONE",
		ReduceOnly: g.reduceOnly, TriggerTime: g.tt, Reason: g.rm,
	}
	switch {
	case g.actual != nil:
		act := g.actual
		o.ActualOrderID = strconv.FormatInt(act.id, 10)
		ap, aq, at := "0", "0", g.actType()
		if act.filled > 0 {
			ap, aq = fmtDec(act.avg, sp.pricePrec+2), sp.fmtQty(act.filled)
		}
		o.AvgPrice, o.ExecutedQty, o.ActualType = &ap, &aq, &at
	case g.status != "TRIGGERING": // live TRIGGERING frames carry no ap/aq/act
		zero := "0"
		o.AvgPrice, o.ExecutedQty, o.ActualType = &zero, &zero, &zero
	}
	return mustJSON(algoFrame{Event: "ALGO_UPDATE", T: t, E: e, O: o})
}

// listenKeyExpiredFrame has E as a JSON string, as Binance sends it.
func listenKeyExpiredFrame(key string, e int64) []byte {
	b := []byte(`{"e":"listenKeyExpired","E":"`)
	b = strconv.AppendInt(b, e, 10)
	b = append(b, `","listenKey":`...)
	b = appendJSONString(b, key)
	return append(b, '}')
}

// wrap builds the combined-stream form {"stream":name,"data":frame}.
func wrap(stream string, frame []byte) []byte {
	b := make([]byte, 0, len(frame)+len(stream)+24)
	b = append(b, `{"stream":`...)
	b = appendJSONString(b, stream)
	b = append(b, `,"data":`...)
	b = append(b, frame...)
	return append(b, '}')
}

func appendJSONString(b []byte, s string) []byte {
	q, _ := json.Marshal(s) // a string always marshals
	return append(b, q...)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic("simulator: encoding a frame: " + err.Error()) // only fixed struct types reach here
	}
	return b
}
