package regime

import (
	"math"
)

// Sample is one kept price: [event time ms, price].
type Sample [2]float64

// Series is the rolling state of one symbol: its last price and a few
// samples, one per step bucket, reaching just past the window it serves.
type Series struct {
	LastMs int64    `json:"t"`
	Last   float64  `json:"p"`
	S      []Sample `json:"s,omitempty"`
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
func (c ScoreConfig) Update(m *Market, at int64, ticks []Tick) Inputs {
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
		s = &Series{}
		m.Symbols[tk.Symbol] = s
	}
	step, horizon := c.BreadthStep.Milliseconds(), c.ShortWindow.Milliseconds()
	if tk.Symbol == c.Reference {
		step, horizon = c.Step.Milliseconds(), c.LongWindow.Milliseconds()
		c.addVariance(m, s, at, tk.Price)
	}
	s.add(at, tk.Price, step, horizon)
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
	if m.VarN == 0 {
		m.VarFast, m.VarSlow = v, v
	} else {
		m.VarFast += ewmaAlpha(dt, c.VolFast.Minutes()) * (v - m.VarFast)
		m.VarSlow += ewmaAlpha(dt, c.VolSlow.Minutes()) * (v - m.VarSlow)
	}
	m.VarN++
}

func ewmaAlpha(dt, halfLife float64) float64 { return 1 - math.Exp2(-dt/halfLife) }

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
	s.Last, s.LastMs = p, at
}

// ret is the return from the newest sample at or before at-w (the oldest
// sample while the window is still filling) to the last price.
func (s *Series) ret(at, w int64) float64 {
	if len(s.S) == 0 {
		return 0
	}
	ref := s.S[0]
	for _, x := range s.S[1:] {
		if int64(x[0]) > at-w {
			break
		}
		ref = x
	}
	if ref[1] <= 0 {
		return 0
	}
	return s.Last/ref[1] - 1
}

func (c ScoreConfig) evaluate(m *Market, at int64) Inputs {
	stale, fresh, up, down := 0, 0, 0, 0
	short := c.ShortWindow.Milliseconds()
	for sym, s := range m.Symbols {
		age := at - s.LastMs
		if age > c.ForgetAfter.Milliseconds() {
			delete(m.Symbols, sym)
			continue
		}
		if age > c.StaleAfter.Milliseconds() {
			stale++
			continue
		}
		fresh++
		switch r := s.ret(at, short); {
		case r >= c.BreadthMove:
			up++
		case r <= -c.BreadthMove:
			down++
		}
	}
	in := Inputs{Symbols: len(m.Symbols)}
	if ref, ok := m.Symbols[c.Reference]; ok && at-ref.LastMs <= c.StaleAfter.Milliseconds() {
		in.BTCShort = round6(math.Abs(ref.ret(at, short)))
		in.BTCLong = round6(math.Abs(ref.ret(at, c.LongWindow.Milliseconds())))
	}
	if fresh >= c.MinSymbols {
		in.Breadth = round6(float64(max(up, down)) / float64(fresh))
	}
	if len(m.Symbols) >= c.MinSymbols {
		in.StaleShare = round6(float64(stale) / float64(len(m.Symbols)))
	}
	if m.VarN > 1 {
		in.VolRatio = round6(math.Sqrt(m.VarFast / math.Max(m.VarSlow, varFloor)))
	}
	in.Score = c.Score(in)
	return in
}
