package regimestate

import "testing"

func TestBands(t *testing.T) {
	for score, want := range map[float64]Band{-1: Calm, 0: Calm, 24.99: Calm, 25: Elevated, 49.99: Elevated,
		50: Fragile, 75: Critical, 100: Critical} {
		if got := BandOf(score); got != want {
			t.Errorf("BandOf(%v) = %s, want %s", score, got, want)
		}
	}
	for _, tc := range []struct {
		cur   Band
		score float64
		want  Band
	}{
		{"", 30, Elevated},        // no band yet: the score's
		{Calm, 80, Critical},      // up at once
		{Critical, 73, Critical},  // within the hysteresis
		{Critical, 71.9, Fragile}, // below it
		{Critical, 10, Calm},      // far below
		{Elevated, 24, Elevated},  // hovering at the floor
		{Elevated, 21.5, Calm},    // left
	} {
		if got := NextBand(tc.cur, tc.score, 3); got != tc.want {
			t.Errorf("NextBand(%q, %v) = %s, want %s", tc.cur, tc.score, got, tc.want)
		}
	}
}
