package regime

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/kraite/stream/internal/regimestate"
)

// Ramp maps a raw input onto 0..1: 0 at or below Lo, 1 at or above Hi,
// linear in between.
type Ramp struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
}

// Of applies the ramp. A NaN input reads as the top of the ramp: an
// input nobody can compute must not lower the score.
func (r Ramp) Of(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 1
	case x <= r.Lo:
		return 0
	case x >= r.Hi:
		return 1
	default:
		return (x - r.Lo) / (r.Hi - r.Lo)
	}
}

// ScoreConfig holds the weights and thresholds of the market score. The
// defaults (DefaultScoreConfig) were calibrated on ../shared/market-data:
// every crash day peaks in Critical, every calm day stays Calm
// (TestCalibrationCrashesRankFarAboveCalmDays prints the table).
type ScoreConfig struct {
	// Reference is the symbol whose move drives the BTC components.
	Reference string `json:"reference"`
	// ShortWindow and LongWindow are the two windows of the BTC move
	// (default 15 min and 60 min).
	ShortWindow time.Duration `json:"short_window"`
	LongWindow  time.Duration `json:"long_window"`
	// Step is the sample granularity of the reference symbol (default 1 min).
	Step time.Duration `json:"step"`
	// BreadthHalfLife is the half-life of each symbol's moving average
	// (default 5 min); breadth measures the last price against it, one
	// number per symbol, continuous at any cadence.
	BreadthHalfLife time.Duration `json:"breadth_half_life"`
	// BreadthMove is the |distance| of the last price from the moving
	// average that counts a symbol as having a large move (default 3 %).
	BreadthMove float64 `json:"breadth_move"`
	// StaleAfter marks a symbol stale when it has not updated for this long
	// (default 60 s; the feed pushes every symbol every second).
	StaleAfter time.Duration `json:"stale_after"`
	// ForgetAfter drops a symbol silent this long (delisted; default 6 h).
	ForgetAfter time.Duration `json:"forget_after"`
	// VolFast and VolSlow are the half-lives of the realised-variance EWMAs
	// of the reference (defaults 10 min and 6 h); the ratio of their square
	// roots is the volatility input.
	VolFast time.Duration `json:"vol_fast"`
	VolSlow time.Duration `json:"vol_slow"`
	// MinSymbols is the fewest fresh symbols breadth and staleness need
	// (default 5); below it they read 0, and fewer known symbols is a
	// degraded feed.
	MinSymbols int `json:"min_symbols"`
	// DegradedAfter is how long the reference may stay silent, and how
	// recent a tick must be for a symbol to count as live (default 30 s):
	// the reference silent longer, or fewer than MinFreshShare of the known
	// symbols live, is a degraded feed, which closes the gate.
	DegradedAfter time.Duration `json:"degraded_after"`
	MinFreshShare float64       `json:"min_fresh_share"` // default 0.5
	// MaxSymbols bounds the symbols one scope tracks (default 2000; Binance
	// lists about 500 USD-M contracts): ticks of further new symbols are
	// ignored, so records inventing symbols cannot grow the state.
	MaxSymbols int `json:"max_symbols"`

	// Ramps of the five components.
	BTCShort Ramp `json:"btc_short"` // |return| over ShortWindow: 1 % .. 5 %
	BTCLong  Ramp `json:"btc_long"`  // |return| over LongWindow: 2 % .. 8 %
	Breadth  Ramp `json:"breadth"`   // share moving together: 0.15 .. 0.50
	Vol      Ramp `json:"vol"`       // fast/slow volatility ratio: 1.5 .. 4
	Stale    Ramp `json:"stale"`     // share of stale symbols: 0.05 .. 0.50

	// Weights of the components (normalized by their sum).
	Weights Weights `json:"weights"`
}

// Weights of the score components.
type Weights struct {
	BTCShort float64 `json:"btc_short"`
	BTCLong  float64 `json:"btc_long"`
	Breadth  float64 `json:"breadth"`
	Vol      float64 `json:"vol"`
	Stale    float64 `json:"stale"`
}

func (w Weights) sum() float64 { return w.BTCShort + w.BTCLong + w.Breadth + w.Vol + w.Stale }

// DefaultScoreConfig returns the documented defaults.
func DefaultScoreConfig() ScoreConfig {
	return ScoreConfig{
		Reference:       "BTCUSDT",
		ShortWindow:     15 * time.Minute,
		LongWindow:      60 * time.Minute,
		Step:            time.Minute,
		BreadthHalfLife: 5 * time.Minute,
		BreadthMove:     0.03,
		StaleAfter:      60 * time.Second,
		ForgetAfter:     6 * time.Hour,
		VolFast:         10 * time.Minute,
		VolSlow:         6 * time.Hour,
		MinSymbols:      5,
		DegradedAfter:   30 * time.Second,
		MinFreshShare:   0.5,
		MaxSymbols:      2000,
		BTCShort:        Ramp{0.01, 0.045},
		BTCLong:         Ramp{0.02, 0.07},
		Breadth:         Ramp{0.15, 0.50},
		Vol:             Ramp{1.5, 4},
		Stale:           Ramp{0.05, 0.50},
		Weights:         Weights{BTCShort: 0.30, BTCLong: 0.20, Breadth: 0.35, Vol: 0.10, Stale: 0.05},
	}
}

// Validate names the first bad field.
func (c ScoreConfig) Validate() error {
	var errs []error
	if c.Reference == "" {
		errs = append(errs, errors.New("score config: Reference is empty"))
	}
	if c.ShortWindow <= 0 || c.LongWindow < c.ShortWindow {
		errs = append(errs, fmt.Errorf("score config: ShortWindow %s / LongWindow %s must be positive and ordered", c.ShortWindow, c.LongWindow))
	}
	if c.Step <= 0 || c.BreadthHalfLife <= 0 {
		errs = append(errs, errors.New("score config: Step and BreadthHalfLife must be positive"))
	}
	if c.DegradedAfter <= 0 || c.MinSymbols < 1 || c.MaxSymbols < c.MinSymbols || !(c.MinFreshShare >= 0 && c.MinFreshShare <= 1) {
		errs = append(errs, errors.New("score config: DegradedAfter and MinSymbols must be positive, MaxSymbols at least MinSymbols, MinFreshShare in [0, 1]"))
	}
	if c.StaleAfter <= 0 || c.ForgetAfter < c.StaleAfter {
		errs = append(errs, errors.New("score config: StaleAfter must be positive and below ForgetAfter"))
	}
	if c.VolFast <= 0 || c.VolSlow <= c.VolFast {
		errs = append(errs, errors.New("score config: VolFast must be positive and below VolSlow"))
	}
	for name, r := range map[string]Ramp{"BTCShort": c.BTCShort, "BTCLong": c.BTCLong, "Breadth": c.Breadth, "Vol": c.Vol, "Stale": c.Stale} {
		if !(r.Hi > r.Lo) {
			errs = append(errs, fmt.Errorf("score config: ramp %s needs Hi > Lo", name))
		}
	}
	if c.Weights.sum() <= 0 {
		errs = append(errs, errors.New("score config: Weights sum to zero"))
	}
	return errors.Join(errs...)
}

// Score combines the inputs into 0..100 with the configured ramps and weights.
func (c ScoreConfig) Score(in regimestate.Inputs) float64 {
	w := c.Weights
	s := w.BTCShort*c.BTCShort.Of(in.BTCShort) + w.BTCLong*c.BTCLong.Of(in.BTCLong) +
		w.Breadth*c.Breadth.Of(in.Breadth) + w.Vol*c.Vol.Of(in.VolRatio) + w.Stale*c.Stale.Of(in.StaleShare)
	return math.Round(10000*s/w.sum()) / 100
}

// round6 keeps the stored inputs short and stable, and encodable (the
// state is JSON, which has no NaN or Inf; a goka codec error would stop the
// processor): NaN reads as 0, Inf as 1e9. Prices are validated where they
// enter (appendTick), so neither should ever occur.
func round6(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 0):
		return math.Copysign(1e9, x)
	}
	return math.Round(x*1e6) / 1e6
}
