package markprice

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Scale returns price * factor as a decimal string. Factors that are powers
// of ten (the universe's 10, 1000, 0.001, 0.000001) shift the decimal point
// exactly, so no float rounding ever reaches the database ("0.000183" x 10 is
// "0.00183", not 0.0018299999999999998). Other factors multiply in float64
// and keep 15 significant digits. price must be a plain decimal.
func Scale(price string, factor float64) (string, error) {
	if !validDecimal(price) {
		return "", fmt.Errorf("scaling %q: not a plain decimal", price)
	}
	if factor <= 0 || math.IsInf(factor, 0) || math.IsNaN(factor) {
		return "", fmt.Errorf("scaling by %v: factor must be positive", factor)
	}
	if factor == 1 {
		return trimZeros(price), nil
	}
	exp := math.Log10(factor)
	if k := math.Round(exp); math.Abs(exp-k) < 1e-9 && math.Abs(k) <= 30 {
		return shift(price, int(k)), nil
	}
	f, err := strconv.ParseFloat(price, 64)
	if err != nil {
		return "", fmt.Errorf("scaling %q: %w", price, err)
	}
	v := f * factor
	if math.IsInf(v, 0) {
		return "", errors.New("scaling: overflow")
	}
	return trimZeros(strconv.FormatFloat(v, 'f', -1, 64)), nil
}

// shift moves the decimal point of a plain decimal k places right (k < 0: left).
func shift(s string, k int) string {
	intPart, frac, _ := strings.Cut(s, ".")
	digits := intPart + frac
	point := len(intPart) + k // position of the point within digits
	switch {
	case point <= 0:
		digits = strings.Repeat("0", -point+1) + digits
		point = 1
	case point > len(digits):
		digits += strings.Repeat("0", point-len(digits))
	}
	return trimZeros(digits[:point] + "." + digits[point:])
}

// trimZeros normalizes "000123.4500" to "123.45" and "5." to "5".
func trimZeros(s string) string {
	intPart, frac, hasDot := strings.Cut(s, ".")
	intPart = strings.TrimLeft(intPart, "0")
	if intPart == "" {
		intPart = "0"
	}
	if !hasDot {
		return intPart
	}
	frac = strings.TrimRight(frac, "0")
	if frac == "" {
		return intPart
	}
	return intPart + "." + frac
}
