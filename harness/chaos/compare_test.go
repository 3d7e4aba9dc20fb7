package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	auditsink "github.com/kraite/stream/sinks/audit"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

const acct = "acct-0001"

// tradeFrameJSON is an ORDER_TRADE_UPDATE as the simulator pushes it (the
// keys the comparison reads, in Binance's order, upper-case twins included).
func tradeFrameJSON(e int64, order, trade int64, status string, cum string) []byte {
	return fmt.Appendf(nil, `{"e":"ORDER_TRADE_UPDATE","E":%d,"T":%d,"o":{"s":"BTCUSDT","x":"TRADE","X":%q,"i":%d,"l":"1","z":%q,"T":%d,"t":%d}}`,
		e, e, status, order, cum, e, trade)
}

func orderEvent(order int64, exec, status, cum string, e int64, trade int64) *topics.OrderEvent {
	ev := &topics.OrderEvent{Exchange: "binance", Account: acct, Event: "ORDER_TRADE_UPDATE", ExecutionType: exec, Status: status,
		Symbol: "BTCUSDT", OrderID: order, Side: "BUY", OrderType: "LIMIT", Price: "60000", OrigQty: "2", CumQty: cum,
		EventTime: e, TransactionTime: e, Source: "stream", TradeID: trade}
	if trade > 0 {
		ev.LastQty = "1"
	}
	return ev
}

func auditRows(t *testing.T, d *db.DB, offset *int64, payloads ...[]byte) {
	t.Helper()
	var rows []auditsink.Row
	for _, p := range payloads {
		*offset++
		rows = append(rows, auditsink.Row{Exchange: "binance", Account: acct, EventType: "ORDER_TRADE_UPDATE", Kind: topics.KindFrame,
			Source: "stream", Payload: string(p), SourceTopic: "kraite.user-data-stream", SourcePartition: 1, SourceOffset: *offset})
	}
	if err := auditsink.Write(context.Background(), d, rows); err != nil {
		t.Fatal(err)
	}
}

// TestCompareFindsLostAndDoubledEventsOnEveryDialect writes a database
// through the real sinks' writers, then breaks it in known ways.
func TestCompareFindsLostAndDoubledEventsOnEveryDialect(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			base := time.Now().Add(-time.Minute)
			f1 := tradeFrameJSON(1001, 1, 11, "PARTIALLY_FILLED", "1")
			f2 := tradeFrameJSON(1002, 1, 12, "FILLED", "2")
			events := []*topics.OrderEvent{
				orderEvent(1, "NEW", "NEW", "0", 1000, 0),
				orderEvent(1, "TRADE", "PARTIALLY_FILLED", "1", 1001, 11),
				orderEvent(1, "TRADE", "FILLED", "2", 1002, 12),
				orderEvent(2, "NEW", "NEW", "0", 1003, 0),
				{Exchange: "binance", Account: acct, Event: "ALGO_UPDATE", ExecutionType: "ALGO_NEW", Status: "NEW", Symbol: "BTCUSDT",
					AlgoID: 5, EventTime: 1004, TransactionTime: 1004, Source: "stream"},
			}
			if _, err := orderssink.Write(ctx, d, events); err != nil {
				t.Fatal(err)
			}
			var off int64
			auditRows(t, d, &off, f1, f2)
			truth := Snapshot{Accounts: []string{acct},
				Orders: map[string][]simulator.Order{acct: {
					{OrderID: 1, Symbol: "BTCUSDT", Status: "FILLED", ExecutedQty: "2.000"},
					{OrderID: 2, Symbol: "BTCUSDT", Status: "NEW", ExecutedQty: "0"},
				}},
				Algos:  map[string][]simulator.AlgoOrder{acct: {{AlgoID: 5, Status: "NEW"}}},
				Pushed: map[string][]simulator.Pushed{acct: {{ConnID: "conn-1", At: base, Data: f1}, {ConnID: "conn-1", At: base, Data: f2}}},
			}
			r, err := Compare(ctx, d, truth, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if !r.OK() || r.FramesPushed != 2 || r.FramesStored != 2 || r.Orders != 2 || r.AlgoOrders != 1 || r.Fills != 2 || r.Transitions == 0 {
				t.Fatalf("a consistent database does not compare clean: %+v", r)
			}
			ok, why, err := CaughtUp(ctx, d, "", acct, truth.Orders[acct], truth.Algos[acct])
			if err != nil || !ok {
				t.Fatalf("caught up: %v %s %v", ok, why, err)
			}

			// Break it: the exchange moved on (order 2 canceled, order 3
			// and algo 6 never stored, the algo order triggered), a frame
			// was stored twice, one was lost in the pipeline, one was
			// unread at a socket drop, a trade frame has no fill, and a
			// transition was recorded twice.
			lostFrame := tradeFrameJSON(1010, 1, 13, "FILLED", "2")
			unreadFrame := tradeFrameJSON(1011, 2, 21, "PARTIALLY_FILLED", "1")
			auditRows(t, d, &off, f1)
			truth.Orders[acct][1].Status = "CANCELED"
			truth.Orders[acct] = append(truth.Orders[acct], simulator.Order{OrderID: 3, Status: "NEW", ExecutedQty: "0"})
			truth.Algos[acct][0].Status = "TRIGGERED"
			truth.Algos[acct] = append(truth.Algos[acct], simulator.AlgoOrder{AlgoID: 6, Status: "NEW"})
			dropAt := base.Add(10 * time.Second)
			truth.Pushed[acct] = append(truth.Pushed[acct],
				simulator.Pushed{ConnID: "conn-1", At: base.Add(5 * time.Second), Data: lostFrame},
				simulator.Pushed{ConnID: "conn-1", At: dropAt.Add(-200 * time.Millisecond), Data: unreadFrame})
			var filled topics.PositionEvent
			filled.Kind, filled.Account, filled.From, filled.To, filled.Order = topics.PositionOrderTransition, acct, "PARTIALLY_FILLED", "FILLED", events[2]
			line, _ := json.Marshal(filled)
			back := filled
			back.From, back.To = "FILLED", "CANCELED"
			line2, _ := json.Marshal(back)
			if _, err := d.ExecContext(ctx, d.Rebind("INSERT INTO order_outbox (records, payload) VALUES (?, ?)"), 2,
				string(line)+"\n"+string(line2)); err != nil {
				t.Fatal(err)
			}
			var checked bool
			extra := Check{Name: "positions", Run: func(ctx context.Context, d *db.DB, s Snapshot) (Finding, error) {
				checked = len(s.Accounts) == 1
				return Finding{Checked: 1, Lost: 1, Details: []string{"BTCUSDT: no row"}}, nil
			}}
			r, err = Compare(ctx, d, truth, Options{Drops: []Drop{{Account: acct, At: dropAt}}, Checks: []Check{extra}})
			if err != nil {
				t.Fatal(err)
			}
			want := Lost{Orders: 2, AlgoOrders: 2, Fills: 1, Frames: 1}
			if r.Lost != want {
				t.Errorf("lost %+v, want %+v\n%s", r.Lost, want, strings.Join(r.Details, "\n"))
			}
			if r.Regressions != 1 {
				t.Errorf("%d status regressions, want 1\n%s", r.Regressions, strings.Join(r.Details, "\n"))
			}
			if r.Duplicates.AuditRows != 1 || r.Duplicates.Transitions != 1 || r.Duplicates.Fills != 0 {
				t.Errorf("duplicates %+v\n%s", r.Duplicates, strings.Join(r.Details, "\n"))
			}
			if r.FramesPushed != 4 || r.FramesStored != 2 || r.FramesUnread != 1 {
				t.Errorf("frames pushed %d stored %d unread %d", r.FramesPushed, r.FramesStored, r.FramesUnread)
			}
			if !checked || len(r.Findings) != 1 || r.LostTotal() != 7 || r.OK() {
				t.Errorf("the extra check: ran %v, findings %+v, lost total %d", checked, r.Findings, r.LostTotal())
			}
			ok, why, err = CaughtUp(ctx, d, "", acct, truth.Orders[acct], nil)
			if err != nil || ok || !strings.Contains(why, "order 2") {
				t.Fatalf("caught up with a stale order: %v %q %v", ok, why, err)
			}

			// Fills adding up to more than the exchange executed are a
			// duplicate applied.
			truth.Orders[acct][0].ExecutedQty = "1"
			r, _ = Compare(ctx, d, truth, Options{})
			if r.Duplicates.Fills != 1 {
				t.Errorf("over-filled order not reported: %+v", r.Duplicates)
			}
		})
	}
}
