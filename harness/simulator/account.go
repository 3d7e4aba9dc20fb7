package simulator

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
)

// Id spaces. Every id is unique per simulator: the account index is part of
// it. A quarter of order ids and a sixth of algo ids exceed 2^53, like real
// ones, so a client that decodes them as float64 breaks in tests.
const (
	orderIDSmall = 80_000_000_000
	orderIDBig   = 8_389_765_000_000_000_000
	algoIDSmall  = 1_000_000_000_000_000
	algoIDBig    = 9_100_000_000_000_000
	tradeIDBase  = 4_000_000_000
)

// Order is the latest state of an order the simulator reported.
type Order struct {
	OrderID       int64  `json:"orderId"`
	ClientOrderID string `json:"clientOrderId"`
	Symbol        string `json:"symbol"`
	Side          string `json:"side"`     // BUY, SELL
	Type          string `json:"type"`     // LIMIT, MARKET (the type in the matching engine)
	OrigType      string `json:"origType"` // as placed; STOP_MARKET etc. for triggered algo orders
	TimeInForce   string `json:"timeInForce"`
	Status        string `json:"status"` // NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED
	Price         string `json:"price"`
	StopPrice     string `json:"stopPrice"`
	OrigQty       string `json:"origQty"`
	ExecutedQty   string `json:"executedQty"`
	AvgPrice      string `json:"avgPrice"`
	ReduceOnly    bool   `json:"reduceOnly"`
	PositionSide  string `json:"positionSide"`
	Time          int64  `json:"time"`          // creation, ms
	UpdateTime    int64  `json:"updateTime"`    // last event T, ms
	LastExecution string `json:"lastExecution"` // x of the last event: NEW, TRADE, CANCELED, EXPIRED, AMENDMENT, CALCULATED
	ExpiryReason  string `json:"expiryReason"`  // er of the last event ("0" unless expired)
	AlgoID        int64  `json:"algoId"`        // the algo order that placed it; 0 otherwise
}

// AlgoOrder is the latest state of an algo (conditional) order.
type AlgoOrder struct {
	AlgoID        int64  `json:"algoId"`
	ClientAlgoID  string `json:"clientAlgoId"`
	Symbol        string `json:"symbol"`
	Side          string `json:"side"`
	OrderType     string `json:"orderType"` // STOP_MARKET, TAKE_PROFIT_MARKET, STOP, TAKE_PROFIT
	Status        string `json:"status"`    // NEW, TRIGGERING, TRIGGERED, FINISHED, CANCELED, EXPIRED, REJECTED
	TriggerPrice  string `json:"triggerPrice"`
	Price         string `json:"price"`
	Quantity      string `json:"quantity"`
	ActualOrderID int64  `json:"actualOrderId"` // the order placed on trigger (ai); 0 before
	ExecutedQty   string `json:"executedQty"`
	AvgPrice      string `json:"avgPrice"`
	CreateTime    int64  `json:"createTime"`
	UpdateTime    int64  `json:"updateTime"`
	TriggerTime   int64  `json:"triggerTime"`
	RejectReason  string `json:"rejectReason"`
}

type order struct {
	id                  int64
	clientID            string
	sp                  *spec
	side, typ, origType string
	tif                 string
	price, stopPrice    float64
	lots, filled        int64
	avg                 float64
	status, lastX, er   string
	reduceOnly          bool
	created, updated    int64
	algo                *algoOrder
	notionalFilled      float64
}

func (o *order) open() bool { return o.status == "NEW" || o.status == "PARTIALLY_FILLED" }

func (o *order) truth() Order {
	sp := o.sp
	return Order{
		OrderID: o.id, ClientOrderID: o.clientID, Symbol: sp.Symbol, Side: o.side,
		Type: o.typ, OrigType: o.origType, TimeInForce: o.tif, Status: o.status,
		Price: sp.fmtPrice(o.price), StopPrice: sp.fmtPrice(o.stopPrice),
		OrigQty: sp.fmtQty(o.lots), ExecutedQty: sp.fmtQty(o.filled), AvgPrice: fmtDec(o.avg, sp.pricePrec+2),
		ReduceOnly: o.reduceOnly, PositionSide: "BOTH", Time: o.created, UpdateTime: o.updated,
		LastExecution: o.lastX, ExpiryReason: o.er, AlgoID: o.algoID(),
	}
}

func (o *order) algoID() int64 {
	if o.algo == nil {
		return 0
	}
	return o.algo.id
}

type algoOrder struct {
	id                    int64
	clientID              string
	sp                    *spec
	side, typ, status, rm string
	trigger, price        float64
	lots                  int64
	reduceOnly            bool
	created, updated, tt  int64
	actual                *order
}

func (g *algoOrder) open() bool {
	return g.status == "NEW" || g.status == "TRIGGERING" || g.status == "TRIGGERED"
}

// actType is the order type placed in the matching engine on trigger.
func (g *algoOrder) actType() string {
	if g.typ == "STOP" || g.typ == "TAKE_PROFIT" {
		return "LIMIT"
	}
	return "MARKET"
}

func (g *algoOrder) truth() AlgoOrder {
	sp := g.sp
	t := AlgoOrder{
		AlgoID: g.id, ClientAlgoID: g.clientID, Symbol: sp.Symbol, Side: g.side, OrderType: g.typ,
		Status: g.status, TriggerPrice: sp.fmtPrice(g.trigger), Price: sp.fmtPrice(g.price),
		Quantity: sp.fmtQty(g.lots), ExecutedQty: sp.fmtQty(0), AvgPrice: fmtDec(0, sp.pricePrec+2),
		CreateTime: g.created, UpdateTime: g.updated, TriggerTime: g.tt, RejectReason: g.rm,
	}
	if o := g.actual; o != nil {
		t.ActualOrderID = o.id
		t.ExecutedQty = sp.fmtQty(o.filled)
		t.AvgPrice = fmtDec(o.avg, sp.pricePrec+2)
	}
	return t
}

type position struct {
	lots     int64 // signed: long > 0
	entry    float64
	realized float64 // cr: accumulated realized profit
}

// account is one account's whole state; guarded by Simulator.mu except
// pushed, which Simulator.logMu guards.
type account struct {
	Account
	idx     int
	rng     *rand.Rand // lifecycle choices, ids, client ids
	keyRng  *rand.Rand // listenKeys (REST timing must not disturb lifecycles)
	rngSrc  *rand.PCG  // rng's and keyRng's sources (saved by a snapshot)
	keySrc  *rand.PCG
	symbols []*spec // what the lifecycle generator trades

	key       string
	keyExpiry time.Time
	keyActive bool

	orders     []*order
	orderByID  map[int64]*order
	orderByCID map[string]*order
	algos      []*algoOrder
	algoByID   map[int64]*algoOrder
	algoByCID  map[string]*algoOrder
	live       []*order     // open orders, in the order they opened
	liveAlgos  []*algoOrder // open algo orders
	positions  map[string]*position
	wallet     map[string]float64 // quote asset -> wallet balance
	income     []income           // GET /fapi/v1/income, oldest first

	seq, tradeSeq int64
	lastE         int64
	loseNext      int

	pushed []Pushed
}

func newAccount(seed int64, idx int, m *market) *account {
	creds := rngFor(seed, purposeCreds, idx)
	rng, rngSrc := rngSrcFor(seed, purposeLifecycle, idx)
	keyRng, keySrc := rngSrcFor(seed, purposeKeys, idx)
	a := &account{
		Account: Account{
			ID:        fmt.Sprintf("acct-%04d", idx),
			APIKey:    randString(creds, 64),
			APISecret: randString(creds, 64),
		},
		idx:        idx,
		rng:        rng,
		keyRng:     keyRng,
		rngSrc:     rngSrc,
		keySrc:     keySrc,
		orderByID:  make(map[int64]*order),
		orderByCID: make(map[string]*order),
		algoByID:   make(map[int64]*algoOrder),
		algoByCID:  make(map[string]*algoOrder),
		positions:  make(map[string]*position),
		wallet:     map[string]float64{"USDT": 10000, "USDC": 2000},
	}
	// Trade BTC, ETH and ten well-known symbols chosen per account.
	pick := rngFor(seed, purposeSymbols, idx)
	a.symbols = []*spec{m.specs[0], m.specs[1]}
	for _, i := range pick.Perm(170)[:10] {
		if i >= 2 {
			a.symbols = append(a.symbols, m.specs[i])
		}
	}
	return a
}

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func randString(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alnum[r.IntN(len(alnum))]
	}
	return string(b)
}

func (a *account) newOrderID() int64 {
	a.seq++
	if a.rng.IntN(4) == 0 {
		return orderIDBig + int64(a.idx)*1_000_000_000_000 + a.seq
	}
	return orderIDSmall + int64(a.idx)*1_000_000_000 + a.seq
}

func (a *account) newAlgoID() int64 {
	a.seq++
	if a.rng.IntN(6) == 0 {
		return algoIDBig + int64(a.idx)*1_000_000_000 + a.seq
	}
	return algoIDSmall + int64(a.idx)*1_000_000_000 + a.seq
}

func (a *account) newTradeID() int64 {
	a.tradeSeq++
	return tradeIDBase + int64(a.idx)*100_000_000 + a.tradeSeq
}

// income is one entry of the account's income history: the commission of
// a fill, or its realized profit.
type income struct {
	sp      *spec
	typ     string // binanceapi.IncomeCommission or IncomeRealizedPnL
	amount  float64
	t       int64
	tradeID int64
}

func (i income) rest(tranID int64) binanceapi.Income {
	return binanceapi.Income{Symbol: i.sp.Symbol, IncomeType: i.typ, Income: fmtDec(i.amount, 8), Asset: i.sp.Quote,
		Info: i.typ, Time: i.t, TranID: tranID, TradeID: strconv.FormatInt(i.tradeID, 10)}
}

func (a *account) addOrder(o *order) {
	a.orders = append(a.orders, o)
	a.orderByID[o.id] = o
	a.orderByCID[o.clientID] = o
}

func (a *account) addAlgo(g *algoOrder) {
	a.algos = append(a.algos, g)
	a.algoByID[g.id] = g
	a.algoByCID[g.clientID] = g
}

// openOrders are the open orders the generic lifecycle may act on (resting
// LIMIT orders; MARKET orders of triggered algos belong to the algo flow).
func (a *account) openOrders() []*order {
	var out []*order
	for _, o := range a.live {
		if o.typ == "LIMIT" {
			out = append(out, o)
		}
	}
	return out
}

func (a *account) openAlgos() []*algoOrder { return a.liveAlgos }

// track keeps live and liveAlgos in step with an order's new state, so a
// long run does not rescan every order it ever made.
func (a *account) track(o *order) {
	i := slices.Index(a.live, o)
	switch open := o.open(); {
	case open && i < 0:
		a.live = append(a.live, o)
	case !open && i >= 0:
		a.live = slices.Delete(a.live, i, i+1)
	}
}

func (a *account) trackAlgo(g *algoOrder) {
	i := slices.Index(a.liveAlgos, g)
	switch open := g.open(); {
	case open && i < 0:
		a.liveAlgos = append(a.liveAlgos, g)
	case !open && i >= 0:
		a.liveAlgos = slices.Delete(a.liveAlgos, i, i+1)
	}
}

func (a *account) openPositions() []string {
	var out []string
	for s, p := range a.positions {
		if p.lots != 0 {
			out = append(out, s)
		}
	}
	slices.Sort(out) // map order must not leak into the event sequence
	return out
}

// applyFill books a fill on the one-way position and returns realized profit.
func (a *account) applyFill(sp *spec, side string, lots int64, price float64) float64 {
	p := a.positions[sp.Symbol]
	if p == nil {
		p = &position{}
		a.positions[sp.Symbol] = p
	}
	delta := lots
	if side == "SELL" {
		delta = -lots
	}
	var rp float64
	switch {
	case p.lots == 0 || (p.lots > 0) == (delta > 0):
		total := math.Abs(float64(p.lots)) + float64(lots)
		p.entry = (p.entry*math.Abs(float64(p.lots)) + price*float64(lots)) / total
		p.lots += delta
	default:
		closing := min(lots, abs(p.lots))
		sign := 1.0
		if p.lots < 0 {
			sign = -1
		}
		rp = (price - p.entry) * sp.qty(closing) * sign
		p.lots += delta
		switch {
		case p.lots == 0:
			p.entry = 0
		case (p.lots > 0) == (delta > 0): // flipped
			p.entry = price
		}
	}
	p.realized += rp
	return rp
}

func abs(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}
