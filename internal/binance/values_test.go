package binance

import "testing"

func TestSameDecimalComparesByValue(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"9.10", "9.1", true}, {"0", "0.000", true}, {"375", "375.0", true}, {"1.5", "1.05", false}, {"10", "1", false},
		{"1.50", "1.5", true}, {"0.001000000000000000", "0.001", true}, {"2", "2.0001", false}, {"", "0", false}, {"x", "x", true},
	} {
		if got := SameDecimal(c.a, c.b); got != c.want {
			t.Errorf("SameDecimal(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}
