package simulator

import (
	"strconv"

	"github.com/kraite/stream/internal/binanceapi"
)

// SetTrading pauses (false) or resumes (true) the simulator's own order
// lifecycles driven by OrderInterval; Step and REST orders are unaffected.
// Tests pause to let the pipeline settle before comparing with the ground truth.
func (s *Simulator) SetTrading(on bool) { s.paused.Store(!on) }

// Step performs one lifecycle step of the account now: one action such as
// placing, filling, amending, canceling, expiring or liquidating an order,
// or moving an algo order one stage on. Each action emits one to four
// frames. The sequence of actions is a pure function of the seed, the
// account and what happened to its orders before (REST calls included), so
// two simulators with the same seed and the same calls produce the same
// frames. Unknown accounts are ignored. Works with OrderInterval < 0.
func (s *Simulator) Step(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byID[accountID]; a != nil {
		s.step(a)
	}
}

type action struct {
	weight float64
	run    func(*Simulator, *account)
}

func (s *Simulator) step(a *account) {
	open, algos, positions := len(a.openOrders()), len(a.pendingAlgos()), len(a.openPositions())
	w := func(cond bool, v float64) float64 {
		if cond {
			return v
		}
		return 0
	}
	actions := []action{
		{w(open < 8, 20) + w(open >= 8, 2), (*Simulator).newLimit},
		{6, (*Simulator).newMarket},
		{3, (*Simulator).newIOC},
		{w(open > 0, 12), (*Simulator).partialFill},
		{w(open > 0, 12), (*Simulator).fullFill},
		{w(open > 0, 8), (*Simulator).cancelOrder},
		{w(open > 0, 4), (*Simulator).expireOrder},
		{w(open > 0, 5), (*Simulator).amendOrder},
		{w(positions > 0, 1.5), (*Simulator).liquidate},
		{w(algos < 4, 8) + w(algos >= 4, 1), (*Simulator).newAlgo},
		{w(algos > 0, 14), (*Simulator).advanceAlgo},
	}
	var total float64
	for _, ac := range actions {
		total += ac.weight
	}
	r := a.rng.Float64() * total
	for _, ac := range actions {
		if r < ac.weight {
			ac.run(s, a)
			return
		}
		r -= ac.weight
	}
	actions[0].run(s, a)
}

func (a *account) pickSymbol() *spec { return a.symbols[a.rng.IntN(len(a.symbols))] }

func (a *account) pickSide() string {
	if a.rng.IntN(2) == 0 {
		return "BUY"
	}
	return "SELL"
}

func pick[T any](a *account, xs []T) T { return xs[a.rng.IntN(len(xs))] }

// stamp returns the transaction time T (the clock) and an event time E a
// little after it, never before the account's previous E.
func (s *Simulator) stamp(a *account) (t, e int64) {
	t = s.now().UnixMilli()
	e = max(t+int64(a.rng.IntN(4)), a.lastE)
	a.lastE = e
	return t, e
}

func (s *Simulator) nextE(a *account, t int64) int64 {
	a.lastE = max(a.lastE+int64(a.rng.IntN(2)), t)
	return a.lastE
}

// reportOrder records o's new state and emits its ORDER_TRADE_UPDATE.
func (s *Simulator) reportOrder(a *account, o *order, ex execution) {
	o.updated, o.lastX = ex.t, ex.x
	a.track(o)
	s.emit(a, "ORDER_TRADE_UPDATE", a.otuFrame(o, ex, s.nextE(a, ex.t)))
	if !o.open() && o.algo != nil && o.algo.status == "TRIGGERED" {
		g := o.algo
		g.status, g.updated = "FINISHED", ex.t
		a.trackAlgo(g)
		s.emit(a, "ALGO_UPDATE", a.algoFrame(g, ex.t, s.nextE(a, ex.t)))
	}
}

func (s *Simulator) reportAlgo(a *account, g *algoOrder, t int64) {
	g.updated = t
	a.trackAlgo(g)
	s.emit(a, "ALGO_UPDATE", a.algoFrame(g, t, s.nextE(a, t)))
}

// placeOrder creates o as NEW and reports it.
func (s *Simulator) placeOrder(a *account, o *order) {
	t, _ := s.stamp(a)
	o.status, o.er, o.created = "NEW", "0", t
	if o.origType == "" {
		o.origType = o.typ
	}
	a.addOrder(o)
	s.reportOrder(a, o, execution{x: "NEW", t: t})
}

// fill executes lots of o at price and emits TRADE_LITE (for x=TRADE),
// ORDER_TRADE_UPDATE and ACCOUNT_UPDATE.
func (s *Simulator) fill(a *account, o *order, lots int64, price float64, maker bool, x string) {
	sp := o.sp
	t, _ := s.stamp(a)
	rate := 0.0005
	if maker {
		rate = 0.0002
	}
	fee := price * sp.qty(lots) * rate
	rp := a.applyFill(sp, o.side, lots, price)
	a.wallet[sp.Quote] += rp - fee
	o.avg = (o.avg*float64(o.filled) + price*float64(lots)) / float64(o.filled+lots)
	o.filled += lots
	o.status = "PARTIALLY_FILLED"
	if o.filled == o.lots {
		o.status = "FILLED"
	}
	ex := execution{x: x, lastLots: lots, lastPrice: price, fee: fee, tradeID: a.newTradeID(), maker: maker, realized: rp, t: t}
	a.income = append(a.income, income{sp: sp, typ: binanceapi.IncomeCommission, amount: -fee, t: t, tradeID: ex.tradeID})
	if rp != 0 {
		a.income = append(a.income, income{sp: sp, typ: binanceapi.IncomeRealizedPnL, amount: rp, t: t, tradeID: ex.tradeID})
	}
	if x == "TRADE" {
		s.emit(a, "TRADE_LITE", a.tradeLiteFrame(o, ex, s.nextE(a, t)))
	}
	s.reportOrder(a, o, ex)
	s.emit(a, "ACCOUNT_UPDATE", a.accountUpdateFrame(sp, s.market.markOf(sp.Symbol), t, s.nextE(a, t)))
}

// finish ends an open order as CANCELED or EXPIRED (with expiry reason er).
func (s *Simulator) finish(a *account, o *order, status, er string) {
	t, _ := s.stamp(a)
	o.status, o.er = status, er
	s.reportOrder(a, o, execution{x: status, t: t})
}

func (s *Simulator) newOrder(a *account, sp *spec, side, typ string) *order {
	return &order{id: a.newOrderID(), clientID: randString(a.rng, 22), sp: sp, side: side, typ: typ, tif: "GTC"}
}

func (s *Simulator) newLimit(a *account) {
	sp := a.pickSymbol()
	mark := s.market.markOf(sp.Symbol)
	o := s.newOrder(a, sp, a.pickSide(), "LIMIT")
	away := 0.001 + a.rng.Float64()*0.02
	if o.side == "SELL" {
		away = -away
	}
	o.price = sp.roundPrice(mark * (1 - away))
	o.lots = sp.lotsFor(20+a.rng.Float64()*400, o.price)
	if a.rng.IntN(7) == 0 {
		o.tif = "GTD"
	}
	s.placeOrder(a, o)
}

func (s *Simulator) takerPrice(a *account, sp *spec, side string) float64 {
	slip := a.rng.Float64() * 0.0005
	if side == "SELL" {
		slip = -slip
	}
	return sp.roundPrice(s.market.markOf(sp.Symbol) * (1 + slip))
}

func (s *Simulator) newMarket(a *account) {
	sp := a.pickSymbol()
	o := s.newOrder(a, sp, a.pickSide(), "MARKET")
	o.lots = sp.lotsFor(20+a.rng.Float64()*400, s.market.markOf(sp.Symbol))
	s.placeOrder(a, o)
	if o.lots > 1 && a.rng.IntN(8) == 0 { // thin book: the rest expires (er 9)
		s.fill(a, o, o.lots/2, s.takerPrice(a, sp, o.side), false, "TRADE")
		s.finish(a, o, "EXPIRED", "9")
		return
	}
	s.fill(a, o, o.lots, s.takerPrice(a, sp, o.side), false, "TRADE")
}

// newIOC places a crossing IOC limit order that fills in part and expires (er 2).
func (s *Simulator) newIOC(a *account) {
	sp := a.pickSymbol()
	o := s.newOrder(a, sp, a.pickSide(), "LIMIT")
	o.tif = "IOC"
	o.price = s.takerPrice(a, sp, o.side)
	o.lots = max(sp.lotsFor(20+a.rng.Float64()*400, o.price), 2)
	s.placeOrder(a, o)
	s.fill(a, o, 1+a.rng.Int64N(o.lots-1), o.price, false, "TRADE")
	s.finish(a, o, "EXPIRED", "2")
}

func (s *Simulator) partialFill(a *account) {
	o := pick(a, a.openOrders())
	rest := o.lots - o.filled
	lots := rest
	if rest > 1 {
		lots = 1 + a.rng.Int64N(rest-1)
	}
	s.fill(a, o, lots, o.price, true, "TRADE")
}

func (s *Simulator) fullFill(a *account) {
	o := pick(a, a.openOrders())
	s.fill(a, o, o.lots-o.filled, o.price, true, "TRADE")
}

func (s *Simulator) cancelOrder(a *account) {
	s.finish(a, pick(a, a.openOrders()), "CANCELED", "0")
}

func (s *Simulator) expireOrder(a *account) {
	o := pick(a, a.openOrders())
	er := pick(a, []string{"1", "4", "6"})
	if o.tif == "GTD" {
		er = "0"
	}
	s.finish(a, o, "EXPIRED", er)
}

func (s *Simulator) amendOrder(a *account) {
	o := pick(a, a.openOrders())
	t, _ := s.stamp(a)
	o.price = o.sp.roundPrice(o.price * (1 + (a.rng.Float64()-0.5)*0.01))
	if a.rng.IntN(3) == 0 {
		o.lots = max(o.lots+o.lots/4, o.filled+1)
	}
	s.reportOrder(a, o, execution{x: "AMENDMENT", t: t})
}

// liquidate closes a whole position with an autoclose order (x=CALCULATED).
func (s *Simulator) liquidate(a *account) {
	sym := pick(a, a.openPositions())
	p := a.positions[sym]
	sp, _ := s.market.spec(sym)
	side := "SELL"
	if p.lots < 0 {
		side = "BUY"
	}
	t := s.now().UnixMilli()
	o := &order{id: a.newOrderID(), clientID: "autoclose-" + strconv.FormatInt(t, 10), sp: sp,
		side: side, typ: "LIMIT", origType: "LIMIT", tif: "IOC", lots: abs(p.lots), reduceOnly: true,
		status: "NEW", er: "0", created: t}
	o.price = s.takerPrice(a, sp, side)
	a.addOrder(o)
	s.fill(a, o, o.lots, o.price, false, "CALCULATED")
}

func (s *Simulator) newAlgo(a *account) {
	sp := a.pickSymbol()
	mark := s.market.markOf(sp.Symbol)
	g := &algoOrder{id: a.newAlgoID(), clientID: randString(a.rng, 22), sp: sp, side: a.pickSide(),
		typ: pick(a, []string{"STOP_MARKET", "STOP_MARKET", "TAKE_PROFIT_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"})}
	// A SELL stop triggers below the market, a SELL take-profit above it.
	away := 0.005 + a.rng.Float64()*0.03
	if (g.side == "SELL") == (g.typ == "STOP" || g.typ == "STOP_MARKET") {
		away = -away
	}
	g.trigger = sp.roundPrice(mark * (1 + away))
	if g.actType() == "LIMIT" {
		g.price = g.trigger
	}
	g.lots = sp.lotsFor(20+a.rng.Float64()*300, mark)
	s.placeAlgo(a, g)
}

func (s *Simulator) placeAlgo(a *account, g *algoOrder) {
	t, _ := s.stamp(a)
	g.status, g.created = "NEW", t
	a.addAlgo(g)
	s.reportAlgo(a, g, t)
}

// pendingAlgos are the algo orders the algo flow moves on: untriggered ones
// and triggered ones whose MARKET order has not executed yet.
func (a *account) pendingAlgos() []*algoOrder {
	var out []*algoOrder
	for _, g := range a.openAlgos() {
		if g.status != "TRIGGERED" || g.actType() == "MARKET" {
			out = append(out, g)
		}
	}
	return out
}

func (s *Simulator) advanceAlgo(a *account) {
	g := pick(a, a.pendingAlgos())
	t, _ := s.stamp(a)
	r := a.rng.Float64()
	switch g.status {
	case "NEW":
		switch {
		case r < 0.65:
			g.status, g.tt = "TRIGGERING", t
		case r < 0.85:
			g.status = "CANCELED"
		default:
			g.status = "EXPIRED"
		}
		s.reportAlgo(a, g, t)
	case "TRIGGERING":
		if r < 0.15 {
			g.status, g.rm = "REJECTED", pick(a, []string{"Reduce Only reject", "Margin is insufficient."})
			s.reportAlgo(a, g, t)
			return
		}
		s.trigger(a, g, t)
	case "TRIGGERED": // MARKET order waiting for execution
		o := g.actual
		if r < 0.15 {
			s.finish(a, o, "EXPIRED", "9")
			return
		}
		s.fill(a, o, o.lots, s.takerPrice(a, g.sp, o.side), false, "TRADE")
	}
}

// trigger places the algo's order in the matching engine: ALGO_UPDATE
// TRIGGERED (ai = the new order id) followed by the order's NEW, reusing the
// client algo id as client order id.
func (s *Simulator) trigger(a *account, g *algoOrder, t int64) {
	o := &order{id: a.newOrderID(), clientID: g.clientID, sp: g.sp, side: g.side, typ: g.actType(),
		origType: g.typ, tif: "GTC", price: g.price, stopPrice: g.trigger, lots: g.lots,
		reduceOnly: g.reduceOnly, algo: g, status: "NEW", er: "0", created: t}
	a.addOrder(o)
	g.status, g.actual = "TRIGGERED", o
	s.reportAlgo(a, g, t)
	s.reportOrder(a, o, execution{x: "NEW", t: t})
}
