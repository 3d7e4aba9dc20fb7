package simulator

import (
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/kraite/stream/internal/universe"
)

// rng purposes (the second half of each PCG seed).
const (
	purposeMarket uint64 = iota + 1
	purposeLifecycle
	purposeTiming
	purposeKeys
	purposeCreds
	purposeSymbols
)

// spec is one tradable symbol: its instrument, precisions and volatility.
type spec struct {
	universe.Instrument
	pricePrec, qtyPrec int
	tick, step         float64
	dailyVol           float64 // of the log price
	beta               float64 // share of a Crash it follows (0 = decoupled)
	// Order filters (filters.go): LOT_SIZE and MARKET_LOT_SIZE maxQty in
	// lots, MIN_NOTIONAL in the quote asset.
	maxLots, marketMaxLots int64
	minNotional            float64
}

func newSpec(in universe.Instrument, rng *rand.Rand) *spec {
	mag := int(math.Floor(math.Log10(in.BasePrice)))
	sp := &spec{Instrument: in, pricePrec: min(max(5-mag, 0), 8)}
	switch p := in.BasePrice; {
	case p >= 1000:
		sp.qtyPrec = 3
	case p >= 10:
		sp.qtyPrec = 2
	case p >= 1:
		sp.qtyPrec = 1
	}
	sp.tick = math.Pow(10, -float64(sp.pricePrec))
	sp.step = math.Pow(10, -float64(sp.qtyPrec))
	sp.setFilters()
	sp.dailyVol = 0.03 + rng.Float64()*0.05
	sp.beta = 1 + rng.Float64()*0.6
	if in.Token == "BTC" {
		sp.dailyVol, sp.beta = 0.025, 1
	} else if rng.IntN(10) == 0 {
		sp.beta = 0 // a tenth of the market ignores crashes
	}
	return sp
}

func (sp *spec) roundPrice(p float64) float64 {
	return math.Max(math.Round(p/sp.tick)*sp.tick, sp.tick)
}
func (sp *spec) fmtPrice(p float64) string { return fmtDec(p, sp.pricePrec) }
func (sp *spec) fmtQty(lots int64) string  { return fmtDec(float64(lots)*sp.step, sp.qtyPrec) }
func (sp *spec) qty(lots int64) float64    { return float64(lots) * sp.step }

// lotsFor returns the number of lots worth about notional at price.
func (sp *spec) lotsFor(notional, price float64) int64 {
	return max(int64(notional/price/sp.step), 1)
}

func fmtDec(v float64, dec int) string {
	if v == 0 || math.Abs(v) < math.Pow(10, -float64(dec))/2 {
		v = 0 // never "-0.00"
	}
	return strconv.FormatFloat(v, 'f', dec, 64)
}

// crash is one Crash call: prices fall by pct*beta over [start, start+over].
type crash struct {
	start time.Time
	over  time.Duration
	pct   float64
}

// market holds the mark price walk. It is guarded by Simulator.mu.
type market struct {
	seed    int64
	start   time.Time
	rng     *rand.Rand
	rngSrc  *rand.PCG // rng's source (saved by a snapshot)
	specs   []*spec
	bySym   map[string]int
	logDev  []float64 // walk of log(mark/base), mean-reverting
	level   []float64 // multiplier left by finished crashes
	crash   *crash
	funding []float64
	ticks   int64
	last    time.Time
	minutes map[int64][]float64 // minute bucket -> mark of every symbol (for klines)
}

func newMarket(seed int64, now time.Time) *market {
	rng, src := rngSrcFor(seed, purposeMarket, 0)
	ins := universe.Instruments()
	m := &market{
		seed: seed, start: now, rng: rng, rngSrc: src, last: now,
		bySym:   make(map[string]int, len(ins)),
		logDev:  make([]float64, len(ins)),
		level:   make([]float64, len(ins)),
		funding: make([]float64, len(ins)),
		minutes: make(map[int64][]float64),
	}
	for i, in := range ins {
		m.specs = append(m.specs, newSpec(in, rng))
		m.bySym[in.Symbol] = i
		m.level[i] = 1
		m.funding[i] = 0.0001 * float64(rng.IntN(5)-1)
	}
	return m
}

func (m *market) spec(symbol string) (*spec, bool) {
	i, ok := m.bySym[symbol]
	if !ok {
		return nil, false
	}
	return m.specs[i], true
}

// factor is the crash multiplier of symbol i at t.
func (m *market) factor(i int, t time.Time) float64 {
	f := m.level[i]
	if c := m.crash; c != nil {
		progress := 1.0
		if c.over > 0 {
			progress = min(max(float64(t.Sub(c.start))/float64(c.over), 0), 1)
		}
		f *= 1 - min(c.pct/100*m.specs[i].beta, 0.95)*progress
	}
	return f
}

// mark returns the current mark price of symbol i (rounded to its tick).
func (m *market) mark(i int) float64 {
	sp := m.specs[i]
	return sp.roundPrice(sp.BasePrice * math.Exp(m.logDev[i]) * m.factor(i, m.last))
}

func (m *market) markOf(symbol string) float64 {
	i, ok := m.bySym[symbol]
	if !ok {
		return 0
	}
	return m.mark(i)
}

// step advances every symbol's walk to now.
func (m *market) step(now time.Time) {
	dt := now.Sub(m.last).Hours() / 24
	if dt < 0 {
		dt = 0
	}
	m.last = now
	m.ticks++
	const reversion = 2.0 // per day
	for i, sp := range m.specs {
		m.logDev[i] += -reversion*m.logDev[i]*dt + sp.dailyVol*math.Sqrt(dt)*m.rng.NormFloat64()
		if m.rng.IntN(50) == 0 {
			m.funding[i] = min(max(m.funding[i]+0.00002*float64(m.rng.IntN(3)-1), -0.003), 0.003)
		}
	}
	if c := m.crash; c != nil && now.Sub(c.start) >= c.over {
		for i := range m.specs {
			m.level[i] = m.factor(i, now)
		}
		m.crash = nil
	}
	m.recordMinute(now)
}

// recordMinute stores the marks of now's minute in a new row: a stored row
// is never written again, so a state snapshot shares the rows, not copies.
func (m *market) recordMinute(now time.Time) {
	b := now.UnixMilli() / 60000
	if m.minutes[b] == nil {
		delete(m.minutes, b-2*24*60) // keep two days
	}
	row := make([]float64, len(m.specs))
	for i := range m.specs {
		row[i] = m.mark(i)
	}
	m.minutes[b] = row
}

// startCrash begins a crash of pct percent over d, folding any running one.
func (m *market) startCrash(now time.Time, pct float64, d time.Duration) {
	if m.crash != nil {
		for i := range m.specs {
			m.level[i] = m.factor(i, now)
		}
	}
	m.crash = &crash{start: now, over: d, pct: pct}
}

// nextFunding is the next 00/08/16 UTC boundary after t, in ms.
func nextFunding(t time.Time) int64 {
	const eight = 8 * 60 * 60 * 1000
	ms := t.UnixMilli()
	return (ms/eight + 1) * eight
}

// markPriceFrame builds the !markPrice@arr payload of every symbol at now.
func (m *market) markPriceFrame(now time.Time) []byte {
	ms := now.UnixMilli()
	e := strconv.FormatInt(ms, 10)
	next := strconv.FormatInt(nextFunding(now), 10)
	buf := make([]byte, 0, 160*len(m.specs))
	buf = append(buf, '[')
	for i, sp := range m.specs {
		if i > 0 {
			buf = append(buf, ',')
		}
		mark := m.mark(i)
		index := sp.roundPrice(mark * (1 + 0.0004*math.Sin(float64(m.ticks+int64(i)))))
		buf = append(buf, `{"e":"markPriceUpdate","E":`...)
		buf = append(buf, e...)
		buf = append(buf, `,"s":`...)
		buf = appendJSONString(buf, sp.Symbol)
		buf = append(buf, `,"p":"`...)
		buf = append(buf, fmtDec(mark, sp.pricePrec+3)...)
		buf = append(buf, `","i":"`...)
		buf = append(buf, fmtDec(index, sp.pricePrec+3)...)
		buf = append(buf, `","P":"`...)
		buf = append(buf, fmtDec(index, sp.pricePrec+3)...)
		buf = append(buf, `","r":"`...)
		buf = append(buf, fmtDec(m.funding[i], 8)...)
		buf = append(buf, `","T":`...)
		buf = append(buf, next...)
		buf = append(buf, '}')
	}
	return append(buf, ']')
}
