package db_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

type band struct {
	at int64
	to string
}

// UpsertChunked writes every row once whatever the batch size (padding
// repeats rows, a conflict keeps the stored row), on every database; on
// MariaDB its statements come from the cache: one prepare per shape and
// connection, then executions only (a short statement is padded to a power
// of two: 3 rows to 4, 5 to 8).
func TestUpsertChunked(t *testing.T) {
	cols := []string{"scope", "from_band", "to_band", "score", "at_ms"}
	conflict := []string{"scope", "at_ms", "to_band"}
	args := func(b band) []any { return []any{"binance", "Calm", b.to, 1.5, b.at} }
	rows := func(from, n int) []band {
		out := make([]band, n)
		for i := range out {
			out[i] = band{int64(from + i), "Calm"}
		}
		return out
	}
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			var prepares, executes int
			err := d.InTx(ctx, func(tx *sql.Tx) error {
				p0, e0 := stmtCounts(t, tx, d)
				for _, part := range [][]band{rows(0, 3), rows(3, 5), rows(8, 3), rows(0, 8)} { // 4-, 8-, 4- and 8-row statements; the last one all stored
					if err := db.UpsertChunked(ctx, d, tx, "regime_history", cols, conflict, part, args); err != nil {
						return err
					}
				}
				p1, e1 := stmtCounts(t, tx, d)
				prepares, executes = p1-p0, e1-e0
				// Past one chunk: full chunks, then a padded rest.
				return db.UpsertChunked(ctx, d, tx, "regime_history", cols, conflict, rows(100, db.InsertChunk+5), args)
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := dbtest.Count(t, d, "FROM regime_history"); n != 11+db.InsertChunk+5 {
				t.Fatalf("%d rows, want %d", n, 11+db.InsertChunk+5)
			}
			if d.Dialect == db.MySQL && (prepares > 2 || executes != 4) {
				t.Errorf("four statements of two shapes took %d prepares and %d executions on the connection, want at most 2 and 4", prepares, executes)
			}
		})
	}
}

// stmtCounts is the connection's prepared-statement prepares and
// executions so far (MySQL; 0 elsewhere).
func stmtCounts(t *testing.T, tx *sql.Tx, d *db.DB) (prepares, executes int) {
	t.Helper()
	if d.Dialect != db.MySQL {
		return 0, 0
	}
	rows, err := tx.Query("SELECT VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME IN ('COM_STMT_PREPARE', 'COM_STMT_EXECUTE')")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		var v int
		if err := rows.Scan(&name, &v); err != nil {
			t.Fatal(err)
		}
		if name == "COM_STMT_PREPARE" {
			prepares = v
		} else {
			executes = v
		}
	}
	return prepares, executes
}

// A pool of its own is bounded by its budget and does not wait for the
// connections of another pool on the same database: a sink whose every
// connection is busy (a slow mark-price tick) cannot delay another sink.
func TestOpenPoolHasItsOwnBudget(t *testing.T) {
	for _, f := range []dbtest.Factory{{Name: "mysql", New: dbtest.MySQL}, {Name: "postgres", New: dbtest.Postgres}} {
		t.Run(f.Name, func(t *testing.T) {
			shared := f.New(t)
			ctx := context.Background()
			slow, err := db.OpenPool(ctx, dbtest.URL(shared), 2)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			fast, err := db.OpenPool(ctx, dbtest.URL(shared), 2)
			if err != nil {
				t.Fatal(err)
			}
			defer fast.Close()
			if got := slow.Stats().MaxOpenConnections; got != 2 {
				t.Fatalf("budget %d, want 2", got)
			}
			for range 2 { // every connection of the slow pool busy
				tx, err := slow.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback() //nolint:errcheck
			}
			err = fast.InTx(ctx, func(tx *sql.Tx) error {
				return db.UpsertChunked(ctx, fast, tx, "regime_history", []string{"scope", "from_band", "to_band", "score", "at_ms"},
					[]string{"scope", "at_ms", "to_band"}, []band{{1, "Calm"}}, func(b band) []any { return []any{"binance", "Calm", b.to, 1.0, b.at} })
			})
			if err != nil {
				t.Fatal(err)
			}
			if w := fast.Stats().WaitCount; w != 0 {
				t.Errorf("the other pool waited %d times for a connection", w)
			}
			if _, err := db.OpenPool(ctx, dbtest.URL(shared), 0); err == nil {
				t.Error("a pool of 0 connections was opened")
			}
		})
	}
}
