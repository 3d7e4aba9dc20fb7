package db_test

import (
	"context"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

// Migration 6 upgrades a database at version 5, whose regime_history has
// neither gate nor degraded, and is repaired by running again after a
// crash between its statements and the version record.
func TestMigration6GivesRegimeHistoryGateAndDegraded(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			for _, s := range []string{
				"DROP TABLE regime_history",
				// the v1 shape (id as a plain key: the dialects spell auto-increment differently)
				"CREATE TABLE regime_history (id BIGINT NOT NULL PRIMARY KEY, scope VARCHAR(32) NOT NULL, from_band VARCHAR(16) NOT NULL, " +
					"to_band VARCHAR(16) NOT NULL, score DOUBLE PRECISION NOT NULL, at_ms BIGINT NOT NULL, cooldown_until_ms BIGINT NOT NULL DEFAULT 0, inputs TEXT NULL)",
				"DELETE FROM schema_migrations WHERE version = 6",
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
				if v6 := findApplied(applied, 6); v6.Version != 6 || v6.New != (round < 2) {
					t.Fatalf("round %d: version 6 %+v", round, v6)
				}
				if round == 0 { // a crash before the version record: run it again
					if _, err := d.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = 6"); err != nil {
						t.Fatal(err)
					}
				}
			}
			ins := d.Rebind("INSERT INTO regime_history (scope, from_band, to_band, score, at_ms, gate, degraded) VALUES (?, ?, ?, ?, ?, ?, ?)")
			if _, err := d.ExecContext(ctx, ins, "binance", "Calm", "Calm", 12.5, int64(1), "degraded", "BTCUSDT silent for 2m0s (limit 1m0s)"); err != nil {
				t.Fatal(err)
			}
			if _, err := d.ExecContext(ctx, ins, "binance", "Calm", "Calm", 12.5, int64(1), "open", nil); err == nil {
				t.Fatal("a second row with the same (scope, at_ms, to_band) was accepted")
			}
			got := dbtest.Dump(t, d, "SELECT gate, degraded, cooldown_until_ms FROM regime_history")
			if len(got) != 1 || got[0][0] != "degraded" || got[0][1] != "BTCUSDT silent for 2m0s (limit 1m0s)" || got[0][2] != "0" {
				t.Fatalf("rows %v", got)
			}
			if d.Dialect != db.SQLite {
				// MySQL and PostgreSQL enforce the width of degraded.
				long := make([]byte, 256)
				for i := range long {
					long[i] = 'x'
				}
				if _, err := d.ExecContext(ctx, ins, "binance", "Calm", "Elevated", 30.0, int64(2), "open", string(long)); err == nil {
					t.Fatal("a degraded of 256 characters was accepted")
				}
			}
		})
	}
}

// findApplied is version v of applied (zero when it is not there): later
// migrations follow it.
func findApplied(applied []db.Applied, v int) db.Applied {
	for _, a := range applied {
		if a.Version == v {
			return a
		}
	}
	return db.Applied{}
}
