package db_test

import (
	"context"
	"testing"

	"github.com/kraite/stream/internal/db/dbtest"
)

// Migration 8 turns the v1 accounts table into the accounts domain's,
// keeping its rows (name is the label, active the enabled flag the intent
// validator reads), and is repaired by running again after a crash between
// its statements and the version record.
func TestMigration8KeepsTheV1AccountsRows(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			for _, s := range []string{
				"DROP TABLE accounts",
				"DROP TABLE account_audit",
				"CREATE TABLE accounts (id BIGINT NOT NULL PRIMARY KEY, exchange VARCHAR(32) NOT NULL, account VARCHAR(64) NOT NULL, " +
					"name VARCHAR(128) NOT NULL DEFAULT '', active BOOLEAN NOT NULL DEFAULT TRUE, created_at TIMESTAMP NULL)",
				"INSERT INTO accounts (id, exchange, account, name, active) VALUES (1, 'binance', 'old', 'desk', FALSE)",
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
			got := dbtest.Dump(t, d, "SELECT account, name, api_key, api_secret_enc, key_id, version, published_version FROM accounts")
			if len(got) != 1 || got[0][0] != "old" || got[0][1] != "desk" || got[0][2] != "" || got[0][4] != "" || got[0][5] != "1" || got[0][6] != "0" {
				t.Fatalf("the v1 row after the migration: %v", got)
			}
			if n := dbtest.Count(t, d, "FROM accounts WHERE active = ? AND removed = ?", false, false); n != 1 {
				t.Fatalf("the v1 row is not disabled and present: %d", n)
			}
			if n := dbtest.Count(t, d, "FROM account_audit"); n != 0 {
				t.Fatalf("%d audit rows", n)
			}
		})
	}
}
