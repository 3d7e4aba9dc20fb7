package orders

import (
	"context"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/topics"
)

// The database stamps written_at when the guarded upsert moves a row, and
// leaves it when the guard refuses a stale event (on every dialect).
func TestWrittenAtMovesWhenTheRowMovesAndOnlyThen(t *testing.T) {
	ev := func(status string, E int64) *topics.OrderEvent {
		return &topics.OrderEvent{Exchange: "binance", Account: "a", Event: "ORDER_TRADE_UPDATE", OrderID: 7, Symbol: "BTCUSDT",
			Side: "BUY", Status: status, ExecutionType: "TRADE", EventTime: E, TransactionTime: E, Source: "stream"}
	}
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			at := func() time.Time {
				t.Helper()
				var w db.NullTime
				if err := d.QueryRowContext(ctx, "SELECT written_at FROM orders").Scan(&w); err != nil || !w.Valid {
					t.Fatalf("written_at: %v (valid %v)", err, w.Valid)
				}
				return w.Time
			}
			write := func(e *topics.OrderEvent) {
				t.Helper()
				if _, err := Write(ctx, d, []*topics.OrderEvent{e}); err != nil {
					t.Fatal(err)
				}
			}
			write(ev("NEW", 1000))
			first := at()
			time.Sleep(30 * time.Millisecond)
			write(ev("PARTIALLY_FILLED", 2000))
			second := at()
			if !second.After(first) {
				t.Fatalf("written_at %s after the update, %s before", second, first)
			}
			time.Sleep(30 * time.Millisecond)
			write(ev("NEW", 1500)) // stale: refused by the guard
			if third := at(); !third.Equal(second) {
				t.Fatalf("a refused stale event moved written_at from %s to %s", second, third)
			}
		})
	}
}
