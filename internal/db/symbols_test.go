package db_test

import (
	"context"
	"testing"

	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/universe"
)

func TestSeedUniverseIsIdempotentAndKeepsTheNamingDivergences(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			first, err := d.SeedUniverse(ctx)
			if err != nil {
				t.Fatal(err)
			}
			before := dbtest.Dump(t, d, "SELECT id, exchange, symbol, token, quote FROM exchange_symbols ORDER BY id")
			if _, err := d.SeedUniverse(ctx); err != nil {
				t.Fatalf("second seed: %v", err)
			}
			after := dbtest.Dump(t, d, "SELECT id, exchange, symbol, token, quote FROM exchange_symbols ORDER BY id")
			if len(before) != len(after) {
				t.Fatalf("second seed changed the row count: %d -> %d", len(before), len(after))
			}
			for i := range before {
				for j := range before[i] {
					if before[i][j] != after[i][j] {
						t.Fatalf("row %d changed: %v -> %v", i, before[i], after[i])
					}
				}
			}
			total := 0
			for _, v := range universe.Venues() {
				want := len(universe.Listings(v))
				if got := dbtest.Count(t, d, "FROM exchange_symbols WHERE exchange = ?", string(v)); got != want || first.Symbols[string(v)] != want {
					t.Errorf("%s: %d rows, reported %d, want %d", v, got, first.Symbols[string(v)], want)
				}
				total += want
			}
			if len(after) != total {
				t.Errorf("%d rows, want %d", len(after), total)
			}
			if n := dbtest.Count(t, d, "FROM exchange_symbols WHERE exchange = 'binance'"); n != universe.Size {
				t.Errorf("binance has %d symbols, want %d", n, universe.Size)
			}
			if n := dbtest.Count(t, d, "FROM exchange_symbols WHERE exchange = 'kucoin' AND token = 'XBT' AND symbol = 'XBTUSDTM'"); n != 1 {
				t.Errorf("kucoin XBTUSDTM rows = %d, want 1", n)
			}
			if n := dbtest.Count(t, d, "FROM token_mappers WHERE exchange = 'bybit' AND token = '1000SATS' AND exchange_token = '10000SATS' AND price_factor = 10"); n != 1 {
				t.Errorf("bybit 1000SATS mapper rows = %d, want 1", n)
			}
			if n := dbtest.Count(t, d, "FROM token_mappers"); n != len(universe.Mappers()) {
				t.Errorf("token_mappers has %d rows, want %d", n, len(universe.Mappers()))
			}
		})
	}
}
