package simulator

import (
	"math"
	"math/big"
	"regexp"
	"strings"
)

// Order filters per symbol, served in exchangeInfo and enforced on order
// placement the way Binance does, so that what the validator of
// internal/intents refuses the simulator refuses too. BTCUSDT has Binance's
// real numbers (LOT_SIZE maxQty 1000, MARKET_LOT_SIZE maxQty 120, step
// 0.001, MIN_NOTIONAL 100); every other symbol gets the same notional
// capacity at its own price, rounded down to 1, 2 or 5 times a power of ten
// and capped (1e9 units per order, 1e8 per market order), and a minimum
// notional of 100 (price >= 10,000), 20 (>= 1,000) or 5.
const (
	btcLotMax    = 1000
	btcMarketMax = 120
	btcPrice     = 95000
	capLotMax    = 1e9
	capMarketMax = 1e8
)

// setFilters derives sp's lot limits from its base price and step.
func (sp *spec) setFilters() {
	lotMax, mktMax := float64(btcLotMax), float64(btcMarketMax)
	if sp.Token != "BTC" {
		lotMax = min(niceFloor(btcLotMax*btcPrice/sp.BasePrice), capLotMax)
		mktMax = min(niceFloor(btcMarketMax*btcPrice/sp.BasePrice), capMarketMax)
	}
	sp.maxLots = max(int64(math.Round(lotMax/sp.step)), 1)
	sp.marketMaxLots = min(max(int64(math.Round(mktMax/sp.step)), 1), sp.maxLots)
	switch p := sp.BasePrice; {
	case p >= 10000:
		sp.minNotional = 100
	case p >= 1000:
		sp.minNotional = 20
	default:
		sp.minNotional = 5
	}
}

// niceFloor is the largest 1, 2 or 5 x 10^k not above x (x > 0).
func niceFloor(x float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{5, 2, 1} {
		if m*p <= x*(1+1e-12) {
			return m * p
		}
	}
	return p
}

var (
	errQtyIllegal = &apiError{400, -1100, "Illegal characters found in parameter 'quantity'; legal range is '^([0-9]{1,20})(\\.[0-9]{1,20})?$'."}
	errQtyMax     = &apiError{400, -4005, "Quantity greater than max quantity."}
	errQtyMin     = &apiError{400, -4004, "Quantity less than min quantity."}
)

func errMinNotional(sp *spec) *apiError {
	return &apiError{400, -4164, "Order's notional must be no smaller than " + fmtDec(sp.minNotional, 0) + " (unless you choose reduce only)."}
}

var qtyPattern = regexp.MustCompile(`^([0-9]{1,20})(\.[0-9]{1,20})?$`)

// parseLots converts a decimal quantity into whole lots of sp exactly, as
// Binance checks it: the text must be plain digits (-1100, so "1e9", "-1"
// and "NaN" never become a number), zero is -4003, digits below the step
// are -1111, and more than LOT_SIZE's maxQty is -4005. No float is
// involved: "0.1" is one lot of 0.1, never 0.1000000000000000055.
func parseLots(sp *spec, v string) (int64, *apiError) {
	if v == "" {
		return 0, errMandatory("quantity")
	}
	if !qtyPattern.MatchString(v) {
		return 0, errQtyIllegal
	}
	intPart, frac, _ := strings.Cut(v, ".")
	if len(frac) > sp.qtyPrec {
		if strings.Trim(frac[sp.qtyPrec:], "0") != "" {
			return 0, errPrecision
		}
		frac = frac[:sp.qtyPrec]
	}
	frac += strings.Repeat("0", sp.qtyPrec-len(frac))
	lots, _ := new(big.Int).SetString(intPart+frac, 10) // digits only: cannot fail
	switch {
	case lots.Sign() == 0:
		return 0, errQtyZero
	case !lots.IsInt64() || lots.Int64() > sp.maxLots:
		return 0, errQtyMax
	}
	return lots.Int64(), nil
}

// checkMarketLots applies MARKET_LOT_SIZE to a MARKET order's lots.
func checkMarketLots(sp *spec, lots int64) *apiError {
	if lots > sp.marketMaxLots {
		return errQtyMax
	}
	return nil
}

// checkNotional applies MIN_NOTIONAL at price (the mark for a MARKET
// order); a reduce-only order is exempt, as on Binance.
func checkNotional(sp *spec, lots int64, price float64, reduceOnly bool) *apiError {
	if reduceOnly {
		return nil
	}
	if sp.qty(lots)*price < sp.minNotional*(1-1e-12) {
		return errMinNotional(sp)
	}
	return nil
}

// ExchangeInfo returns the body of GET /fapi/v1/exchangeInfo (built once at
// New; the caller must not modify it), so a process that runs the simulator
// can store its symbol rules without an HTTP call (kraite dev).
func (s *Simulator) ExchangeInfo() []byte { return s.exchangeInfo }

// MarkPrice returns symbol's current mark price (false for a symbol the
// simulator does not list).
func (s *Simulator) MarkPrice(symbol string) (float64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.market.spec(symbol); !ok {
		return 0, false
	}
	return s.market.markOf(symbol), true
}
