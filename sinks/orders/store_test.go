package orders

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/topics"
)

func TestVersionNewer(t *testing.T) {
	tests := []struct {
		name string
		a, b Version
		want bool
	}{
		{"a later event time wins", Version{2, 0, 1}, Version{1, 9, 3}, true},
		{"an earlier event time loses whatever its status", Version{1, 9, 3}, Version{2, 0, 1}, false},
		{"at equal event time the later transaction time wins", Version{1, 2, 1}, Version{1, 1, 3}, true},
		{"at equal times the higher status rank wins", Version{1, 1, 3}, Version{1, 1, 2}, true},
		{"an identical version is not newer", Version{1, 1, 2}, Version{1, 1, 2}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.a.Newer(tt.b); got != tt.want {
				t.Fatalf("%v.Newer(%v) = %v", tt.a, tt.b, got)
			}
		})
	}
}

func TestMakePlanFoldsABatchOverTheStoredState(t *testing.T) {
	e := func(status string, E int64, trade int64) *topics.OrderEvent {
		return &topics.OrderEvent{Exchange: "binance", Account: "a", Event: "ORDER_TRADE_UPDATE", OrderID: 7, Symbol: "X",
			Status: status, ExecutionType: "TRADE", EventTime: E, TransactionTime: E, TradeID: trade}
	}
	stored := map[orderstatus.Key]State{{Kind: orderstatus.KindOrder, Exchange: "binance", Account: "a", ID: 7}: {Status: "NEW", Version: Version{10, 10, 1}}}
	plan := MakePlan([]*topics.OrderEvent{e("FILLED", 12, 2), e("PARTIALLY_FILLED", 11, 1), e("NEW", 9, 0), e("FILLED", 12, 2)}, stored)
	if len(plan.Rows) != 1 || plan.Rows[0].Status != "FILLED" {
		t.Fatalf("rows = %+v", plan.Rows)
	}
	if len(plan.Fills) != 2 {
		t.Fatalf("fills = %d, want 2 (trade 2 once)", len(plan.Fills))
	}
	got := []string{}
	for _, tr := range plan.Transitions {
		got = append(got, tr.From+">"+tr.To)
	}
	if len(got) != 2 || got[0] != "NEW>PARTIALLY_FILLED" || got[1] != "PARTIALLY_FILLED>FILLED" {
		t.Fatalf("transitions = %v", got)
	}
}

// TestShuffledAndDuplicatedEventsGiveTheGroundTruth writes the history in
// random batches, shuffled, with every event sent one to three times, on
// every database: rows only move forward, so the result is the truth.
func TestShuffledAndDuplicatedEventsGiveTheGroundTruth(t *testing.T) {
	tr := history(7, 4, 40)
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			r := rand.New(rand.NewPCG(1, 2))
			var evs []*topics.OrderEvent
			for _, e := range tr.events {
				for range 1 + r.IntN(3) {
					c := *e
					evs = append(evs, &c)
				}
			}
			r.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
			for len(evs) > 0 {
				n := min(len(evs), 1+r.IntN(60))
				if _, err := Write(context.Background(), d, evs[:n]); err != nil {
					t.Fatal(err)
				}
				evs = evs[n:]
			}
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestTheGuardHoldsInSQLAlone bypasses MakePlan's fold: older events are
// upserted directly after newer ones and must change nothing.
func TestTheGuardHoldsInSQLAlone(t *testing.T) {
	tr := history(3, 2, 20)
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			for i := len(tr.events) - 1; i >= 0; i-- { // newest first, one statement each
				tx, err := d.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				if err := upsertRows(ctx, tx, d, tr.events[i:i+1]); err != nil {
					t.Fatal(err)
				}
				if err := insertFills(ctx, tx, d, filterFills(tr.events[i:i+1])); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
			}
			if err := checkTruth(t, d, tr); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func filterFills(evs []*topics.OrderEvent) []*topics.OrderEvent {
	var out []*topics.OrderEvent
	for _, e := range evs {
		if e.TradeID > 0 && orderstatus.KindOf(e) == orderstatus.KindOrder {
			out = append(out, e)
		}
	}
	return out
}

// A backfill frame is stamped with the order's update time T; the stream's
// frame of an earlier partial fill carries an E a few ms after its own T,
// which can be later. Arriving after the backfilled FILLED, that partial
// fill must not move the row back (not in the fold, not in SQL alone), and
// the stream's own FILLED afterwards records no second final transition.
func TestALateLowerStatusNeverMovesAFinalRowBack(t *testing.T) {
	ev := func(status string, E, T int64, cum, source string) *topics.OrderEvent {
		return &topics.OrderEvent{Exchange: "binance", Account: "a", Event: "ORDER_TRADE_UPDATE", OrderID: 9, Symbol: "BTCUSDT",
			Side: "BUY", Status: status, ExecutionType: "TRADE", EventTime: E, TransactionTime: T, CumQty: cum, Source: source}
	}
	backfilled := ev("FILLED", 1000, 1000, "2", "backfill")         // E = the order's update time
	latePartial := ev("PARTIALLY_FILLED", 1002, 999, "1", "stream") // T before the fill, E after it
	streamFilled := ev("FILLED", 1003, 1000, "2", "stream")

	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			var transitions []string
			for _, e := range []*topics.OrderEvent{backfilled, latePartial, streamFilled} {
				plan, err := Write(ctx, d, []*topics.OrderEvent{e})
				if err != nil {
					t.Fatal(err)
				}
				for _, tr := range plan.Transitions {
					transitions = append(transitions, tr.From+">"+tr.To)
				}
			}
			if len(transitions) != 1 || transitions[0] != ">FILLED" {
				t.Fatalf("transitions %v, want the final one once", transitions)
			}
			row := dbtest.Dump(t, d, "SELECT status, cum_qty, event_time FROM orders")
			if len(row) != 1 || row[0][0] != "FILLED" || row[0][1] != "2" || row[0][2] != "1003" {
				t.Fatalf("row %v, want FILLED 2 at E 1003", row)
			}

			// The SQL guard alone (MakePlan bypassed) refuses it too.
			tx, err := d.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := upsertRows(ctx, tx, d, []*topics.OrderEvent{ev("PARTIALLY_FILLED", 5000, 999, "1", "stream")}); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if row := dbtest.Dump(t, d, "SELECT status, cum_qty FROM orders"); row[0][0] != "FILLED" || row[0][1] != "2" {
				t.Fatalf("the SQL guard let a lower status in: %v", row)
			}
		})
	}
}
