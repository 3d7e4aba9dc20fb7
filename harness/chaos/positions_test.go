package chaos

import (
	"context"
	"testing"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/queues/positions"
)

func TestPositionsCheckComparesAmountsWithTheExchange(t *testing.T) {
	d := dbtest.SQLite(t)
	ctx := context.Background()
	if _, err := d.ExecContext(ctx, `INSERT INTO orders (exchange, account, order_id, symbol, side, position_side, cum_qty, status,
		event_time, transaction_time, status_rank) VALUES ('binance', 'a1', 1, 'BTCUSDT', 'BUY', 'BOTH', '1.000', 'FILLED', 1, 1, 3)`); err != nil {
		t.Fatal(err)
	}
	if err := (&positions.Book{DB: d}).Refold(ctx, "binance", "a1", "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	check := PositionsCheck("binance")
	snap := func(btc string) Snapshot {
		return Snapshot{Accounts: []string{"a1"}, Positions: map[string][]simulator.Position{
			"a1": {{Symbol: "BTCUSDT", Amount: btc}, {Symbol: "ETHUSDT", Amount: "0.000"}}}}
	}
	f, err := check.Run(ctx, d, snap("1.000"))
	if err != nil || f.Lost != 0 || f.Checked != 2 {
		t.Fatalf("equal positions: %+v %v", f, err)
	}
	if f, err = check.Run(ctx, d, snap("2.000")); err != nil || f.Lost != 1 || len(f.Details) != 1 {
		t.Fatalf("a different amount: %+v %v", f, err)
	}
	if f, err = check.Run(ctx, d, Snapshot{Accounts: []string{"a1"}}); err != nil || f.Checked != 0 {
		t.Fatalf("a source without positions: %+v %v", f, err)
	}
}
