package simulator

import (
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"time"
)

// buildExchangeInfo renders GET /fapi/v1/exchangeInfo once: rate limits and
// all 568 symbols of the universe with their filters.
func (s *Simulator) buildExchangeInfo() []byte {
	type filter map[string]any
	type symbol struct {
		Symbol            string   `json:"symbol"`
		Pair              string   `json:"pair"`
		ContractType      string   `json:"contractType"`
		DeliveryDate      int64    `json:"deliveryDate"`
		OnboardDate       int64    `json:"onboardDate"`
		Status            string   `json:"status"`
		BaseAsset         string   `json:"baseAsset"`
		QuoteAsset        string   `json:"quoteAsset"`
		MarginAsset       string   `json:"marginAsset"`
		PricePrecision    int      `json:"pricePrecision"`
		QuantityPrecision int      `json:"quantityPrecision"`
		BaseAssetPrec     int      `json:"baseAssetPrecision"`
		QuotePrecision    int      `json:"quotePrecision"`
		UnderlyingType    string   `json:"underlyingType"`
		TriggerProtect    string   `json:"triggerProtect"`
		LiquidationFee    string   `json:"liquidationFee"`
		MarketTakeBound   string   `json:"marketTakeBound"`
		Filters           []filter `json:"filters"`
		OrderTypes        []string `json:"orderTypes"`
		TimeInForce       []string `json:"timeInForce"`
	}
	limit := s.cfg.WeightLimit
	if limit <= 0 {
		limit = 2400
	}
	var symbols []symbol
	for _, sp := range s.market.specs {
		tick, step := fmtDec(sp.tick, sp.pricePrec), fmtDec(sp.step, sp.qtyPrec)
		symbols = append(symbols, symbol{
			Symbol: sp.Symbol, Pair: sp.Symbol, ContractType: "PERPETUAL", DeliveryDate: 4133404800000,
			OnboardDate: 1569398400000, Status: "TRADING", BaseAsset: sp.Token, QuoteAsset: sp.Quote,
			MarginAsset: sp.Quote, PricePrecision: sp.pricePrec, QuantityPrecision: sp.qtyPrec,
			BaseAssetPrec: 8, QuotePrecision: 8, UnderlyingType: "COIN", TriggerProtect: "0.0500",
			LiquidationFee: "0.012500", MarketTakeBound: "0.05",
			Filters: []filter{
				{"filterType": "PRICE_FILTER", "minPrice": tick, "maxPrice": fmtDec(sp.BasePrice*100, sp.pricePrec), "tickSize": tick},
				{"filterType": "LOT_SIZE", "minQty": step, "maxQty": sp.fmtQty(sp.maxLots), "stepSize": step},
				{"filterType": "MARKET_LOT_SIZE", "minQty": step, "maxQty": sp.fmtQty(sp.marketMaxLots), "stepSize": step},
				{"filterType": "MAX_NUM_ORDERS", "limit": 200},
				{"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
				{"filterType": "MIN_NOTIONAL", "notional": fmtDec(sp.minNotional, 0)},
				{"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500", "multiplierDecimal": "4"},
			},
			OrderTypes:  []string{"LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"},
			TimeInForce: []string{"GTC", "IOC", "FOK", "GTX", "GTD"},
		})
	}
	return mustJSON(map[string]any{
		"timezone":   "UTC",
		"serverTime": s.now().UnixMilli(),
		"rateLimits": []map[string]any{
			{"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": limit},
			{"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
			{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300},
		},
		"exchangeFilters": []any{},
		"assets": []map[string]any{
			{"asset": "USDT", "marginAvailable": true, "autoAssetExchange": "-10000"},
			{"asset": "USDC", "marginAvailable": true, "autoAssetExchange": "-10000"},
		},
		"symbols": symbols,
	})
}

var klineIntervals = map[string]time.Duration{
	"1m": time.Minute, "3m": 3 * time.Minute, "5m": 5 * time.Minute, "15m": 15 * time.Minute,
	"30m": 30 * time.Minute, "1h": time.Hour, "2h": 2 * time.Hour, "4h": 4 * time.Hour,
	"6h": 6 * time.Hour, "8h": 8 * time.Hour, "12h": 12 * time.Hour, "1d": 24 * time.Hour,
}

func klineLimit(req *request) int {
	n, err := strconv.Atoi(req.params.Get("limit"))
	if err != nil || n <= 0 {
		return 500
	}
	return min(n, 1500)
}

func klineWeight(req *request) int {
	switch n := klineLimit(req); {
	case n < 100:
		return 1
	case n < 500:
		return 2
	case n <= 1000:
		return 5
	default:
		return 10
	}
}

// handleKlines answers GET /fapi/v1/klines from the market: minutes the
// simulator has lived through use the recorded marks, earlier ones a
// deterministic synthetic path (a function of seed, symbol and time) that
// joins the walk at the simulator's start.
func (s *Simulator) handleKlines(w http.ResponseWriter, req *request) {
	rows, aerr := s.klines(req)
	if aerr != nil {
		writeErr(w, aerr)
		return
	}
	writeJSON(w, 200, rows) // outside mu
}

func (s *Simulator) klines(req *request) ([][]any, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sp, aerr := s.symbolParam(req)
	if aerr != nil {
		return nil, aerr
	}
	ivName := req.params.Get("interval")
	iv, ok := klineIntervals[ivName]
	if ivName == "" {
		return nil, errMandatory("interval")
	}
	if !ok {
		return nil, errInterval
	}
	ivMs, limit := iv.Milliseconds(), klineLimit(req)
	nowMs := s.now().UnixMilli()
	end := nowMs / ivMs * ivMs // open time of the current candle
	if v, err := strconv.ParseInt(req.params.Get("endTime"), 10, 64); err == nil {
		end = min(end, v/ivMs*ivMs)
	}
	start := end - int64(limit-1)*ivMs
	if v, err := strconv.ParseInt(req.params.Get("startTime"), 10, 64); err == nil {
		start = (v + ivMs - 1) / ivMs * ivMs
		end = min(end, start+int64(limit-1)*ivMs)
	}
	rows := [][]any{}
	for open := start; open <= end; open += ivMs {
		rows = append(rows, s.kline(sp, open, ivMs, nowMs))
	}
	return rows, nil
}

func (s *Simulator) kline(sp *spec, open, ivMs, nowMs int64) []any {
	m := s.market
	i := m.bySym[sp.Symbol]
	price := func(ms int64) float64 { return m.priceAt(i, ms/60000, nowMs/60000) }
	o, c := price(open-60000), price(min(open+ivMs-60000, nowMs))
	hi, lo := math.Max(o, c), math.Min(o, c)
	samples := min(ivMs/60000, 16)
	for k := int64(1); k < samples; k++ {
		p := price(open + k*ivMs/samples)
		hi, lo = math.Max(hi, p), math.Min(lo, p)
	}
	h := hashOf(m.seed, sp.Symbol, open)
	vol := sp.lotsFor(float64(ivMs/60000)*20000*(0.5+float64(h%1000)/1000), c)
	quote := sp.qty(vol) * (o + c) / 2
	return []any{
		open, sp.fmtPrice(o), sp.fmtPrice(hi), sp.fmtPrice(lo), sp.fmtPrice(c), sp.fmtQty(vol),
		open + ivMs - 1, fmtDec(quote, 4), 50 + int64(h%5000), sp.fmtQty(vol / 2), fmtDec(quote/2, 4), "0",
	}
}

// priceAt is symbol i's mark at minute bucket b (nowMin is the current one).
func (m *market) priceAt(i int, b, nowMin int64) float64 {
	if b >= nowMin {
		return m.mark(i)
	}
	if row := m.minutes[b]; row != nil {
		return row[i]
	}
	sp := m.specs[i]
	startMin := m.start.UnixMilli() / 60000
	if b > startMin { // a minute the walk lived through without a tick
		return m.mark(i)
	}
	dev := m.synthetic(sp, b) - m.synthetic(sp, startMin)
	return sp.roundPrice(sp.BasePrice * math.Exp(dev))
}

// synthetic is multi-scale value noise of the log price at minute b.
func (m *market) synthetic(sp *spec, b int64) float64 {
	scales := []struct {
		minutes int64
		amp     float64
	}{{10, 0.15}, {120, 0.4}, {1440, 1}, {10080, 2}}
	var v float64
	for k, sc := range scales {
		x := float64(b) / float64(sc.minutes)
		x0 := math.Floor(x)
		f := x - x0
		f = f * f * (3 - 2*f)
		lat := func(n float64) float64 {
			return float64(hashOf(m.seed, sp.Symbol, int64(n)*16+int64(k))%2001)/1000 - 1
		}
		v += sc.amp * sp.dailyVol * (lat(x0)*(1-f) + lat(x0+1)*f)
	}
	return v
}

func hashOf(seed int64, symbol string, n int64) uint64 {
	h := fnv.New64a()
	var b [16]byte
	for k := range 8 {
		b[k] = byte(seed >> (8 * k))
		b[8+k] = byte(n >> (8 * k))
	}
	h.Write(b[:])
	h.Write([]byte(symbol))
	return h.Sum64()
}
