// Package universe is the fixed symbol universe of Kraite stream: 568 Binance
// USD-M perpetuals with a realistic base price each, and how the same
// instruments are named on Bybit, KuCoin and Bitget.
//
// Everything here is deterministic and allocation-fresh: every call returns a
// new slice in the same order, so callers may modify what they get. The
// simulator uses [Instruments] for its markets, the symbol importer uses
// [Listings] and [Mappers] to fill exchange_symbols.
//
// # Naming divergences
//
// Binance names a token, the other venues sometimes name it differently and
// sometimes quote a different multiple of it:
//
//	Binance      Bybit             KuCoin       Bitget
//	BTC          BTC               XBT          BTC
//	1000SATS     10000SATS (x10)   10000SATS    1000SATS
//	1000SHIB     SHIB1000          SHIB         1000SHIB
//	1MBABYDOGE   1000000BABYDOGE   1MBABYDOGE   1MBABYDOGE
//
// A [Mapper] converts a Binance token to the venue's token and a Binance price
// to the venue's price; identity mappings are implicit.
package universe

import (
	"fmt"
	"hash/fnv"
	"math"
	"strconv"
)

// Venue is an exchange Kraite trades on.
type Venue string

// The four venues.
const (
	Binance Venue = "binance"
	Bybit   Venue = "bybit"
	KuCoin  Venue = "kucoin"
	Bitget  Venue = "bitget"
)

// Size is the number of Binance instruments in the universe.
const Size = 568

// Venues returns the four venues, Binance first.
func Venues() []Venue { return []Venue{Binance, Bybit, KuCoin, Bitget} }

// Instrument is one Binance USD-M perpetual and its base price.
type Instrument struct {
	Symbol    string  // Binance symbol, e.g. "1000SATSUSDT", "BTCUSDT"
	Token     string  // Binance base token as Binance names it, e.g. "1000SATS", "BTC"
	Quote     string  // "USDT" (a few "USDC")
	BasePrice float64 // a realistic price of the Binance contract (for 1000SATS: 1000 sats)
}

// Listing is one row of a venue's instrument list (what exchange_symbols stores).
type Listing struct {
	Venue  Venue
	Symbol string // the venue's own symbol: "XBTUSDTM" (KuCoin), "10000SATSUSDT" (Bybit), "BTCUSDT"
	Token  string // the venue's own base token: "XBT", "10000SATS", "SHIB1000", "BTC"
	Quote  string // "USDT"/"USDC"
}

// Mapper maps a Binance token to a venue's token. PriceFactor converts a
// Binance mark price into the venue's price:
// venuePrice = binancePrice * PriceFactor (1000SATS -> 10000SATS is 10;
// BTC -> XBT is 1; 1000SHIB -> SHIB1000 is 1).
type Mapper struct {
	Venue       Venue
	Token       string
	VenueToken  string
	PriceFactor float64
}

// Mappers returns the divergent mappings only, grouped by venue.
func Mappers() []Mapper {
	return []Mapper{
		{Bybit, "1000SATS", "10000SATS", 10},
		{Bybit, "1000SHIB", "SHIB1000", 1},
		{Bybit, "1000WEN", "10000WEN", 10},
		{Bybit, "1MBABYDOGE", "1000000BABYDOGE", 1},
		{Bybit, "1000CHEEMS", "1000000CHEEMS", 1000},
		{KuCoin, "BTC", "XBT", 1},
		{KuCoin, "1000SATS", "10000SATS", 10},
		{KuCoin, "1000SHIB", "SHIB", 0.001},
		{KuCoin, "1000PEPE", "PEPE", 0.001},
		{KuCoin, "1000BONK", "BONK", 0.001},
		{Bitget, "1000000MOG", "MOG", 0.000001},
	}
}

// Instruments returns the 568 Binance USD-M perpetuals in a stable order:
// BTCUSDT and ETHUSDT first, then well-known tokens, a few USDC contracts and
// deterministic synthetic names ("ZEN2USDT") that make up the count.
func Instruments() []Instrument {
	out := make([]Instrument, 0, Size)
	seen := make(map[string]bool, Size)
	add := func(token, quote string, price float64) {
		sym := token + quote
		if seen[sym] {
			panic("universe: duplicate symbol " + sym)
		}
		seen[sym] = true
		out = append(out, Instrument{Symbol: sym, Token: token, Quote: quote, BasePrice: price})
	}
	for _, t := range known {
		add(t.token, "USDT", t.price)
	}
	for _, t := range usdc {
		add(t, "USDC", priceOf(t))
	}
	for round := 2; len(out) < Size; round++ {
		for _, t := range known[10:] {
			if len(out) == Size {
				break
			}
			if !plain(t.token) {
				continue
			}
			name := t.token + strconv.Itoa(round)
			add(name, "USDT", syntheticPrice(name))
		}
	}
	return out
}

// Listings returns the instrument list of venue v. Binance lists all 568
// instruments; the other venues list most of them (a deterministic subset
// that always includes every divergent token and BTC/ETH), named their way.
func Listings(v Venue) []Listing {
	mapped := make(map[string]Mapper)
	for _, m := range Mappers() {
		if m.Venue == v {
			mapped[m.Token] = m
		}
	}
	var out []Listing
	for _, in := range Instruments() {
		m, divergent := mapped[in.Token]
		if v != Binance && !divergent && !listedOn(v, in) {
			continue
		}
		token := in.Token
		if divergent {
			token = m.VenueToken
		}
		out = append(out, Listing{Venue: v, Symbol: VenueSymbol(v, token, in.Quote), Token: token, Quote: in.Quote})
	}
	return out
}

// VenueSymbol builds venue v's symbol from its own token and quote: KuCoin
// appends "M" (XBTUSDTM), the others concatenate (BTCUSDT).
func VenueSymbol(v Venue, token, quote string) string {
	if v == KuCoin {
		return token + quote + "M"
	}
	return token + quote
}

// Map returns how venue v names Binance token and the price factor; tokens
// without a divergent [Mapper] map to themselves with factor 1.
func Map(v Venue, token string) Mapper {
	for _, m := range Mappers() {
		if m.Venue == v && m.Token == token {
			return m
		}
	}
	return Mapper{Venue: v, Token: token, VenueToken: token, PriceFactor: 1}
}

// listedOn decides deterministically whether a non-Binance venue lists in.
func listedOn(v Venue, in Instrument) bool {
	if in.Token == "BTC" || in.Token == "ETH" {
		return true
	}
	share := map[Venue]uint64{Bybit: 92, KuCoin: 81, Bitget: 88}[v]
	return hash(string(v)+"/"+in.Symbol)%100 < share
}

func hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// syntheticPrice spreads synthetic tokens log-uniformly over 0.002 .. 20 USDT,
// rounded to 4 significant digits.
func syntheticPrice(name string) float64 {
	u := float64(hash("price/"+name)%1_000_000) / 1_000_000
	p := math.Pow(10, -2.7+u*4)
	digits := 3 - int(math.Floor(math.Log10(p)))
	scale := math.Pow(10, float64(digits))
	return math.Round(p*scale) / scale
}

// plain reports whether token is ASCII letters only (no multiplier prefix,
// no digits, nothing non-ASCII), so a numeric suffix reads naturally.
func plain(token string) bool {
	for _, r := range token {
		if r < 'A' || r > 'Z' {
			return false
		}
	}
	return true
}

func priceOf(token string) float64 {
	for _, t := range known {
		if t.token == token {
			return t.price
		}
	}
	panic(fmt.Sprintf("universe: no price for %s", token))
}
