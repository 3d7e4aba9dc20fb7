package db

import (
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
