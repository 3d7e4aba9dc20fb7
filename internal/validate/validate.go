// Package validate holds the checks a value passes before it may enter the
// database. Every record on a Kafka topic is untrusted (DESIGN.md section 5,
// "Fail closed"): a value that a column cannot hold makes the database
// refuse the whole batch (MySQL 1264 out of range, 1366 incorrect string
// value, 1406 data too long), and a value it can hold but that means nothing
// (NaN, "1e999999", a negative fill, a price of 0) corrupts every later
// computation built on it. Consumers check here first and quarantine what
// fails, so the database only ever sees values it can store and that make
// sense.
//
// The checks are pure, allocate only when they fail, and depend on no other
// package of the module, so any consumer (sinks, processors, workers) and
// even the topics package can use them.
//
// The decimal checks follow the columns of internal/db/schema.go: mark
// prices, klines and indicators are DECIMAL(36,18) (18 integer and 18
// fraction digits); order prices and quantities are VARCHAR(40) text that
// the positions worker sums and stores again as VARCHAR(40), so they are held
// to the same 18+18 digits (quantities, which are summed, to 15+18), which
// leaves room for a sign, a point and the growth of a sum.
package validate

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Column precision of {dec} (DECIMAL(36,18) on MySQL, NUMERIC(36,18) on
// PostgreSQL): 18 digits before the point, 18 after.
const (
	DecimalIntDigits  = 18
	DecimalFracDigits = 18
)

// MaxDecimalLen bounds the text of a decimal before its digits are even
// counted: leading and trailing zeros are tolerated, but not without limit.
const MaxDecimalLen = 64

// Column widths (characters) of the text columns values are checked against.
const (
	ExchangeWidth = 32
	AccountWidth  = 64
	SymbolWidth   = 64
)

// ErrInvalid is wrapped by every error of this package, so a caller can
// tell a refused value (errors.Is(err, ErrInvalid)) from anything else.
var ErrInvalid = errors.New("invalid value")

// invalid builds a refusal; the offending value is quoted and cut to 64
// bytes so a hostile value cannot blow up a log line or a quarantine record.
func invalid(value, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalid, quote(value), fmt.Sprintf(format, args...))
}

func quote(s string) string {
	const n = 64
	if len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return fmt.Sprintf("%q...(%d bytes)", s[:cut], len(s))
	}
	return fmt.Sprintf("%q", s)
}

// Decimal checks that s is a plain decimal number ("123", "-0.5", "0.00012")
// that a column of intDigits integer and fracDigits fraction digits holds
// exactly: an optional '-', digits, and an optional '.' followed by digits.
// No exponent ("1e999999"), no '+', no spaces, no "NaN"/"Inf", no bare or
// trailing point. Leading zeros of the integer part and trailing zeros of
// the fraction do not count against the precision. allowZero and
// allowNegative say whether 0 and values below 0 are legal (a '-' is
// refused whenever negatives are, even on zero).
func Decimal(s string, intDigits, fracDigits int, allowZero, allowNegative bool) error {
	if s == "" {
		return invalid(s, "is not a number (empty)")
	}
	if len(s) > MaxDecimalLen {
		return invalid(s, "is longer than %d characters", MaxDecimalLen)
	}
	neg := false
	body := s
	if body[0] == '-' {
		neg, body = true, body[1:]
	}
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || (hasDot && frac == "") {
		return invalid(s, "is not a plain decimal")
	}
	nonZero := false
	for _, part := range [2]string{intPart, frac} {
		for i := 0; i < len(part); i++ {
			c := part[i]
			if c < '0' || c > '9' {
				return invalid(s, "is not a plain decimal (digits, one optional '.', optional leading '-')")
			}
			if c != '0' {
				nonZero = true
			}
		}
	}
	if n := len(strings.TrimLeft(intPart, "0")); n > intDigits {
		return invalid(s, "has %d integer digits; the column holds %d", n, intDigits)
	}
	if n := len(strings.TrimRight(frac, "0")); n > fracDigits {
		return invalid(s, "has %d fraction digits; the column holds %d", n, fracDigits)
	}
	switch {
	case !nonZero && !allowZero:
		return invalid(s, "is zero")
	case neg && !allowNegative:
		return invalid(s, "is negative") // "-0" too: no sign where none is allowed
	}
	return nil
}

// MarkPrice checks a mark price for exchange_symbols.mark_price
// (DECIMAL(36,18)): a plain decimal > 0 with at most 18 integer digits. A
// price of 0 or below is never a market's price, only a broken or hostile
// record. More than 18 fraction digits are accepted (the column rounds them,
// as it must for a price scaled by a venue's factor) as long as the rounded
// value is still > 0 and still fits: "0.0000000000000000001" would be stored
// as 0, and eighteen nines rounded up would need a nineteenth integer digit.
func MarkPrice(s string) error {
	return ColumnDecimal(s, DecimalIntDigits, DecimalFracDigits, false, false)
}

// ColumnDecimal is Decimal for a DECIMAL(intDigits+fracDigits, fracDigits)
// column, which rounds fraction digits beyond its scale: extra fraction
// digits are accepted when the rounded value still fits and, unless
// allowZero, is not zero.
func ColumnDecimal(s string, intDigits, fracDigits int, allowZero, allowNegative bool) error {
	if err := Decimal(s, intDigits, MaxDecimalLen, allowZero, allowNegative); err != nil {
		return err
	}
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	frac = strings.TrimRight(frac, "0")
	if len(frac) <= fracDigits {
		return nil
	}
	kept := strings.TrimLeft(intPart, "0") + frac[:fracDigits]
	roundsUp := frac[fracDigits] >= '5'
	if !allowZero && !roundsUp && strings.Trim(kept, "0") == "" {
		return invalid(s, "rounds to zero at %d fraction digits", fracDigits)
	}
	if roundsUp && len(strings.TrimLeft(intPart, "0")) == intDigits && strings.Trim(kept, "9") == "" {
		return invalid(s, "rounds up past %d integer digits", intDigits)
	}
	return nil
}

// TextDecimalWidth is the width of the VARCHAR(40) columns that hold order
// prices and quantities as text, exactly as the exchange sent them.
const TextDecimalWidth = 40

// QuantityIntDigits bounds the integer digits of a quantity. No contract
// trades anywhere near 10^15 units in one order, and the bound leaves room
// for sums: the positions worker adds fills and stores the sum with up to
// 18 fraction digits in a VARCHAR(40), which holds 20 integer digits, so
// even 10^5 maximal fills still fit.
const QuantityIntDigits = 15

// textDecimal is Decimal for a value stored as text: within intDigits+18
// significant digits and at most TextDecimalWidth characters as sent.
func textDecimal(s string, intDigits int, allowZero, allowNegative bool) error {
	if err := Decimal(s, intDigits, DecimalFracDigits, allowZero, allowNegative); err != nil {
		return err
	}
	if len(s) > TextDecimalWidth {
		return invalid(s, "is longer than %d characters", TextDecimalWidth)
	}
	return nil
}

// Price checks an order price (orders.price, avg_price, stop_price,
// order_fills.price, all VARCHAR(40)): a plain decimal >= 0 within 18+18
// digits and 40 characters. Zero is legal: Binance sends "0" as the price of
// a market order and as the average price of an order not yet filled.
func Price(s string) error { return textDecimal(s, DecimalIntDigits, true, false) }

// PositivePrice checks a price that must be > 0 (a fill's last price).
func PositivePrice(s string) error { return textDecimal(s, DecimalIntDigits, false, false) }

// Quantity checks an order quantity (orig_qty, cum_qty, a fill's qty): a
// plain decimal >= 0 within QuantityIntDigits+18 digits and 40 characters.
// A negative quantity would move a position the wrong way.
func Quantity(s string) error { return textDecimal(s, QuantityIntDigits, true, false) }

// Signed checks an amount that may be negative (realized profit, a signed
// position amount): a plain decimal within 18+18 digits and 40 characters.
func Signed(s string) error { return textDecimal(s, DecimalIntDigits, true, true) }

// ID checks an exchange id (order id, algo id, trade id) that must be set:
// positive. JSON decoding into int64 already refuses values beyond int64.
func ID(id int64) error {
	if id <= 0 {
		return fmt.Errorf("%w: id %d is not positive", ErrInvalid, id)
	}
	return nil
}

// IDString checks an id carried as text (an algo order's actual order id):
// empty, or the decimal digits of a positive int64.
func IDString(s string) error {
	if s == "" {
		return nil
	}
	if len(s) > 19 {
		return invalid(s, "is not an int64 id")
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return invalid(s, "is not an int64 id")
		}
		v = v*10 + uint64(c-'0')
	}
	if v == 0 || v > 1<<63-1 {
		return invalid(s, "is not a positive int64 id")
	}
	return nil
}

// Text checks free text for a column of max characters: valid UTF-8, no NUL
// (MySQL refuses the first with error 1366, PostgreSQL both), at most max
// runes (column widths count characters; MySQL refuses more with 1406).
func Text(s string, max int) error {
	if !utf8.ValidString(s) {
		return invalid(s, "is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return invalid(s, "contains a NUL byte")
	}
	if len(s) > max && utf8.RuneCountInString(s) > max {
		return invalid(s, "is longer than %d characters", max)
	}
	return nil
}

// RequiredText is Text that must not be empty.
func RequiredText(s string, max int) error {
	if s == "" {
		return invalid(s, "is empty")
	}
	return Text(s, max)
}

// Name checks an identifier such as an account: RequiredText of at most max
// characters without control characters and without U+FFFD, the
// replacement character that encoding/json substitutes for invalid UTF-8
// (a name that contains it was not valid text when it was sent).
func Name(s string, max int) error {
	if err := RequiredText(s, max); err != nil {
		return err
	}
	for _, r := range s {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return invalid(s, "contains a control or replacement character")
		}
	}
	return nil
}

// Symbol checks an instrument symbol: 1 to SymbolWidth characters of
// upper-case A-Z, digits and '_' (delivery contracts: BTCUSDT_250627).
// Letters outside ASCII are accepted when they have no lower case (Binance
// lists USD-M contracts named in Chinese, e.g. "币安人生USDT"); lower-case
// letters, spaces, punctuation and control characters are not.
func Symbol(s string) error {
	if s == "" {
		return invalid(s, "is not a symbol (empty)")
	}
	if len(s) > SymbolWidth*utf8.UTFMax {
		return invalid(s, "is longer than %d characters", SymbolWidth)
	}
	n := 0
	for i, r := range s {
		n++
		switch {
		case r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case r == '_' && i > 0:
		case r >= utf8.RuneSelf && r != utf8.RuneError && unicode.IsLetter(r) && !unicode.IsLower(r) && !unicode.IsUpper(r):
		default:
			return invalid(s, "is not a symbol (A-Z, 0-9, '_')")
		}
	}
	if n > SymbolWidth {
		return invalid(s, "is longer than %d characters", SymbolWidth)
	}
	return nil
}

// Token checks an exchange enumeration value (an order status, side, type,
// time in force, execution type, asset): 1 to max characters of upper-case
// A-Z, digits and '_'. Checking the shape rather than a fixed list keeps an
// event with a value the exchange adds tomorrow, while refusing anything
// that is not such a word.
func Token(s string, max int) error {
	if s == "" {
		return invalid(s, "is empty")
	}
	if len(s) > max {
		return invalid(s, "is longer than %d characters", max)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_':
		default:
			return invalid(s, "is not an exchange word (A-Z, 0-9, '_')")
		}
	}
	return nil
}

// Known exchanges: the four venues (internal/universe.Venues).
const (
	Binance = "binance"
	Bybit   = "bybit"
	KuCoin  = "kucoin"
	Bitget  = "bitget"
)

// Exchange checks that s names a known exchange. A record for an exchange
// the system does not know cannot be routed, priced or reconciled.
func Exchange(s string) error {
	switch s {
	case Binance, Bybit, KuCoin, Bitget:
		return nil
	}
	return invalid(s, "is not a known exchange (binance, bybit, kucoin, bitget)")
}

// OneOf checks that s is one of the allowed values.
func OneOf(s string, allowed ...string) error {
	for _, a := range allowed {
		if s == a {
			return nil
		}
	}
	return invalid(s, "is not one of %s", strings.Join(allowed, ", "))
}

// Earliest and Latest bound a wall-clock time a record may carry (a header
// such as received_at): nothing in this system happened before 2000, and a
// time past 2200 is a broken or hostile record, whatever the column could
// hold. How far ahead of the consumer's own clock a time may be is a tighter
// check (topics.CheckEventTime).
var (
	Earliest = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	Latest   = time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)
)

// SaneTime checks that t lies in [Earliest, Latest).
func SaneTime(t time.Time) error {
	if t.Before(Earliest) || !t.Before(Latest) {
		return fmt.Errorf("%w: time %s is outside [%s, %s)", ErrInvalid,
			t.UTC().Format(time.RFC3339Nano), Earliest.Format("2006"), Latest.Format("2006"))
	}
	return nil
}
