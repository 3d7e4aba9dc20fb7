package markprice

import (
	"context"
	"fmt"
	"sort"
	"strconv"

	"github.com/kraite/stream/internal/db"
)

// Target is one exchange_symbols row a Binance symbol's price goes to.
type Target struct {
	ID       int64
	Exchange string
	Factor   float64
}

// Index maps a Binance symbol to every row of every venue with the same
// (token, quote), after token_mappers renames, with the price factor.
type Index struct {
	targets map[string][]Target
	venue   map[int64]string // row id -> exchange, every row
}

// Targets returns the rows of a Binance symbol (nil when unknown).
func (ix *Index) Targets(symbol string) []Target { return ix.targets[symbol] }

// Rows is the number of exchange_symbols rows per exchange.
func (ix *Index) Rows() map[string]int {
	out := map[string]int{}
	for _, ex := range ix.venue {
		out[ex]++
	}
	return out
}

type symbolRow struct {
	id                             int64
	exchange, symbol, token, quote string
}

// LoadIndex reads exchange_symbols and token_mappers.
func LoadIndex(ctx context.Context, d *db.DB) (*Index, error) {
	rows, err := d.QueryContext(ctx, "SELECT id, exchange, symbol, token, quote FROM exchange_symbols ORDER BY id")
	if err != nil {
		return nil, fmt.Errorf("loading exchange_symbols: %w", err)
	}
	var syms []symbolRow
	for rows.Next() {
		var r symbolRow
		if err := rows.Scan(&r.id, &r.exchange, &r.symbol, &r.token, &r.quote); err != nil {
			rows.Close()
			return nil, fmt.Errorf("loading exchange_symbols: %w", err)
		}
		syms = append(syms, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("loading exchange_symbols: %w", err)
	}
	mappers, err := loadMappers(ctx, d)
	if err != nil {
		return nil, err
	}
	return buildIndex(syms, mappers), nil
}

type mapKey struct{ exchange, token string }

type mapping struct {
	venueToken string
	factor     float64
}

func loadMappers(ctx context.Context, d *db.DB) (map[mapKey]mapping, error) {
	rows, err := d.QueryContext(ctx, "SELECT exchange, token, exchange_token, price_factor FROM token_mappers")
	if err != nil {
		return nil, fmt.Errorf("loading token_mappers: %w", err)
	}
	defer rows.Close()
	out := map[mapKey]mapping{}
	for rows.Next() {
		var ex, tok, vt, factor string
		if err := rows.Scan(&ex, &tok, &vt, &factor); err != nil {
			return nil, fmt.Errorf("loading token_mappers: %w", err)
		}
		f, err := strconv.ParseFloat(factor, 64)
		if err != nil || f <= 0 {
			return nil, fmt.Errorf("loading token_mappers: %s %s has price factor %q", ex, tok, factor)
		}
		out[mapKey{ex, tok}] = mapping{vt, f}
	}
	return out, rows.Err()
}

func buildIndex(syms []symbolRow, mappers map[mapKey]mapping) *Index {
	type tq struct{ exchange, token, quote string }
	byTQ := map[tq][]int64{}
	ix := &Index{targets: map[string][]Target{}, venue: map[int64]string{}}
	for _, s := range syms {
		byTQ[tq{s.exchange, s.token, s.quote}] = append(byTQ[tq{s.exchange, s.token, s.quote}], s.id)
		ix.venue[s.id] = s.exchange
	}
	exchanges := map[string]bool{}
	for _, s := range syms {
		exchanges[s.exchange] = true
	}
	for _, b := range syms {
		if b.exchange != "binance" {
			continue
		}
		var ts []Target
		for ex := range exchanges {
			token, factor := b.token, 1.0
			if m, ok := mappers[mapKey{ex, b.token}]; ok && ex != "binance" {
				token, factor = m.venueToken, m.factor
			}
			for _, id := range byTQ[tq{ex, token, b.quote}] {
				ts = append(ts, Target{ID: id, Exchange: ex, Factor: factor})
			}
		}
		sort.Slice(ts, func(i, j int) bool { return ts[i].ID < ts[j].ID })
		ix.targets[b.symbol] = ts
	}
	return ix
}
