package regime

import (
	"fmt"
	"math"
	"time"

	"github.com/kraite/stream/internal/regimestate"
)

// Sample is one kept price: [event time ms, price].
type Sample [2]float64

// Series is the rolling state of one symbol: its last price, a
// time-weighted moving average of its price (breadth), and, for the
// reference symbol only, a few samples (one per Step bucket) reaching just
// past LongWindow.
//
// Why a moving average and not samples: breadth must move at the feed's
// cadence. Keeping one sample per 5-minute bucket made a symbol's 15-minute
// return jump at every bucket edge, so at 1 s cadence breadth collapsed and
// recovered every 5 minutes and a crash entered Critical several times.
// The average is continuous in event time whatever the cadence, costs one
// number per symbol, and keeps the state smaller than the samples did.
type Series struct {
	LastMs int64   `json:"t"`
	Last   float64 `json:"p"`
	// Avg is the moving average of the step-held price up to LastMs, with
	// half-life ScoreConfig.BreadthHalfLife (0 until the first tick).
	Avg float64  `json:"m,omitempty"`
	S   []Sample `json:"s,omitempty"`
	// Once marks a symbol seen in one record only. It is forgotten as soon
	// as it is not live (DegradedAfter) and counts in neither breadth nor
	// feed health: one record inventing a thousand symbols must not hold
	// the fresh share down (a degraded gate) for ForgetAfter.
	Once bool `json:"o,omitempty"`
}

// Market is the rolling market-wide state the score is computed from. It
// lives in the regime group table (inside State), so it is restored from
// the changelog after a rebalance or restart.
type Market struct {
	AtMs    int64              `json:"at"`
	Symbols map[string]*Series `json:"symbols"`
	// VarFast and VarSlow are time-weighted EWMAs of the reference's
	// realised variance per minute; VarN counts the observations.
	VarFast float64 `json:"var_fast"`
	VarSlow float64 `json:"var_slow"`
	VarN    int64   `json:"var_n"`
}

// Tick is one symbol's price at the evaluation time.
type Tick struct {
	Symbol string
	Price  float64
	// AtMs is the tick's own event time (its E, or the frame's); the
	// processor bounds it by its clock (BoundTicks). Update folds every
	// tick of a record at the record's time.
	AtMs int64
}

// varFloor keeps the volatility ratio finite on a flat market: a per-minute
// standard deviation of 0.01 %.
const varFloor = 1e-8

// Update folds the ticks of one input record (event time at, ms) into m and
// returns the inputs and score. It is a pure function of (m, at, ticks): no
// clock, no randomness, map iteration only feeds integer counts, so replaying
// the same records gives the same scores bit for bit. A record older than
// the last one is ignored and the previous inputs are recomputed.
func (c ScoreConfig) Update(m *Market, at int64, ticks []Tick) regimestate.Inputs {
	if m.Symbols == nil {
		m.Symbols = map[string]*Series{}
	}
	if at >= m.AtMs {
		m.AtMs = at
		for _, tk := range ticks {
			if tk.Price > 0 && !math.IsInf(tk.Price, 0) {
				c.addTick(m, at, tk)
			}
		}
	}
	return c.evaluate(m, m.AtMs)
}

func (c ScoreConfig) addTick(m *Market, at int64, tk Tick) {
	s, ok := m.Symbols[tk.Symbol]
	if !ok {
		if len(m.Symbols) >= c.MaxSymbols {
			return // a flood of invented symbols must not grow the state
		}
		s = &Series{Once: true}
		m.Symbols[tk.Symbol] = s
	} else if s.LastMs != at {
		s.Once = false
	}
	s.fold(at, c.BreadthHalfLife.Milliseconds())
	if tk.Symbol == c.Reference {
		c.addVariance(m, s, at, tk.Price)
		s.add(at, tk.Price, c.Step.Milliseconds(), c.LongWindow.Milliseconds())
	} else {
		s.S = nil // samples of a state written before breadth used Avg
	}
	s.Last, s.LastMs = tk.Price, at
	if s.Avg <= 0 || math.IsNaN(s.Avg) || math.IsInf(s.Avg, 0) {
		s.Avg = tk.Price
	}
}

// addVariance updates the two EWMAs with the squared log return since the
// previous reference price, scaled to a per-minute variance.
func (c ScoreConfig) addVariance(m *Market, s *Series, at int64, p float64) {
	if s.LastMs == 0 || at <= s.LastMs || s.Last <= 0 {
		return
	}
	dt := float64(at-s.LastMs) / 60000
	r := math.Log(p / s.Last)
	v := r * r / dt
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	if m.VarN == 0 {
		m.VarFast, m.VarSlow = v, v
	} else {
		m.VarFast += ewmaAlpha(dt, c.VolFast.Minutes()) * (v - m.VarFast)
		m.VarSlow += ewmaAlpha(dt, c.VolSlow.Minutes()) * (v - m.VarSlow)
	}
	m.VarN++
}

func ewmaAlpha(dt, halfLife float64) float64 { return 1 - math.Exp2(-dt/halfLife) }

// avgAt is the moving average at time at (>= LastMs): the price held at
// Last since LastMs pulls it along for at-LastMs.
func (s *Series) avgAt(at, halfLife int64) float64 {
	if s.Avg <= 0 || at <= s.LastMs {
		return s.Avg
	}
	a := 1 - math.Exp2(-float64(at-s.LastMs)/float64(halfLife))
	return s.Avg + a*(s.Last-s.Avg)
}

// fold brings Avg up to at, before a new price replaces Last.
func (s *Series) fold(at, halfLife int64) {
	if s.LastMs != 0 {
		s.Avg = s.avgAt(at, halfLife)
	}
}

// move is the relative distance of the last price from the moving average.
func (s *Series) move(at, halfLife int64) float64 {
	avg := s.avgAt(at, halfLife)
	if avg <= 0 || s.Last <= 0 {
		return 0
	}
	return s.Last/avg - 1
}

func (s *Series) add(at int64, p float64, step, horizon int64) {
	if n := len(s.S); n > 0 && int64(s.S[n-1][0])/step == at/step {
		s.S[n-1] = Sample{float64(at), p}
	} else {
		s.S = append(s.S, Sample{float64(at), p})
	}
	cut := at - horizon
	i := 0
	for i+1 < len(s.S) && int64(s.S[i+1][0]) <= cut {
		i++
	}
	if i > 0 {
		s.S = append(s.S[:0], s.S[i:]...)
	}
}

// priceAt is the price at time t, linear between the two samples around
// it (the oldest sample while the window is still filling), so a return
// over a window slides continuously instead of jumping at bucket edges.
func (s *Series) priceAt(t int64) float64 {
	if len(s.S) == 0 {
		return s.Last
	}
	if t <= int64(s.S[0][0]) {
		return s.S[0][1]
	}
	for i := 1; i < len(s.S); i++ {
		if t0, t1 := s.S[i-1][0], s.S[i][0]; float64(t) <= t1 {
			if t1 <= t0 {
				return s.S[i][1]
			}
			f := (float64(t) - t0) / (t1 - t0)
			return s.S[i-1][1] + f*(s.S[i][1]-s.S[i-1][1])
		}
	}
	return s.Last
}

// ret is the return from the price at at-w to the last price.
func (s *Series) ret(at, w int64) float64 {
	ref := s.priceAt(at - w)
	if ref <= 0 {
		return 0
	}
	return s.Last/ref - 1
}

func (c ScoreConfig) evaluate(m *Market, at int64) regimestate.Inputs {
	stale, fresh, live, once, up, down := 0, 0, 0, 0, 0, 0
	halfLife := c.BreadthHalfLife.Milliseconds()
	for sym, s := range m.Symbols {
		age := at - s.LastMs
		if age > c.ForgetAfter.Milliseconds() || s.Once && age > c.DegradedAfter.Milliseconds() {
			delete(m.Symbols, sym)
			continue
		}
		if s.Once {
			once++
			continue
		}
		if age <= c.DegradedAfter.Milliseconds() {
			live++
		}
		if age > c.StaleAfter.Milliseconds() {
			stale++
			continue
		}
		fresh++
		switch r := s.move(at, halfLife); {
		case r >= c.BreadthMove:
			up++
		case r <= -c.BreadthMove:
			down++
		}
	}
	// Symbols seen once count only while nothing else is known (the very
	// first record of a scope).
	known := len(m.Symbols) - once
	if known == 0 {
		known, live = once, once
	}
	in := regimestate.Inputs{Symbols: known, BTCAgeMs: -1}
	if known > 0 {
		in.FreshShare = round6(float64(live) / float64(known))
	}
	ref, haveRef := m.Symbols[c.Reference]
	if haveRef {
		in.BTCAgeMs = at - ref.LastMs
	}
	if haveRef && at-ref.LastMs <= c.StaleAfter.Milliseconds() {
		in.BTCShort = round6(math.Abs(ref.ret(at, c.ShortWindow.Milliseconds())))
		in.BTCLong = round6(math.Abs(ref.ret(at, c.LongWindow.Milliseconds())))
	}
	if fresh >= c.MinSymbols {
		in.Breadth = round6(float64(max(up, down)) / float64(fresh))
	}
	if known >= c.MinSymbols {
		in.StaleShare = round6(float64(stale) / float64(known))
	}
	if m.VarN > 1 {
		in.VolRatio = round6(math.Sqrt(m.VarFast / math.Max(m.VarSlow, varFloor)))
	}
	in.Score = c.Score(in)
	in.Degraded = c.degraded(in)
	return in
}

// degraded says why the inputs cannot support a verdict ("" when they
// can): too few symbols known, the reference silent, or too small a share
// of the symbols ticking, all by event time. A market the regime cannot see
// must close the gate, not read as Calm: with the reference silent the BTC
// components read 0, with the altcoins silent breadth does.
func (c ScoreConfig) degraded(in regimestate.Inputs) string {
	limit := c.DegradedAfter
	switch {
	case in.Symbols < c.MinSymbols:
		return fmt.Sprintf("%d symbols known, at least %d needed", in.Symbols, c.MinSymbols)
	case in.BTCAgeMs < 0:
		return c.Reference + " never seen"
	case in.BTCAgeMs > limit.Milliseconds():
		return fmt.Sprintf("%s silent for %s (limit %s)", c.Reference, time.Duration(in.BTCAgeMs)*time.Millisecond, limit)
	case in.FreshShare < c.MinFreshShare:
		return fmt.Sprintf("%.0f%% of %d symbols ticked within %s (at least %.0f%% needed)", 100*in.FreshShare, in.Symbols, limit, 100*c.MinFreshShare)
	}
	return ""
}
