package orders

import (
	"context"
	"database/sql"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/orderstatus"
)

// loadState reads the stored version of every key of a batch that spans
// many accounts and both tables, including keys never stored, on every
// database; on MariaDB it does so with one statement.
func TestLoadStateReadsABatchInOneQuery(t *testing.T) {
	tr := history(9, 40, 13) // 40 accounts, orders and algo orders
	ctx := context.Background()
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			half := tr.events[:len(tr.events)/2]
			if _, err := Write(ctx, d, half); err != nil {
				t.Fatal(err)
			}
			// What the first half left per key: the fold of its events.
			want := MakePlan(half, nil)
			stored := map[orderstatus.Key]State{}
			for _, e := range want.Rows {
				stored[orderstatus.KeyOf(e)] = State{Status: e.Status, Version: VersionOf(e)}
			}
			var got map[orderstatus.Key]State
			statements := 0
			err := d.InTx(ctx, func(tx *sql.Tx) error {
				before := executed(t, tx, d)
				itself := executed(t, tx, d) - before // the counting query
				before += itself
				var err error
				got, err = loadState(ctx, tx, d, tr.events) // half stored, half never seen
				statements = executed(t, tx, d) - before - itself
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(stored) {
				t.Fatalf("read %d stored keys, want %d", len(got), len(stored))
			}
			kinds := map[orderstatus.Kind]bool{}
			for k, s := range stored {
				if got[k] != s {
					t.Fatalf("%+v: read %+v, want %+v", k, got[k], s)
				}
				kinds[k.Kind] = true
			}
			if !kinds[orderstatus.KindOrder] || !kinds[orderstatus.KindAlgo] {
				t.Fatalf("the batch should span both tables: %v", kinds)
			}
			if d.Dialect == db.MySQL && statements != 1 {
				t.Errorf("the state read of %d keys of 40 accounts took %d statements, want 1", len(stored), statements)
			}
		})
	}
}

// executed is the number of SELECTs (prepared or not) the connection of tx ran (MySQL;
// 0 elsewhere), not counting this query itself.
func executed(t *testing.T, tx *sql.Tx, d *db.DB) int {
	t.Helper()
	if d.Dialect != db.MySQL {
		return 0
	}
	var n int
	err := tx.QueryRow("SELECT SUM(VARIABLE_VALUE) FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = 'COM_SELECT'").Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
