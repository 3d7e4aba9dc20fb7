package simulator

import (
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
)

func (s *Simulator) restRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /fapi/v1/ping", s.rest(weight(1), func(w http.ResponseWriter, _ *request) {
		writeJSON(w, 200, struct{}{})
	}))
	mux.HandleFunc("GET /fapi/v1/time", s.rest(weight(1), func(w http.ResponseWriter, _ *request) {
		writeJSON(w, 200, map[string]int64{"serverTime": time.Now().UnixMilli()})
	}))
	mux.HandleFunc("GET /fapi/v1/exchangeInfo", s.rest(weight(1), func(w http.ResponseWriter, _ *request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(s.exchangeInfo)
	}))
	mux.HandleFunc("GET /fapi/v1/klines", s.rest(klineWeight, s.handleKlines))
	mux.HandleFunc("POST /fapi/v1/listenKey", s.rest(weight(1), s.handleListenKey))
	mux.HandleFunc("PUT /fapi/v1/listenKey", s.rest(weight(1), s.handleListenKey))
	mux.HandleFunc("DELETE /fapi/v1/listenKey", s.rest(weight(1), s.handleListenKey))
	s.signedRoute(mux, "GET /fapi/v1/order", weight(1), s.getOrder)
	s.signedRoute(mux, "POST /fapi/v1/order", weight(0), s.postOrder)
	s.signedRoute(mux, "DELETE /fapi/v1/order", weight(1), s.deleteOrder)
	s.signedRoute(mux, "GET /fapi/v1/openOrders", weightBySymbol(1, 40), s.openOrders)
	s.signedRoute(mux, "GET /fapi/v1/allOrders", weight(5), s.allOrders)
	s.signedRoute(mux, "GET /fapi/v1/income", weight(30), s.incomeHistory)
	s.signedRoute(mux, "GET /fapi/v1/algoOrder", weight(1), s.getAlgo)
	s.signedRoute(mux, "POST /fapi/v1/algoOrder", weight(0), s.postAlgo)
	s.signedRoute(mux, "DELETE /fapi/v1/algoOrder", weight(1), s.deleteAlgo)
	s.signedRoute(mux, "GET /fapi/v1/openAlgoOrders", weightBySymbol(1, 40), s.openAlgos)
	s.signedRoute(mux, "GET /fapi/v1/allAlgoOrders", weight(5), s.allAlgos)
	for _, v := range []string{"v2", "v3"} {
		s.signedRoute(mux, "GET /fapi/"+v+"/balance", weight(5), s.balance)
		s.signedRoute(mux, "GET /fapi/"+v+"/account", weight(5), s.accountInfo)
	}
}

// signedRoute registers a signed endpoint; h runs with mu held.
func (s *Simulator) signedRoute(mux *http.ServeMux, pattern string, wt func(*request) int,
	h func(*account, *request) (any, *apiError)) {
	mux.HandleFunc(pattern, s.rest(wt, func(w http.ResponseWriter, req *request) {
		a, aerr := s.authSigned(req)
		if aerr != nil {
			writeErr(w, aerr)
			return
		}
		s.mu.Lock()
		out, herr := h(a, req)
		s.mu.Unlock()
		if herr != nil {
			writeErr(w, herr)
			return
		}
		writeJSON(w, 200, out)
	}))
}

// handleListenKey: POST returns the active key (extended) or a new one; PUT
// extends and echoes it or answers -1125; DELETE invalidates it.
func (s *Simulator) handleListenKey(w http.ResponseWriter, req *request) {
	a, aerr := s.authAPIKey(req.Request)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	out, aerr := s.listenKeyCall(a, req.Method)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	writeJSON(w, 200, out) // outside mu: a slow client must not stall the simulator
}

func (s *Simulator) listenKeyCall(a *account, method string) (any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expireIfDue(a)
	now := s.now()
	switch method {
	case http.MethodPost:
		if !a.keyActive {
			a.key, a.keyActive = randString(a.keyRng, 64), true
			s.keyOwners[a.key] = a
		}
		a.keyExpiry = now.Add(s.cfg.ListenKeyTTL)
		return map[string]string{"listenKey": a.key}, nil
	case http.MethodPut:
		if !a.keyActive {
			return nil, errListenKey
		}
		a.keyExpiry = now.Add(s.cfg.ListenKeyTTL)
		return map[string]string{"listenKey": a.key}, nil
	default: // DELETE
		a.keyActive = false
		return struct{}{}, nil
	}
}

func (s *Simulator) keyOwner(key string) *account { return s.keyOwners[key] }

// expireIfDue expires a's listenKey once its TTL has passed. Caller holds mu.
func (s *Simulator) expireIfDue(a *account) {
	if a.keyActive && !s.now().Before(a.keyExpiry) {
		s.expireKey(a)
	}
}

// expireKey pushes listenKeyExpired to the key's sockets (never lost) and
// invalidates the key; the sockets stay open and get nothing more.
func (s *Simulator) expireKey(a *account) {
	key := a.key
	a.keyActive = false
	_, e := s.stamp(a)
	s.broadcast(a, key, "listenKeyExpired", listenKeyExpiredFrame(key, e))
}

// rest is the order as the REST API shows it.
func (o *order) rest() binanceapi.Order {
	sp := o.sp
	return binanceapi.Order{
		AvgPrice: fmtDec(o.avg, sp.pricePrec+2), ClientOrderID: o.clientID, CumQty: sp.fmtQty(o.filled),
		CumQuote: fmtDec(o.avg*sp.qty(o.filled), 5), ExecutedQty: sp.fmtQty(o.filled), OrderID: o.id,
		OrigQty: sp.fmtQty(o.lots), OrigType: o.origType, Price: sp.fmtPrice(o.price), ReduceOnly: o.reduceOnly,
		Side: o.side, PositionSide: "BOTH", Status: o.status, StopPrice: sp.fmtPrice(o.stopPrice),
		Symbol: sp.Symbol, Time: o.created, TimeInForce: o.tif, Type: o.typ, UpdateTime: o.updated,
		WorkingType: "CONTRACT_PRICE", PriceMatch: "NONE", STP: "EXPIRE_MAKER",
	}
}

func (s *Simulator) symbolParam(req *request) (*spec, *apiError) {
	sym := req.params.Get("symbol")
	if sym == "" {
		return nil, errMandatory("symbol")
	}
	sp, ok := s.market.spec(sym)
	if !ok {
		return nil, errSymbol
	}
	return sp, nil
}

func (s *Simulator) findOrder(a *account, req *request) (*order, *apiError) {
	sp, aerr := s.symbolParam(req)
	if aerr != nil {
		return nil, aerr
	}
	var o *order
	if id := req.params.Get("orderId"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil {
			return nil, errMandatory("orderId")
		}
		o = a.orderByID[n]
	} else if cid := req.params.Get("origClientOrderId"); cid != "" {
		o = a.orderByCID[cid]
	} else {
		return nil, &apiError{400, -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"}
	}
	if o == nil || o.sp != sp {
		return nil, errNoOrder
	}
	return o, nil
}

func (s *Simulator) getOrder(a *account, req *request) (any, *apiError) {
	o, aerr := s.findOrder(a, req)
	if aerr != nil {
		return nil, aerr
	}
	return o.rest(), nil
}

func (s *Simulator) deleteOrder(a *account, req *request) (any, *apiError) {
	o, aerr := s.findOrder(a, req)
	if aerr == errNoOrder || (aerr == nil && !o.open()) {
		return nil, errUnknownOrder
	}
	if aerr != nil {
		return nil, aerr
	}
	s.finish(a, o, "CANCELED", "0")
	return o.rest(), nil
}

func (s *Simulator) openOrders(a *account, req *request) (any, *apiError) {
	sp, aerr := s.optionalSymbol(req)
	if aerr != nil {
		return nil, aerr
	}
	out := []binanceapi.Order{}
	for _, o := range a.live {
		if sp == nil || o.sp == sp {
			out = append(out, o.rest())
		}
	}
	return out, nil
}

// allOrders answers GET /fapi/v1/allOrders (see history).
func (s *Simulator) allOrders(a *account, req *request) (any, *apiError) {
	return history(s, req, a.orders, func(o *order) (*spec, int64, int64) { return o.sp, o.created, o.updated }, (*order).rest)
}

// optionalSymbol is the request's symbol, or nil when it names none (the
// open lists and the income history: every symbol).
func (s *Simulator) optionalSymbol(req *request) (*spec, *apiError) {
	if req.params.Get("symbol") == "" {
		return nil, nil
	}
	return s.symbolParam(req)
}

// incomeHistory answers GET /fapi/v1/income: the account's commissions and
// realized profits (the simulator's only income types) of every symbol, or
// of symbol, with time in [startTime, endTime], oldest first, at most limit
// (default 100, max 1000). Without startTime and endTime, the last 7 days.
// tranId is the entry's place in the history (unique per account).
func (s *Simulator) incomeHistory(a *account, req *request) (any, *apiError) {
	sp, aerr := s.optionalSymbol(req)
	if aerr != nil {
		return nil, aerr
	}
	typ := req.params.Get("incomeType")
	start, _ := strconv.ParseInt(req.params.Get("startTime"), 10, 64)
	end, _ := strconv.ParseInt(req.params.Get("endTime"), 10, 64)
	if start == 0 && end == 0 {
		start = s.now().Add(-7 * 24 * time.Hour).UnixMilli()
	}
	limit, _ := strconv.Atoi(req.params.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	out := []binanceapi.Income{}
	for i, in := range a.income {
		if (sp != nil && in.sp != sp) || (typ != "" && in.typ != typ) || (start > 0 && in.t < start) || (end > 0 && in.t > end) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, in.rest(int64(i)+1))
	}
	return out, nil
}

// history answers allOrders and allAlgoOrders: the items of one symbol
// (mandatory, as on Binance) updated within [startTime, endTime], oldest
// first, at most limit (default 500, max 1000).
func history[T, R any](s *Simulator, req *request, items []T, when func(T) (sp *spec, created, updated int64), rest func(T) R) (any, *apiError) {
	sp, aerr := s.symbolParam(req)
	if aerr != nil {
		return nil, aerr
	}
	start, _ := strconv.ParseInt(req.params.Get("startTime"), 10, 64)
	end, _ := strconv.ParseInt(req.params.Get("endTime"), 10, 64)
	limit, _ := strconv.Atoi(req.params.Get("limit"))
	if limit <= 0 || limit > 1000 {
		limit = 500
	}
	out := []R{}
	for _, it := range items {
		isp, created, updated := when(it)
		if isp != sp || (start > 0 && updated < start) || (end > 0 && created > end) {
			continue
		}
		if len(out) == limit {
			break
		}
		out = append(out, rest(it))
	}
	return out, nil
}

func parsePrice(sp *spec, name, v string) (float64, *apiError) {
	p, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(p) || math.IsInf(p, 0) {
		return 0, errMandatory(name)
	}
	if p <= 0 {
		return 0, errPriceZero
	}
	if ticks := math.Round(p / sp.tick); math.Abs(ticks*sp.tick-p) > sp.tick*1e-6 {
		return 0, errPrecision
	}
	return p, nil
}

func sideParam(req *request) (string, *apiError) {
	switch side := strings.ToUpper(req.params.Get("side")); side {
	case "BUY", "SELL":
		return side, nil
	case "":
		return "", errMandatory("side")
	default:
		return "", errInvalid(-1117, "side")
	}
}

// postOrder places LIMIT or MARKET orders. A repeated newClientOrderId
// returns the existing order unchanged (idempotent retries).
func (s *Simulator) postOrder(a *account, req *request) (any, *apiError) {
	if cid := req.params.Get("newClientOrderId"); cid != "" {
		if o := a.orderByCID[cid]; o != nil {
			return o.rest(), nil
		}
	}
	sp, aerr := s.symbolParam(req)
	if aerr != nil {
		return nil, aerr
	}
	side, aerr := sideParam(req)
	if aerr != nil {
		return nil, aerr
	}
	typ := strings.ToUpper(req.params.Get("type"))
	switch typ {
	case "LIMIT", "MARKET":
	case "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET":
		return nil, errUseAlgo
	case "":
		return nil, errMandatory("type")
	default:
		return nil, errInvalid(-1116, "orderType")
	}
	lots, aerr := parseLots(sp, req.params.Get("quantity"))
	if aerr != nil {
		return nil, aerr
	}
	reduceOnly := strings.EqualFold(req.params.Get("reduceOnly"), "true")
	if typ == "MARKET" {
		if aerr := checkMarketLots(sp, lots); aerr != nil {
			return nil, aerr
		}
		if aerr := checkNotional(sp, lots, s.market.markOf(sp.Symbol), reduceOnly); aerr != nil {
			return nil, aerr
		}
	}
	o := &order{id: a.newOrderID(), clientID: req.params.Get("newClientOrderId"), sp: sp, side: side,
		typ: typ, tif: "GTC", lots: lots, reduceOnly: reduceOnly}
	if o.clientID == "" {
		o.clientID = randString(a.rng, 22)
	}
	if typ == "MARKET" {
		s.placeOrder(a, o)
		s.fill(a, o, o.lots, s.takerPrice(a, sp, side), false, "TRADE")
		return o.rest(), nil
	}
	if o.price, aerr = parsePrice(sp, "price", req.params.Get("price")); aerr != nil {
		return nil, aerr
	}
	if aerr := checkNotional(sp, lots, o.price, reduceOnly); aerr != nil {
		return nil, aerr
	}
	switch o.tif = strings.ToUpper(req.params.Get("timeInForce")); o.tif {
	case "GTC", "IOC", "FOK", "GTX", "GTD":
	case "":
		return nil, errMandatory("timeInForce")
	default:
		return nil, errInvalid(-1115, "timeInForce")
	}
	s.placeOrder(a, o)
	mark := s.market.markOf(sp.Symbol)
	crosses := (side == "BUY" && o.price >= mark) || (side == "SELL" && o.price <= mark)
	switch {
	case crosses && o.tif == "GTX": // post-only would take: expired
		s.finish(a, o, "EXPIRED", "0")
	case crosses:
		s.fill(a, o, o.lots, mark, false, "TRADE")
	case o.tif == "IOC" || o.tif == "FOK":
		s.finish(a, o, "EXPIRED", "2")
	}
	return o.rest(), nil
}
