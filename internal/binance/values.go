package binance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// Int64 is an integer field that Binance sends as a JSON number, a numeric
// string ("ai": "88937381063"), an empty string or null. It is decoded
// exactly (ids exceed 2^53, so never through float64); "" and null are 0.
type Int64 int64

// UnmarshalJSON accepts a number, a numeric string, "" or null.
func (n *Int64) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	s := string(b)
	if b[0] == '"' {
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("decoding integer string: %w", err)
		}
		if s == "" {
			*n = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("decoding integer %q: %w", s, err)
	}
	*n = Int64(v)
	return nil
}

// Decimal is a price, quantity or rate kept as the exact text Binance sent.
// It accepts a JSON string, a JSON number (kept as its literal text) or null
// (the empty string). It is never converted to float64 on the dispatch path.
type Decimal string

// UnmarshalJSON accepts a string, a number or null.
func (d *Decimal) UnmarshalJSON(b []byte) error {
	v, err := scalarText(b, "decimal", func(lit []byte) bool {
		var num json.Number
		return json.Unmarshal(lit, &num) == nil
	})
	*d = Decimal(v)
	return err
}

// scalarText is the text of a JSON string, null ("") or bare literal that
// literal accepts (kept as written); what is the field kind for errors.
func scalarText(b []byte, what string, literal func([]byte) bool) (string, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return "", nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return "", fmt.Errorf("decoding %s string: %w", what, err)
		}
		return s, nil
	}
	if !literal(b) {
		return "", fmt.Errorf("decoding %s: %q is not a valid literal", what, b)
	}
	return string(b), nil
}

// Rat parses the decimal exactly; ok is false for "" or text that is not a number.
func (d Decimal) Rat() (*big.Rat, bool) {
	if d == "" {
		return nil, false
	}
	return new(big.Rat).SetString(string(d))
}

// SameDecimal reports whether two decimal texts are equal by value ("1.50"
// equals "1.5", "0" equals "0.000"): the stream and REST format quantities
// differently. Text that is not a number ("" included) equals only itself.
func SameDecimal(a, b string) bool {
	if a == b {
		return true
	}
	x, ok1 := Decimal(strings.TrimSpace(a)).Rat()
	y, ok2 := Decimal(strings.TrimSpace(b)).Rat()
	return ok1 && ok2 && x.Cmp(y) == 0
}

// Bool is a boolean that tolerates null and the strings "true"/"false".
type Bool bool

// UnmarshalJSON accepts true, false, null, "true" and "false".
func (v *Bool) UnmarshalJSON(b []byte) error {
	switch string(bytes.TrimSpace(b)) {
	case "true", `"true"`:
		*v = true
	case "false", `"false"`, "null", `""`:
		*v = false
	default:
		return fmt.Errorf("decoding boolean %q", b)
	}
	return nil
}

// Text is a string field that tolerates null and bare numbers (kept as text).
type Text string

// UnmarshalJSON accepts a string, a number, a boolean or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	v, err := scalarText(b, "string", func(lit []byte) bool { return lit[0] != '{' && lit[0] != '[' })
	*t = Text(v)
	return err
}
