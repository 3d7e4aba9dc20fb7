package universe

import (
	"strings"
	"testing"
)

func TestInstrumentsAreTheRealisticBinanceUniverse(t *testing.T) {
	in := Instruments()
	if len(in) != Size {
		t.Fatalf("got %d instruments, want %d", len(in), Size)
	}
	if in[0].Symbol != "BTCUSDT" || in[1].Symbol != "ETHUSDT" {
		t.Fatalf("first instruments are %s, %s; want BTCUSDT, ETHUSDT", in[0].Symbol, in[1].Symbol)
	}
	bySymbol := make(map[string]Instrument)
	for _, i := range in {
		if _, dup := bySymbol[i.Symbol]; dup {
			t.Errorf("duplicate symbol %s", i.Symbol)
		}
		bySymbol[i.Symbol] = i
		if i.Symbol != i.Token+i.Quote {
			t.Errorf("%s is not token %s + quote %s", i.Symbol, i.Token, i.Quote)
		}
		if i.Quote != "USDT" && i.Quote != "USDC" {
			t.Errorf("%s: quote %q", i.Symbol, i.Quote)
		}
		if !(i.BasePrice > 0) {
			t.Errorf("%s: base price %v", i.Symbol, i.BasePrice)
		}
	}
	for _, s := range []string{"1000SATSUSDT", "1000SHIBUSDT", "1000PEPEUSDT", "1000BONKUSDT",
		"1000LUNCUSDT", "1000XECUSDT", "1MBABYDOGEUSDT", "1000000MOGUSDT", "币安人生USDT", "BTCUSDC"} {
		if _, ok := bySymbol[s]; !ok {
			t.Errorf("missing %s", s)
		}
	}
	// Stable: a second call gives the same list.
	again := Instruments()
	for i := range in {
		if in[i] != again[i] {
			t.Fatalf("instrument %d differs between calls: %+v vs %+v", i, in[i], again[i])
		}
	}
}

func TestListingsAreUniquePerVenueAndCoverMostOfBinance(t *testing.T) {
	for _, v := range Venues() {
		ls := Listings(v)
		seen := make(map[string]bool)
		for _, l := range ls {
			if l.Venue != v {
				t.Errorf("%s listing has venue %s", v, l.Venue)
			}
			if seen[l.Symbol] {
				t.Errorf("%s: duplicate symbol %s", v, l.Symbol)
			}
			seen[l.Symbol] = true
			if l.Symbol != VenueSymbol(v, l.Token, l.Quote) {
				t.Errorf("%s: symbol %s does not follow token %s quote %s", v, l.Symbol, l.Token, l.Quote)
			}
		}
		switch {
		case v == Binance && len(ls) != Size:
			t.Errorf("binance lists %d, want %d", len(ls), Size)
		case v != Binance && (len(ls) >= Size || len(ls) < Size*3/4):
			t.Errorf("%s lists %d of %d; want most but not all", v, len(ls), Size)
		}
	}
}

func TestNamedDivergences(t *testing.T) {
	want := map[Venue][]string{
		Bybit:  {"10000SATSUSDT", "SHIB1000USDT", "10000WENUSDT", "1000000BABYDOGEUSDT", "BTCUSDT"},
		KuCoin: {"XBTUSDTM", "XBTUSDCM", "ETHUSDTM", "SHIBUSDTM"},
		Bitget: {"BTCUSDT", "1000SATSUSDT", "MOGUSDT"},
	}
	for v, symbols := range want {
		have := make(map[string]bool)
		for _, l := range Listings(v) {
			have[l.Symbol] = true
		}
		for _, s := range symbols {
			if !have[s] {
				t.Errorf("%s does not list %s", v, s)
			}
		}
	}
	for _, c := range []struct {
		v      Venue
		token  string
		want   string
		factor float64
	}{
		{Bybit, "1000SATS", "10000SATS", 10},
		{Bybit, "1000SHIB", "SHIB1000", 1},
		{KuCoin, "BTC", "XBT", 1},
		{Bitget, "ETH", "ETH", 1},
	} {
		m := Map(c.v, c.token)
		if m.VenueToken != c.want || m.PriceFactor != c.factor {
			t.Errorf("Map(%s, %s) = %s x%v, want %s x%v", c.v, c.token, m.VenueToken, m.PriceFactor, c.want, c.factor)
		}
	}
}

// Every non-Binance listing is reachable from exactly one Binance instrument
// through Mappers or identity, and every mapper names a real Binance token.
func TestMappingRoundTrip(t *testing.T) {
	tokens := make(map[string]bool)
	for _, in := range Instruments() {
		tokens[in.Token] = true
	}
	for _, m := range Mappers() {
		if !tokens[m.Token] {
			t.Errorf("mapper %s %s: no such Binance token", m.Venue, m.Token)
		}
		if m.Venue == Binance || m.Token == m.VenueToken || !(m.PriceFactor > 0) {
			t.Errorf("mapper %+v is not a divergent mapping", m)
		}
	}
	for _, v := range Venues()[1:] {
		for _, l := range Listings(v) {
			var from []string
			for _, in := range Instruments() {
				m := Map(v, in.Token)
				if m.VenueToken == l.Token && in.Quote == l.Quote {
					from = append(from, in.Symbol)
				}
			}
			if len(from) != 1 {
				t.Errorf("%s %s is reachable from %d Binance instruments: %s", v, l.Symbol, len(from), strings.Join(from, ","))
			}
		}
	}
}
