package simulator

import (
	"strconv"
	"strings"

	"github.com/kraite/stream/internal/binanceapi"
)

// rest is the algo order as the REST API shows it.
func (g *algoOrder) rest() binanceapi.AlgoOrder {
	t := g.truth()
	r := binanceapi.AlgoOrder{
		AlgoID: g.id, ClientAlgoID: g.clientID, AlgoType: "CONDITIONAL", OrderType: g.typ,
		Symbol: t.Symbol, Side: g.side, PositionSide: "BOTH", TimeInForce: "GTC", Quantity: t.Quantity,
		AlgoStatus: g.status, ActualPrice: t.AvgPrice, ExecutedQty: t.ExecutedQty,
		TriggerPrice: t.TriggerPrice, Price: t.Price, STP: "EXPIRE_MAKER", WorkingType: "CONTRACT_PRICE",
		PriceMatch: "NONE", ReduceOnly: g.reduceOnly, CreateTime: g.created, UpdateTime: g.updated,
		TriggerTime: g.tt,
	}
	if t.ActualOrderID != 0 {
		r.ActualOrderID = strconv.FormatInt(t.ActualOrderID, 10)
	}
	return r
}

func (s *Simulator) findAlgo(a *account, req *request) (*algoOrder, *apiError) {
	var g *algoOrder
	if id := req.params.Get("algoId"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, errMandatory("algoId")
		}
		g = a.algoByID[n]
	} else if cid := req.params.Get("clientAlgoId"); cid != "" {
		g = a.algoByCID[cid]
	} else {
		return nil, &apiError{400, -1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!"}
	}
	if g == nil {
		return nil, errNoOrder
	}
	return g, nil
}

func (s *Simulator) getAlgo(a *account, req *request) (any, *apiError) {
	g, aerr := s.findAlgo(a, req)
	if aerr != nil {
		return nil, aerr
	}
	return g.rest(), nil
}

// deleteAlgo cancels an untriggered algo order.
func (s *Simulator) deleteAlgo(a *account, req *request) (any, *apiError) {
	g, aerr := s.findAlgo(a, req)
	if aerr == errNoOrder || (aerr == nil && g.status != "NEW") {
		return nil, errUnknownOrder
	}
	if aerr != nil {
		return nil, aerr
	}
	t, _ := s.stamp(a)
	g.status = "CANCELED"
	s.reportAlgo(a, g, t)
	return map[string]any{"algoId": g.id, "clientAlgoId": g.clientID, "code": "200", "msg": "success"}, nil
}

func (s *Simulator) openAlgos(a *account, req *request) (any, *apiError) {
	sp, aerr := s.optionalSymbol(req)
	if aerr != nil {
		return nil, aerr
	}
	out := []binanceapi.AlgoOrder{}
	for _, g := range a.algos {
		if (g.status == "NEW" || g.status == "TRIGGERING") && (sp == nil || g.sp == sp) {
			out = append(out, g.rest())
		}
	}
	return out, nil
}

// allAlgos answers GET /fapi/v1/allAlgoOrders (see history).
func (s *Simulator) allAlgos(a *account, req *request) (any, *apiError) {
	return history(s, req, a.algos, func(g *algoOrder) (*spec, int64, int64) { return g.sp, g.created, g.updated }, (*algoOrder).rest)
}

// postAlgo places a CONDITIONAL order; a repeated clientAlgoId returns the
// existing one.
func (s *Simulator) postAlgo(a *account, req *request) (any, *apiError) {
	if cid := req.params.Get("clientAlgoId"); cid != "" {
		if g := a.algoByCID[cid]; g != nil {
			return g.rest(), nil
		}
	}
	switch at := strings.ToUpper(req.params.Get("algoType")); at {
	case "CONDITIONAL":
	case "":
		return nil, errMandatory("algoType")
	default:
		return nil, errInvalid(-1116, "algoType")
	}
	sp, aerr := s.symbolParam(req)
	if aerr != nil {
		return nil, aerr
	}
	side, aerr := sideParam(req)
	if aerr != nil {
		return nil, aerr
	}
	g := &algoOrder{id: a.newAlgoID(), clientID: req.params.Get("clientAlgoId"), sp: sp, side: side,
		typ: strings.ToUpper(req.params.Get("type")), reduceOnly: strings.EqualFold(req.params.Get("reduceOnly"), "true")}
	switch g.typ {
	case "STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT":
	case "":
		return nil, errMandatory("type")
	default:
		return nil, errInvalid(-1116, "orderType")
	}
	if g.trigger, aerr = parsePrice(sp, "triggerPrice", req.params.Get("triggerPrice")); aerr != nil {
		return nil, aerr
	}
	if g.actType() == "LIMIT" {
		if g.price, aerr = parsePrice(sp, "price", req.params.Get("price")); aerr != nil {
			return nil, aerr
		}
	}
	if strings.EqualFold(req.params.Get("closePosition"), "true") {
		g.lots, g.reduceOnly = 1, true
		if p := a.positions[sp.Symbol]; p != nil && p.lots != 0 {
			g.lots = abs(p.lots)
		}
	} else if g.lots, aerr = parseLots(sp, req.params.Get("quantity")); aerr != nil {
		return nil, aerr
	}
	if g.clientID == "" {
		g.clientID = randString(a.rng, 22)
	}
	s.placeAlgo(a, g)
	return g.rest(), nil
}

// unrealized sums the unrealized profit of a's positions quoted in asset.
func (s *Simulator) unrealized(a *account, asset string) float64 {
	var up float64
	for _, sym := range a.openPositions() {
		sp, _ := s.market.spec(sym)
		if sp.Quote != asset {
			continue
		}
		p := a.positions[sym]
		up += (s.market.markOf(sym) - p.entry) * sp.qty(p.lots)
	}
	return up
}

func (s *Simulator) balance(a *account, _ *request) (any, *apiError) {
	out := []binanceapi.Balance{}
	for _, asset := range []string{"USDT", "USDC"} {
		w, up := fmtDec(a.wallet[asset], 8), fmtDec(s.unrealized(a, asset), 8)
		out = append(out, binanceapi.Balance{AccountAlias: a.ID, Asset: asset, Balance: w, CrossWalletBalance: w,
			CrossUnPnl: up, AvailableBalance: w, MaxWithdrawAmount: w, MarginAvailable: true,
			UpdateTime: s.now().UnixMilli()})
	}
	return out, nil
}

func (s *Simulator) accountInfo(a *account, _ *request) (any, *apiError) {
	now := s.now().UnixMilli()
	var assets []binanceapi.AccountAsset
	var total, totalUp float64
	for _, name := range []string{"USDT", "USDC"} {
		w, up := a.wallet[name], s.unrealized(a, name)
		total, totalUp = total+w, totalUp+up
		assets = append(assets, binanceapi.AccountAsset{Asset: name, WalletBalance: fmtDec(w, 8), UnrealizedProfit: fmtDec(up, 8),
			MarginBalance: fmtDec(w+up, 8), CrossWalletBalance: fmtDec(w, 8), AvailableBalance: fmtDec(w, 8),
			MaxWithdrawAmount: fmtDec(w, 8), MarginAvailable: true, UpdateTime: now})
	}
	positions := []binanceapi.AccountPosition{}
	for _, sym := range a.openPositions() {
		sp, _ := s.market.spec(sym)
		p, mark := a.positions[sym], s.market.markOf(sym)
		positions = append(positions, binanceapi.AccountPosition{Symbol: sym, PositionAmt: sp.fmtQty(p.lots),
			EntryPrice: fmtDec(p.entry, sp.pricePrec+2), BreakEvenPrice: fmtDec(p.entry, sp.pricePrec+2),
			UnrealizedProfit: fmtDec((mark-p.entry)*sp.qty(p.lots), 8), Leverage: "10", Isolated: false, PositionSide: "BOTH",
			Notional: fmtDec(mark*sp.qty(p.lots), 8), UpdateTime: now})
	}
	return map[string]any{
		"feeTier": 0, "canTrade": true, "canDeposit": true, "canWithdraw": true, "updateTime": 0,
		"multiAssetsMargin": false, "tradeGroupId": -1,
		"totalWalletBalance": fmtDec(total, 8), "totalUnrealizedProfit": fmtDec(totalUp, 8),
		"totalMarginBalance": fmtDec(total+totalUp, 8), "totalCrossWalletBalance": fmtDec(total, 8),
		"totalCrossUnPnl": fmtDec(totalUp, 8), "availableBalance": fmtDec(total, 8),
		"maxWithdrawAmount": fmtDec(total, 8), "assets": assets, "positions": positions,
	}, nil
}
