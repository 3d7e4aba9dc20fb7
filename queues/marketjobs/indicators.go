// Package marketjobs holds the market-data queue jobs: fetching klines into
// `klines`, computing standard indicators (EMA, RSI, ATR) from the stored
// klines into `indicators`, and balance snapshots into `balance_snapshots`.
// [Handlers] adapts them to worker.JobHandler for the worker's job topics.
//
// # Indicator alignment
//
// The pure indicator functions return only defined values, never zeros for
// the warm-up: the output is aligned to the END of the input, so out[k]
// belongs to input index len(in)-len(out)+k. With fewer inputs than the
// warm-up needs (or a period < 1) they return nil.
package marketjobs

// EMA is the exponential moving average of closes over period, seeded with
// the simple average of the first period values (the standard definition):
// ema[period-1] = SMA(closes[0:period]), then
// ema[i] = closes[i]*k + ema[i-1]*(1-k) with k = 2/(period+1).
// The result has len(closes)-period+1 values (out[0] belongs to
// closes[period-1]); nil when len(closes) < period.
func EMA(closes []float64, period int) []float64 {
	if period < 1 || len(closes) < period {
		return nil
	}
	out := make([]float64, 0, len(closes)-period+1)
	var sum float64
	for _, c := range closes[:period] {
		sum += c
	}
	prev := sum / float64(period)
	out = append(out, prev)
	k := 2 / float64(period+1)
	for _, c := range closes[period:] {
		prev = c*k + prev*(1-k)
		out = append(out, prev)
	}
	return out
}

// RSI is Wilder's relative strength index of closes over period (14 is
// standard). The first average gain/loss is the simple mean of the first
// period changes; later ones use Wilder's smoothing,
// avg = (prev*(period-1) + current)/period. RSI = 100 - 100/(1+avgGain/avgLoss);
// 100 when there is no loss and 50 when the series is flat (no gain, no loss).
// The result has len(closes)-period values (out[0] belongs to
// closes[period]); nil when len(closes) <= period.
func RSI(closes []float64, period int) []float64 {
	if period < 1 || len(closes) <= period {
		return nil
	}
	var gain, loss float64
	for i := 1; i <= period; i++ {
		g, l := change(closes[i-1], closes[i])
		gain += g
		loss += l
	}
	p := float64(period)
	gain, loss = gain/p, loss/p
	out := make([]float64, 0, len(closes)-period)
	out = append(out, rsiOf(gain, loss))
	for i := period + 1; i < len(closes); i++ {
		g, l := change(closes[i-1], closes[i])
		gain = (gain*(p-1) + g) / p
		loss = (loss*(p-1) + l) / p
		out = append(out, rsiOf(gain, loss))
	}
	return out
}

// change splits the move from a to b into a gain and a loss (both >= 0).
func change(a, b float64) (gain, loss float64) {
	if d := b - a; d > 0 {
		return d, 0
	}
	return 0, a - b
}

func rsiOf(gain, loss float64) float64 {
	switch {
	case loss == 0 && gain == 0:
		return 50
	case loss == 0:
		return 100
	}
	return 100 - 100/(1+gain/loss)
}

// ATR is Wilder's average true range over period (14 is standard). The true
// range of bar i > 0 is max(high-low, |high-prevClose|, |low-prevClose|);
// bar 0 has no previous close and is not used (as in TA-Lib). The first ATR
// is the mean of the true ranges of bars 1..period, later ones
// atr = (prev*(period-1) + tr)/period. The result has len(close)-period
// values (out[0] belongs to bar period); nil when the three slices differ
// in length or len(close) <= period.
func ATR(high, low, close []float64, period int) []float64 {
	n := len(close)
	if period < 1 || len(high) != n || len(low) != n || n <= period {
		return nil
	}
	tr := func(i int) float64 {
		pc := close[i-1]
		return max(high[i]-low[i], abs(high[i]-pc), abs(low[i]-pc))
	}
	var sum float64
	for i := 1; i <= period; i++ {
		sum += tr(i)
	}
	p := float64(period)
	prev := sum / p
	out := make([]float64, 0, n-period)
	out = append(out, prev)
	for i := period + 1; i < n; i++ {
		prev = (prev*(p-1) + tr(i)) / p
		out = append(out, prev)
	}
	return out
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
