package db

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Placeholders returns "(?, ?, ?), (?, ?, ?)" for rows x cols, with '?'
// placeholders (Rebind the whole statement afterwards).
func Placeholders(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	var b strings.Builder
	b.Grow(rows * (len(one) + 2))
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(one)
	}
	return b.String()
}

// UpsertSQL builds a multi-row INSERT of rows rows that, on a conflict on
// the unique key conflict, overwrites the update columns (or does nothing
// when update is empty). The statement uses '?' placeholders already rebound
// for the dialect.
func (d *DB) UpsertSQL(table string, cols []string, rows int, conflict, update []string) string {
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	b.WriteString(Placeholders(rows, len(cols)))
	switch d.Dialect {
	case MySQL:
		if len(update) == 0 {
			// A self-assignment is MySQL's portable "do nothing" on conflict
			// (INSERT IGNORE would also swallow unrelated errors).
			update = conflict[:1]
			b.WriteString(" ON DUPLICATE KEY UPDATE " + update[0] + " = " + update[0])
			break
		}
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = VALUES(" + c + ")")
		}
	default:
		b.WriteString(" ON CONFLICT (" + strings.Join(conflict, ", ") + ")")
		if len(update) == 0 {
			b.WriteString(" DO NOTHING")
			break
		}
		b.WriteString(" DO UPDATE SET ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = excluded." + c)
		}
	}
	return d.Rebind(b.String())
}

// InsertChunk and InsertPadStep are the statement sizes of UpsertChunked:
// at most InsertChunk rows per statement, the last statement padded to a
// multiple of InsertPadStep, a shorter one to a power of two (on the
// dialects whose statements are cached), so a table has at most
// InsertChunk/InsertPadStep+3 statement shapes.
const (
	InsertChunk   = 512
	InsertPadStep = 8
)

// UpsertChunked inserts rows into table inside tx, leaving a row whose
// conflict key is already stored as it is, in statements of at most
// InsertChunk rows run through the statement cache (ExecIn), so a batch
// pays one round trip per statement instead of a prepare, an execute and a
// close. The last statement repeats its last row up to a multiple of
// InsertPadStep, or a shorter one up to a power of two (SmallBatches: the
// audit sink's batches are mostly a few frames, and every padding row is
// sent and inserted again), where a repeated row conflicts with itself and
// changes nothing; not on SQLite, which prepares nothing. args returns a row's values in
// the order of cols.
func UpsertChunked[T any](ctx context.Context, d *DB, tx *sql.Tx, table string, cols, conflict []string, rows []T, args func(T) []any) error {
	var parts [][]T
	if d.Dialect == SQLite {
		parts = Batches(rows, InsertChunk, InsertPadStep, false)
	} else {
		parts = SmallBatches(rows, InsertChunk, InsertPadStep)
	}
	for _, part := range parts {
		vals := make([]any, 0, len(part)*len(cols))
		for _, r := range part {
			vals = append(vals, args(r)...)
		}
		if _, err := d.ExecIn(ctx, tx, d.UpsertSQL(table, cols, len(part), conflict, nil), vals...); err != nil {
			return fmt.Errorf("inserting %d %s rows: %w", len(part), table, err)
		}
	}
	return nil
}
