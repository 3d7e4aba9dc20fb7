package markprice

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kraite/stream/internal/db"
)

// Update is one row's new mark price.
type Update struct {
	ID    int64
	Price string // decimal string
}

// ChunkRows is the number of rows per UPDATE statement.
const ChunkRows = 500

// WriteTick writes updates in one transaction as chunked
// UPDATE exchange_symbols SET mark_price = CASE id WHEN ? THEN ? ... END,
// mark_price_synced_at = ? WHERE id IN (...) statements, in ascending id order
// so that concurrent writers lock rows in the same order and cannot deadlock.
// updates is sorted in place.
func WriteTick(ctx context.Context, d *db.DB, updates []Update, at time.Time) error {
	slices.SortFunc(updates, func(a, b Update) int { return cmpInt64(a.ID, b.ID) })
	at = at.UTC()
	return d.InTx(ctx, func(tx *sql.Tx) error {
		var stmt *sql.Stmt // the full-size statement, prepared once per tick
		defer func() {
			if stmt != nil {
				stmt.Close()
			}
		}()
		for start := 0; start < len(updates); start += ChunkRows {
			part := updates[start:min(start+ChunkRows, len(updates))]
			args := make([]any, 0, 3*len(part)+1)
			for _, u := range part {
				args = append(args, u.ID, u.Price)
			}
			args = append(args, at)
			for _, u := range part {
				args = append(args, u.ID)
			}
			q := caseUpdateSQL(d, len(part))
			var err error
			if len(part) == ChunkRows {
				if stmt == nil {
					if stmt, err = tx.PrepareContext(ctx, q); err != nil {
						return fmt.Errorf("preparing mark-price update: %w", err)
					}
				}
				_, err = stmt.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, q, args...)
			}
			if err != nil {
				return fmt.Errorf("updating %d mark prices: %w", len(part), err)
			}
		}
		return nil
	})
}

func caseUpdateSQL(d *db.DB, n int) string {
	var b strings.Builder
	b.Grow(40*n + 200)
	b.WriteString("UPDATE exchange_symbols SET mark_price = CASE id")
	when := " WHEN ? THEN " + d.Decimal()
	for range n {
		b.WriteString(when)
	}
	b.WriteString(" END, mark_price_synced_at = ? WHERE id IN (")
	b.WriteString(strings.TrimSuffix(strings.Repeat("?, ", n), ", "))
	b.WriteString(")")
	return d.Rebind(b.String())
}

// WriteRowByRow is the baseline WriteTick is measured against: one UPDATE
// per row, in one transaction.
func WriteRowByRow(ctx context.Context, d *db.DB, updates []Update, at time.Time) error {
	q := d.Rebind("UPDATE exchange_symbols SET mark_price = " + d.Decimal() + ", mark_price_synced_at = ? WHERE id = ?")
	return d.InTx(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, q)
		if err != nil {
			return fmt.Errorf("preparing mark-price update: %w", err)
		}
		defer stmt.Close()
		for _, u := range updates {
			if _, err := stmt.ExecContext(ctx, u.Price, at.UTC(), u.ID); err != nil {
				return fmt.Errorf("updating mark price of row %d: %w", u.ID, err)
			}
		}
		return nil
	})
}

func cmpInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Updates turns a tick into row updates through the index. Prices that
// cannot be scaled are skipped and counted in the second result.
func Updates(ix *Index, prices map[string]Price) ([]Update, int) {
	out := make([]Update, 0, len(prices)*4)
	bad := 0
	for _, p := range prices {
		for _, t := range ix.Targets(p.Symbol) {
			v, err := Scale(p.Price, t.Factor)
			if err != nil {
				bad++
				continue
			}
			out = append(out, Update{ID: t.ID, Price: v})
		}
	}
	return out, bad
}
