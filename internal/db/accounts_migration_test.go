package db_test

import (
	"context"
	"testing"

	"github.com/kraite/stream/internal/db/dbtest"
)

// Migration 8 replaces the v1 accounts table (which nothing used) with the
// accounts domain's, and is repaired by running again after a crash
// between its statements and the version record.
func TestMigration8GivesAccountsAsData(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			for _, s := range []string{
				"DROP TABLE accounts",
				"DROP TABLE account_audit",
				"CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, exchange VARCHAR(32) NOT NULL, account VARCHAR(64) NOT NULL, " +
					"name VARCHAR(128) NOT NULL DEFAULT '', active BOOLEAN NOT NULL DEFAULT TRUE, created_at TIMESTAMP NULL)",
				"INSERT INTO accounts (id, exchange, account) VALUES (1, 'binance', 'old')",
				"DELETE FROM schema_migrations WHERE version = 8",
			} {
				if _, err := d.ExecContext(ctx, s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			for round := range 3 {
				applied, err := d.Migrate(ctx)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if v8 := findApplied(applied, 8); v8.Version != 8 || v8.New != (round < 2) {
					t.Fatalf("round %d: version 8 %+v", round, v8)
				}
				if round == 0 {
					if _, err := d.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 8"); err != nil {
						t.Fatal(err)
					}
				}
			}
			ins := d.Rebind("INSERT INTO accounts (account, exchange, label, enabled, api_key, api_secret_enc, key_id, version, removed, created_at, updated_at) " +
				"VALUES (?, 'binance', '', ?, 'k', 'v1:x', 'k1-x', 1, ?, '2026-01-01 00:00:00', '2026-01-01 00:00:00')")
			if _, err := d.ExecContext(ctx, ins, "a1", true, false); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ExecContext(ctx, ins, "a1", true, false); err == nil {
				t.Fatal("a second row for account a1 was accepted")
			}
			if n := dbtest.Count(t, d, "FROM accounts"); n != 1 {
				t.Fatalf("%d accounts", n)
			}
			if n := dbtest.Count(t, d, "FROM account_audit"); n != 0 {
				t.Fatalf("%d audit rows", n)
			}
		})
	}
}
