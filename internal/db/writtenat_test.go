package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

func writtenAt(t *testing.T, d *db.DB, table string, id int64) time.Time {
	t.Helper()
	var at db.NullTime
	if err := d.QueryRowContext(context.Background(), d.Rebind("SELECT written_at FROM "+table+" WHERE id = ?"), id).Scan(&at); err != nil {
		t.Fatal(err)
	}
	if !at.Valid {
		t.Fatalf("%s row %d has no written_at", table, id)
	}
	return at.Time
}

// Migration 7: every table the sinks write gets written_at, set by the
// database on insert and moved by an update (MySQL by itself, PostgreSQL
// and SQLite by WrittenAtSQL), in UTC; api_data_stream gets
// transaction_time (default 0). A re-run after a crash between its
// statements (version record missing, columns present) succeeds.
func TestWrittenAtIsSetOnInsertAndMovesOnUpdate(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			exec := func(q string, args ...any) {
				t.Helper()
				if _, err := d.ExecContext(ctx, d.Rebind(q), args...); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			before := time.Now().UTC().Add(-2 * time.Second) // the servers' clocks round to ms
			exec("INSERT INTO api_data_stream (exchange, account, event_type, payload, source_topic, source_partition, source_offset) VALUES ('binance', 'a', 'X', '{}', 't', 0, 1)")
			exec("INSERT INTO orders (exchange, account, order_id, symbol, status, event_time, transaction_time, status_rank) VALUES ('binance', 'a', 1, 'BTCUSDT', 'NEW', 1, 1, 1)")
			for _, tbl := range db.WrittenAtTables {
				if tbl == "api_data_stream" || tbl == "orders" {
					continue
				}
				if n := dbtest.Count(t, d, "FROM "+tbl+" WHERE written_at IS NOT NULL"); n != 0 {
					t.Fatalf("%s: %d rows", tbl, n)
				}
			}
			if n := dbtest.Count(t, d, "FROM api_data_stream WHERE transaction_time = 0"); n != 1 {
				t.Fatalf("transaction_time default: %d rows with 0, want 1", n)
			}
			first := writtenAt(t, d, "orders", 1)
			audit := writtenAt(t, d, "api_data_stream", 1)
			for _, at := range []time.Time{first, audit} {
				if at.Before(before) || at.After(time.Now().Add(2*time.Second)) {
					t.Fatalf("written_at %s is not now (%s): not UTC?", at, time.Now().UTC())
				}
			}
			time.Sleep(30 * time.Millisecond)
			exec("UPDATE orders SET status = 'FILLED'" + d.WrittenAtSQL() + " WHERE id = 1")
			if second := writtenAt(t, d, "orders", 1); !second.After(first) {
				t.Fatalf("written_at after the update %s, before %s: did not move", second, first)
			}

			exec("DELETE FROM schema_migrations WHERE version = 7")
			applied, err := d.Migrate(ctx)
			if err != nil {
				t.Fatalf("re-running migration 7: %v", err)
			}
			if v7 := findApplied(applied, 7); v7.Version != 7 || !v7.New {
				t.Fatalf("version 7 %+v, want it applied again", v7)
			}
		})
	}
}
