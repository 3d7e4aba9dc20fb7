package db

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"

	"github.com/kraite/stream/internal/universe"
)

// Symbol is one row of exchange_symbols (without its prices).
type Symbol struct {
	Exchange, Symbol, Token, Quote string
}

// TokenMapper is one row of token_mappers: on Exchange, Binance's Token is
// called ExchangeToken and its price is Binance's times PriceFactor.
type TokenMapper struct {
	Exchange, Token, ExchangeToken string
	PriceFactor                    float64
}

// chunkRows bounds multi-row statements (placeholders per statement stay far
// below every driver's limit).
const chunkRows = 500

// UpsertSymbols inserts or updates exchange_symbols by (exchange, symbol),
// keeping ids and prices of existing rows. Idempotent.
func (d *DB) UpsertSymbols(ctx context.Context, syms []Symbol) error {
	cols := []string{"exchange", "symbol", "token", "quote"}
	return d.InTx(ctx, func(ex *sql.Tx) error {
		for start := 0; start < len(syms); start += chunkRows {
			part := syms[start:min(start+chunkRows, len(syms))]
			args := make([]any, 0, len(part)*len(cols))
			for _, s := range part {
				args = append(args, s.Exchange, s.Symbol, s.Token, s.Quote)
			}
			q := d.UpsertSQL("exchange_symbols", cols, len(part), []string{"exchange", "symbol"}, []string{"token", "quote"})
			if _, err := ex.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("upserting exchange_symbols: %w", err)
			}
		}
		return nil
	})
}

// UpsertTokenMappers inserts or updates token_mappers by (exchange, token).
func (d *DB) UpsertTokenMappers(ctx context.Context, ms []TokenMapper) error {
	if len(ms) == 0 {
		return nil
	}
	cols := []string{"exchange", "token", "exchange_token", "price_factor"}
	args := make([]any, 0, len(ms)*len(cols))
	for _, m := range ms {
		args = append(args, m.Exchange, m.Token, m.ExchangeToken, strconv.FormatFloat(m.PriceFactor, 'f', -1, 64))
	}
	q := d.UpsertSQL("token_mappers", cols, len(ms), []string{"exchange", "token"}, []string{"exchange_token", "price_factor"})
	// PostgreSQL infers NUMERIC for price_factor from the column; a string
	// decimal binds exactly on all three.
	if _, err := d.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("upserting token_mappers: %w", err)
	}
	return nil
}

// SeedCounts says what SeedUniverse wrote.
type SeedCounts struct {
	Symbols map[string]int // per exchange
	Mappers int
}

// SeedUniverse imports the four venues' listings and the divergent token
// mappings of the simulator's universe. Idempotent.
func (d *DB) SeedUniverse(ctx context.Context) (SeedCounts, error) {
	counts := SeedCounts{Symbols: map[string]int{}}
	var syms []Symbol
	for _, v := range universe.Venues() {
		for _, l := range universe.Listings(v) {
			syms = append(syms, Symbol{Exchange: string(l.Venue), Symbol: l.Symbol, Token: l.Token, Quote: l.Quote})
			counts.Symbols[string(v)]++
		}
	}
	if err := d.UpsertSymbols(ctx, syms); err != nil {
		return counts, err
	}
	var ms []TokenMapper
	for _, m := range universe.Mappers() {
		ms = append(ms, TokenMapper{Exchange: string(m.Venue), Token: m.Token, ExchangeToken: m.VenueToken, PriceFactor: m.PriceFactor})
	}
	if err := d.UpsertTokenMappers(ctx, ms); err != nil {
		return counts, err
	}
	counts.Mappers = len(ms)
	return counts, nil
}
