package markprice

import (
	"math/big"
	"testing"
)

func TestScale(t *testing.T) {
	tests := []struct {
		name   string
		price  string
		factor float64
		want   string
	}{
		{"a factor of one keeps the price", "59022.53514719", 1, "59022.53514719"},
		{"1000SATS to 10000SATS multiplies by ten exactly", "0.000183", 10, "0.00183"},
		{"1000SATS to SATS divides by a thousand", "0.000183", 0.001, "0.000000183"},
		{"1000000MOG to MOG divides by a million", "1.2345", 0.000001, "0.0000012345"},
		{"1000CHEEMS to 1000000CHEEMS multiplies by a thousand", "0.0012", 1000, "1.2"},
		{"an integer price grows zeros", "7", 1000, "7000"},
		{"leading and trailing zeros are normalized", "0010.500", 1, "10.5"},
		{"a non power of ten multiplies in float", "2", 2.5, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Scale(tt.price, tt.factor)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("Scale(%s, %v) = %s, want %s", tt.price, tt.factor, got, tt.want)
			}
		})
	}
	for _, bad := range []string{"", "-1", "1e5", "abc", ".5", "5.", "1.2.3"} {
		if _, err := Scale(bad, 10); err == nil {
			t.Errorf("Scale(%q) accepted", bad)
		}
	}
}

// FuzzScale: Scale never panics; for power-of-ten factors the result equals
// the exact rational product.
func FuzzScale(f *testing.F) {
	f.Add("0.000183", 1)
	f.Add("59022.53514719", -3)
	f.Add("7", 6)
	f.Fuzz(func(t *testing.T, price string, k int) {
		k = k % 7
		factor := 1.0
		for range max(k, -k) {
			if k > 0 {
				factor *= 10
			} else {
				factor /= 10
			}
		}
		got, err := Scale(price, factor)
		if err != nil {
			return
		}
		p, ok1 := new(big.Rat).SetString(price)
		g, ok2 := new(big.Rat).SetString(got)
		if !ok1 || !ok2 {
			t.Fatalf("unparsable %q -> %q", price, got)
		}
		want := new(big.Rat).Mul(p, new(big.Rat).SetFrac(pow10(max(k, 0)), pow10(max(-k, 0))))
		if g.Cmp(want) != 0 {
			t.Fatalf("Scale(%s, 1e%d) = %s, want %s", price, k, got, want.FloatString(20))
		}
	})
}

func pow10(n int) *big.Int { return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil) }
