package validate

import (
	"errors"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/universe"
)

func TestDecimal(t *testing.T) {
	ok := []string{"1", "0.1", "123.456", "0.00012000", "000123.45", "999999999999999999",
		"999999999999999999.999999999999999999", "0.000000000000000001", "1.000000000000000000000",
		"0.0045000000000000005", "0.0000000000000000005", "999999999999999999.9999999999999999994"}
	for _, s := range ok {
		if err := MarkPrice(s); err != nil {
			t.Errorf("MarkPrice(%q) = %v", s, err)
		}
	}
	bad := []string{"", "0", "0.0", "-0", "-1", "-0.5", "1e999999", "1E5", "NaN", "nan", "Inf", "+Inf", "-Inf",
		"+1", " 1", "1 ", ".5", "5.", "1.2.3", "0x10", "1_000", "1,5", "١", "1\x00",
		"1000000000000000000", // 19 integer digits (the 1264 of issue 10)
		"0.0000000000000000001", "0.0000000000000000004999", "999999999999999999.9999999999999999995",
		strings.Repeat("1", 100), "1." + strings.Repeat("0", 70)}
	for _, s := range bad {
		err := MarkPrice(s)
		if err == nil {
			t.Errorf("MarkPrice(%q) accepted", s)
		} else if !errors.Is(err, ErrInvalid) {
			t.Errorf("MarkPrice(%q) = %v, not ErrInvalid", s, err)
		}
	}
	if Price("-0") == nil || Quantity("-0.0") == nil || Signed("-0.00000000") != nil {
		t.Error("a sign on zero: refused where negatives are, accepted where they are not")
	}
	for _, s := range []string{"0", "0.00000000"} {
		if err := Price(s); err != nil {
			t.Errorf("Price(%q) = %v (Binance sends 0 for market orders)", s, err)
		}
		if err := Quantity(s); err != nil {
			t.Errorf("Quantity(%q) = %v", s, err)
		}
		if PositivePrice(s) == nil {
			t.Errorf("PositivePrice(%q) accepted", s)
		}
	}
	for _, s := range []string{"-3", "-0.001", "NaN", "1e999999", "0.0045000000000000005", "000000000000000000000000000000000000000001.5"} {
		if Quantity(s) == nil || Price(s) == nil {
			t.Errorf("Quantity/Price(%q) accepted", s)
		}
	}
	if Quantity("1000000000000000") == nil || Quantity("999999999999999.5") != nil {
		t.Error("quantities hold 15 integer digits")
	}
	if err := Signed("-12.5"); err != nil {
		t.Errorf("Signed(-12.5) = %v", err)
	}
	if Signed("-1e3") == nil {
		t.Error("Signed(-1e3) accepted")
	}
}

func TestErrorsAreBounded(t *testing.T) {
	err := MarkPrice(strings.Repeat("9", 1<<20))
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error of a 1 MiB value: %d bytes", len(err.Error()))
	}
	err = Text(strings.Repeat("é", 1000), 10)
	if err == nil || len(err.Error()) > 300 {
		t.Fatalf("error of a long text: %v", err)
	}
}

func TestIDs(t *testing.T) {
	if ID(1) != nil || ID(math.MaxInt64) != nil || ID(0) == nil || ID(-5) == nil {
		t.Error("ID")
	}
	for _, s := range []string{"", "1", "9223372036854775807"} {
		if err := IDString(s); err != nil {
			t.Errorf("IDString(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"0", "-1", "9223372036854775808", "99999999999999999999", "1e5", "12a"} {
		if IDString(s) == nil {
			t.Errorf("IDString(%q) accepted", s)
		}
	}
}

func TestText(t *testing.T) {
	if err := Text("acct-0001", 64); err != nil {
		t.Error(err)
	}
	if err := Text(strings.Repeat("é", 64), 64); err != nil {
		t.Errorf("64 two-byte runes in a 64-character column: %v", err)
	}
	for _, s := range []string{"\xff", "a\x00b", strings.Repeat("a", 65), strings.Repeat("é", 65)} {
		if Text(s, 64) == nil {
			t.Errorf("Text(%q) accepted", s)
		}
	}
	if RequiredText("", 3) == nil {
		t.Error("RequiredText accepted empty")
	}
}

func TestSymbol(t *testing.T) {
	for _, s := range []string{"BTCUSDT", "1000SATSUSDT", "BTCUSDT_250627", "币安人生USDT"} {
		if err := Symbol(s); err != nil {
			t.Errorf("Symbol(%q) = %v", s, err)
		}
	}
	for _, s := range []string{"", "btcusdt", "BTC USDT", "BTC-USDT", "_BTC", "BTC\x00", "\xff", "BTC'--",
		strings.Repeat("A", 65), "ΑΒΓ"} {
		if Symbol(s) == nil {
			t.Errorf("Symbol(%q) accepted", s)
		}
	}
}

func TestExchangesAreTheUniverseVenues(t *testing.T) {
	for _, v := range universe.Venues() {
		if err := Exchange(string(v)); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []string{"", "Binance", "ftx", "binance\x00"} {
		if Exchange(s) == nil {
			t.Errorf("Exchange(%q) accepted", s)
		}
	}
	if OneOf("BUY", "BUY", "SELL") != nil || OneOf("HOLD", "BUY", "SELL") == nil {
		t.Error("OneOf")
	}
}

func TestSaneTime(t *testing.T) {
	if err := SaneTime(time.Now()); err != nil {
		t.Error(err)
	}
	for _, tm := range []time.Time{{}, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC), time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC)} {
		if SaneTime(tm) == nil {
			t.Errorf("SaneTime(%v) accepted", tm)
		}
	}
}

func TestAcceptingAllocatesNothing(t *testing.T) {
	n := testing.AllocsPerRun(100, func() {
		_ = MarkPrice("65432.10000000")
		_ = Quantity("0.001")
		_ = Text("acct-0001", 64)
		_ = Symbol("BTCUSDT")
		_ = Exchange("binance")
		_ = IDString("8886774")
	})
	if n != 0 {
		t.Errorf("%v allocations per accepted value set", n)
	}
}

// The real frames' prices and quantities all pass.
func TestRealFramesPass(t *testing.T) {
	paths := testkit.SharedFiles(t, "binance-frames/*.json")
	re := regexp.MustCompile(`"(p|P|q|z|l|L|ap|sp|wb|cw)":"([^"]*)"`)
	n := 0
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			if err := Signed(m[2]); err != nil {
				t.Errorf("%s: %s=%q: %v", filepath.Base(p), m[1], m[2], err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatal("no values found")
	}
}

var plain = regexp.MustCompile(`^-?[0-9]+(\.[0-9]+)?$`)

// FuzzDecimal: Decimal never panics; what it accepts is a plain decimal,
// finite, of the requested sign, and fits DECIMAL(36,18) exactly when
// normalized (so its text fits a VARCHAR(40) too).
func FuzzDecimal(f *testing.F) {
	for _, s := range []string{"65432.1", "0", "-0", "-3", "1e999999", "NaN", "0.00000001", "999999999999999999.999999999999999999",
		"1000000000000000000", "+1", ".5", "5.", "\xff", "00000000000000000000001.10000000000000000000000"} {
		f.Add(s, true, true)
	}
	paths := testkit.SharedFiles(f, "binance-frames/*.json")
	re := regexp.MustCompile(`"[a-zA-Z]{1,2}":"([^"]*)"`)
	for _, p := range paths {
		b, _ := os.ReadFile(p)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			f.Add(m[1], false, false)
		}
	}
	f.Fuzz(func(t *testing.T, s string, allowZero, allowNeg bool) {
		if ColumnDecimal(s, DecimalIntDigits, DecimalFracDigits, allowZero, allowNeg) == nil {
			r, ok := new(big.Rat).SetString(s)
			if !ok || !plain.MatchString(s) {
				t.Fatalf("column decimal accepted %q", s)
			}
			rounded, _ := new(big.Rat).SetString(r.FloatString(DecimalFracDigits))
			if (rounded.Sign() == 0 && !allowZero) || (r.Sign() < 0 && !allowNeg) {
				t.Fatalf("column decimal accepted %q: rounds to %s", s, rounded.FloatString(DecimalFracDigits))
			}
			if ip, _, _ := strings.Cut(strings.TrimPrefix(rounded.FloatString(DecimalFracDigits), "-"), "."); len(ip) > DecimalIntDigits {
				t.Fatalf("column decimal accepted %q: rounds to %s", s, rounded.FloatString(DecimalFracDigits))
			}
		}
		if Price(s) == nil && len(s) > TextDecimalWidth {
			t.Fatalf("price %q is wider than its column", s)
		}
		err := Decimal(s, DecimalIntDigits, DecimalFracDigits, allowZero, allowNeg)
		if err != nil {
			if !errors.Is(err, ErrInvalid) || len(err.Error()) > 400 {
				t.Fatalf("error %v", err)
			}
			return
		}
		if !plain.MatchString(s) {
			t.Fatalf("accepted %q", s)
		}
		f, perr := strconv.ParseFloat(s, 64)
		if perr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			t.Fatalf("accepted %q: %v", s, perr)
		}
		r, _ := new(big.Rat).SetString(s)
		if (r.Sign() == 0 && !allowZero) || (r.Sign() < 0 && !allowNeg) {
			t.Fatalf("accepted %q with sign %d", s, r.Sign())
		}
		norm := r.FloatString(DecimalFracDigits)
		back, _ := new(big.Rat).SetString(norm)
		if back.Cmp(r) != 0 {
			t.Fatalf("%q does not fit %d fraction digits", s, DecimalFracDigits)
		}
		if len(strings.TrimPrefix(norm, "-")) > DecimalIntDigits+1+DecimalFracDigits {
			t.Fatalf("%q is %q: wider than DECIMAL(36,18)", s, norm)
		}
	})
}

// FuzzText: what Text accepts fits a utf8mb4 VARCHAR(n).
func FuzzText(f *testing.F) {
	for _, s := range []string{"acct-0001", "\xff", "a\x00", "币安人生USDT", strings.Repeat("é", 33)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Text(s, 32) == nil && (!utf8Valid(s) || strings.ContainsRune(s, 0) || len([]rune(s)) > 32) {
			t.Fatalf("accepted %q", s)
		}
		if Symbol(s) == nil && (s == "" || Text(s, SymbolWidth) != nil || strings.ToUpper(s) != s || strings.ContainsAny(s, " -'\"\\;")) {
			t.Fatalf("symbol %q accepted", s)
		}
	})
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "") == s }

func TestToken(t *testing.T) {
	for _, s := range []string{"NEW", "PARTIALLY_FILLED", "GTX", "USDT", "1000SATS"} {
		if err := Token(s, 32); err != nil {
			t.Error(err)
		}
	}
	for _, s := range []string{"", "new", "NEW ", "FILLED\x00", strings.Repeat("A", 33), "\xff"} {
		if Token(s, 32) == nil {
			t.Errorf("Token(%q) accepted", s)
		}
	}
}

func TestName(t *testing.T) {
	if err := Name("acct-0001", 64); err != nil {
		t.Error(err)
	}
	for _, s := range []string{"", "acc\uFFFD", "acc\n", "acc\x7f", "acc\xff", strings.Repeat("a", 65)} {
		if Name(s, 64) == nil {
			t.Errorf("Name(%q) accepted", s)
		}
	}
}
