package marketjobs

import (
	"math"
	"testing"
)

// The hand-computed series. Closes (10 values):
//
//	i:      0   1   2   3   4   5   6   7   8   9
//	close: 10  11  12  11  13  14  13  15  16  15
var handCloses = []float64{10, 11, 12, 11, 13, 14, 13, 15, 16, 15}

func TestEMA(t *testing.T) {
	tests := []struct {
		name   string
		closes []float64
		period int
		want   []float64
	}{
		{
			// EMA(3): k = 2/(3+1) = 0.5, seed SMA(10, 11, 12) = 11 at i=2.
			// i=3: 0.5*11 + 0.5*11 = 11    i=4: 0.5*13 + 0.5*11 = 12
			// i=5: 0.5*14 + 0.5*12 = 13    i=6: 0.5*13 + 0.5*13 = 13
			// i=7: 0.5*15 + 0.5*13 = 14    i=8: 0.5*16 + 0.5*14 = 15
			// i=9: 0.5*15 + 0.5*15 = 15
			name:   "a period of 3 over ten closes is seeded with the SMA and halves towards each close",
			closes: handCloses, period: 3,
			want: []float64{11, 11, 12, 13, 13, 14, 15, 15},
		},
		{
			// EMA(4): k = 2/5 = 0.4, seed SMA(10, 11, 12, 11) = 11 at i=3.
			// i=4: 0.4*13 + 0.6*11 = 11.8   i=5: 0.4*14 + 0.6*11.8 = 12.68
			name:   "a period of 4 uses k of 0.4",
			closes: handCloses[:6], period: 4,
			want: []float64{11, 11.8, 12.68},
		},
		{name: "exactly period values give only the seed", closes: []float64{1, 2, 3}, period: 3, want: []float64{2}},
		{name: "fewer values than the period give no output", closes: []float64{1, 2}, period: 3, want: nil},
		{name: "a period of 1 is the closes themselves", closes: []float64{4, 5, 6}, period: 1, want: []float64{4, 5, 6}},
		{name: "a zero period gives no output", closes: handCloses, period: 0, want: nil},
		{name: "no closes give no output", closes: nil, period: 3, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSeries(t, EMA(tt.closes, tt.period), tt.want)
		})
	}
}

func TestRSI(t *testing.T) {
	tests := []struct {
		name   string
		closes []float64
		period int
		want   []float64
	}{
		{
			// Changes d1..d9 of handCloses: +1 +1 -1 +2 +1 -1 +2 +1 -1.
			// RSI(3) at i=3: avgG = (1+1+0)/3 = 2/3, avgL = (0+0+1)/3 = 1/3, RS = 2.
			// Wilder: avg = (prev*2 + current)/3.
			// i=4 (+2): avgG = (4/3+2)/3 = 10/9,        avgL = (2/3)/3 = 2/9,           RS = 5
			// i=5 (+1): avgG = (20/9+1)/3 = 29/27,      avgL = (4/9)/3 = 4/27,          RS = 29/4
			// i=6 (-1): avgG = (58/27)/3 = 58/81,       avgL = (8/27+1)/3 = 35/81,      RS = 58/35
			// i=7 (+2): avgG = (116/81+2)/3 = 278/243,  avgL = (70/81)/3 = 70/243,      RS = 278/70
			// i=8 (+1): avgG = (556/243+1)/3 = 799/729, avgL = (140/243)/3 = 140/729,   RS = 799/140
			// i=9 (-1): avgG = (1598/729)/3 = 1598/2187, avgL = (280/729+1)/3 = 1009/2187, RS = 1598/1009
			// RSI = 100 - 100/(1+RS): 66.67, 83.33, 87.88, 62.37, 79.89, 85.09, 61.30.
			name:   "a period of 3 over ten closes follows Wilder's smoothing",
			closes: handCloses, period: 3,
			want: []float64{
				100 - 100/(1+2.0), 100 - 100/(1+5.0), 100 - 100/(1+29.0/4), 100 - 100/(1+58.0/35),
				100 - 100/(1+278.0/70), 100 - 100/(1+799.0/140), 100 - 100/(1+1598.0/1009),
			},
		},
		{name: "a series that only rises is 100", closes: []float64{1, 2, 3, 4, 5}, period: 3, want: []float64{100, 100}},
		{name: "a series that only falls is 0", closes: []float64{5, 4, 3, 2}, period: 2, want: []float64{0, 0}},
		{name: "a flat series is 50", closes: []float64{7, 7, 7, 7}, period: 3, want: []float64{50}},
		{name: "exactly period values give no output (one change short)", closes: []float64{1, 2, 3}, period: 3, want: nil},
		{name: "a zero period gives no output", closes: handCloses, period: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSeries(t, RSI(tt.closes, tt.period), tt.want)
		})
	}
}

func TestATR(t *testing.T) {
	// Six bars; bar 4 gaps up over the previous close.
	//
	//	bar:    0   1   2   3   4   5
	//	high:  12  13  14  13  18  17
	//	low:    9   8  11  10  16  14
	//	close: 10  12  13  11  17  15
	//
	// TR1 = max(13-8, |13-10|, |8-10|)   = 5
	// TR2 = max(14-11, |14-12|, |11-12|) = 3
	// TR3 = max(13-10, |13-13|, |10-13|) = 3
	// TR4 = max(18-16, |18-11|, |16-11|) = 7
	// TR5 = max(17-14, |17-17|, |14-17|) = 3
	// ATR(3) at bar 3 = (5+3+3)/3 = 11/3
	// bar 4 = (11/3*2 + 7)/3 = 43/9;  bar 5 = (43/9*2 + 3)/3 = 113/27
	high := []float64{12, 13, 14, 13, 18, 17}
	low := []float64{9, 8, 11, 10, 16, 14}
	closes := []float64{10, 12, 13, 11, 17, 15}
	tests := []struct {
		name            string
		high, low, clos []float64
		period          int
		want            []float64
	}{
		{name: "a period of 3 over six bars follows Wilder's smoothing", high: high, low: low, clos: closes, period: 3,
			want: []float64{11.0 / 3, 43.0 / 9, 113.0 / 27}},
		{name: "a period of 1 is the true range itself", high: high, low: low, clos: closes, period: 1,
			want: []float64{5, 3, 3, 7, 3}},
		{name: "exactly period bars give no output (bar 0 has no previous close)", high: high[:3], low: low[:3], clos: closes[:3], period: 3, want: nil},
		{name: "slices of different lengths give no output", high: high, low: low[:5], clos: closes, period: 3, want: nil},
		{name: "a zero period gives no output", high: high, low: low, clos: closes, period: 0, want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertSeries(t, ATR(tt.high, tt.low, tt.clos, tt.period), tt.want)
		})
	}
}

func TestIndicatorsDoNotChangeTheirInput(t *testing.T) {
	in := append([]float64(nil), handCloses...)
	EMA(in, 3)
	RSI(in, 3)
	ATR(in, in, in, 3)
	assertSeries(t, in, handCloses)
}

func assertSeries(t *testing.T, got, want []float64) {
	t.Helper()
	if want == nil && got != nil {
		t.Fatalf("got %v, want no output (nil)", got)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d values %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if !closeTo(got[i], want[i]) {
			t.Errorf("value %d: got %.15g, want %.15g", i, got[i], want[i])
		}
	}
}

// closeTo compares with a relative tolerance of 1e-12.
func closeTo(a, b float64) bool {
	return math.Abs(a-b) <= 1e-12*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}
