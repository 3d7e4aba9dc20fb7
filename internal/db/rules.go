package db

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// SymbolRule is one row of symbol_rules: a symbol's order filters as the
// exchange's exchangeInfo states them (decimal text; "" for a filter the
// exchange did not send). The writer does not judge them; the reader
// (internal/intents) parses them exactly and refuses a symbol whose filters
// it cannot use.
type SymbolRule struct {
	Exchange, Symbol, Status                   string
	StepSize, MinQty, MaxQty                   string
	MarketStepSize, MarketMinQty, MarketMaxQty string
	MinNotional                                string
	UpdatedAt                                  time.Time
}

var ruleCols = []string{"exchange", "symbol", "status", "step_size", "min_qty", "max_qty",
	"market_step_size", "market_min_qty", "market_max_qty", "min_notional", "updated_at"}

// UpsertSymbolRules inserts or replaces symbol_rules by (exchange, symbol),
// in one transaction. Every value is a bound parameter. A symbol the
// exchange no longer lists keeps its last row: call MarkUnlisted to say so.
func (d *DB) UpsertSymbolRules(ctx context.Context, rules []SymbolRule) error {
	return d.InTx(ctx, func(tx *sql.Tx) error {
		for start := 0; start < len(rules); start += chunkRows {
			part := rules[start:min(start+chunkRows, len(rules))]
			args := make([]any, 0, len(part)*len(ruleCols))
			for _, r := range part {
				at := r.UpdatedAt
				if at.IsZero() {
					at = time.Now()
				}
				args = append(args, r.Exchange, r.Symbol, r.Status, r.StepSize, r.MinQty, r.MaxQty,
					r.MarketStepSize, r.MarketMinQty, r.MarketMaxQty, r.MinNotional, at.UTC().Truncate(time.Millisecond))
			}
			q := d.UpsertSQL("symbol_rules", ruleCols, len(part), []string{"exchange", "symbol"}, ruleCols[2:])
			if _, err := tx.ExecContext(ctx, q, args...); err != nil {
				return fmt.Errorf("upserting symbol_rules: %w", err)
			}
		}
		return nil
	})
}

// StatusUnlisted is the status MarkUnlisted gives a symbol that the
// exchange's listing no longer contains.
const StatusUnlisted = "UNLISTED"

// MarkUnlisted sets the status of exchange's symbols whose rules were
// updated before since (not in the listing read at since) to UNLISTED, so
// the validator refuses them as not trading instead of trusting old
// filters. It returns how many rows it changed.
func (d *DB) MarkUnlisted(ctx context.Context, exchange string, since time.Time) (int64, error) {
	q := d.Rebind("UPDATE symbol_rules SET status = ? WHERE exchange = ? AND updated_at < ? AND status <> ?")
	res, err := d.ExecContext(ctx, q, StatusUnlisted, exchange, since.UTC().Truncate(time.Millisecond), StatusUnlisted)
	if err != nil {
		return 0, fmt.Errorf("marking unlisted symbol_rules: %w", err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// SymbolRules reads every row of symbol_rules.
func (d *DB) SymbolRules(ctx context.Context) ([]SymbolRule, error) {
	rows, err := d.QueryContext(ctx, "SELECT exchange, symbol, status, step_size, min_qty, max_qty, "+
		"market_step_size, market_min_qty, market_max_qty, min_notional, updated_at FROM symbol_rules")
	if err != nil {
		return nil, fmt.Errorf("reading symbol_rules: %w", err)
	}
	defer rows.Close()
	var out []SymbolRule
	for rows.Next() {
		var r SymbolRule
		var at NullTime
		if err := rows.Scan(&r.Exchange, &r.Symbol, &r.Status, &r.StepSize, &r.MinQty, &r.MaxQty,
			&r.MarketStepSize, &r.MarketMinQty, &r.MarketMaxQty, &r.MinNotional, &at); err != nil {
			return nil, fmt.Errorf("reading symbol_rules: %w", err)
		}
		r.UpdatedAt = at.Time
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading symbol_rules: %w", err)
	}
	return out, nil
}
