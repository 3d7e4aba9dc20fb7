package orders

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/topics"
)

// truth is a deterministic order history and its ground truth: the last
// event of every order, the fills and the observer transitions (status
// changes, and every further partial fill of an order).
type truth struct {
	events      []*topics.OrderEvent // in exchange order, grouped by account
	final       map[orderstatus.Key]*topics.OrderEvent
	fills       int
	transitions int
}

// history generates accounts x perAccount orders (every 4th an algo order).
// Some consecutive events share E (then T decides) or E and T (then the
// status rank decides), the cases a naive "newest E wins" gets wrong.
func history(seed uint64, accounts, perAccount int) truth {
	r := rand.New(rand.NewPCG(seed, seed^0x9e37))
	tr := truth{final: map[orderstatus.Key]*topics.OrderEvent{}}
	var trade int64 = 1000
	for a := range accounts {
		acc := fmt.Sprintf("acc-%02d", a)
		now := int64(1_700_000_000_000 + a*1_000_000)
		for o := range perAccount {
			id := int64(a*100_000 + o + 1)
			base := topics.OrderEvent{Exchange: "binance", Account: acc, Symbol: "BTCUSDT", Side: "BUY",
				OrderType: "LIMIT", Price: "60000", OrigQty: "4", PositionSide: "BOTH", Source: "stream"}
			var evs []topics.OrderEvent
			var tt int64 // transaction time never goes backwards either
			add := func(exec, status string, dE, dT int64, cum int) {
				now += dE
				tt = max(tt, now) + dT
				e := base
				e.ExecutionType, e.Status, e.EventTime, e.TransactionTime = exec, status, now, tt
				e.CumQty = strconv.Itoa(cum)
				evs = append(evs, e)
			}
			if o%4 == 3 {
				base.Event, base.AlgoID, base.OrderType = "ALGO_UPDATE", id, "STOP_MARKET"
				add("ALGO_NEW", "NEW", 1, 0, 0)
				add("ALGO_TRIGGERED", "TRIGGERED", int64(r.IntN(2)), 1, 0)
				if r.IntN(2) == 0 {
					add("ALGO_FILLED", "FINISHED", 1, 0, 4)
				} else {
					add("ALGO_CANCELED", "CANCELED", 1, 0, 0)
				}
			} else {
				base.Event, base.OrderID = "ORDER_TRADE_UPDATE", id
				add("NEW", "NEW", 1, 0, 0)
				cum := 0
				for range r.IntN(3) {
					cum++
					trade++
					add("TRADE", "PARTIALLY_FILLED", int64(r.IntN(2)), int64(r.IntN(2)), cum)
					evs[len(evs)-1].TradeID, evs[len(evs)-1].LastQty = trade, "1"
				}
				if r.IntN(3) > 0 {
					trade++
					add("TRADE", "FILLED", int64(r.IntN(2)), 0, 4) // may tie E and T: rank decides
					evs[len(evs)-1].TradeID, evs[len(evs)-1].LastQty = trade, strconv.Itoa(4-cum)
				} else {
					add("CANCELED", "CANCELED", 1, 0, cum)
				}
			}
			prev := ""
			for i := range evs {
				e := &evs[i]
				tr.events = append(tr.events, e)
				if e.TradeID > 0 {
					tr.fills++
				}
				// A further partial fill is a transition when it moves the row
				// (a tie in E, T and rank with the previous fill does not).
				further := e.Status == "PARTIALLY_FILLED" && e.AlgoID == 0 && i > 0 && VersionOf(e).Newer(VersionOf(&evs[i-1]))
				if e.Status != prev || further {
					tr.transitions++
					prev = e.Status
				}
			}
			tr.final[orderstatus.KeyOf(&evs[len(evs)-1])] = &evs[len(evs)-1]
		}
	}
	return tr
}

// wantRows renders the ground truth like dumpOrders.
func (tr truth) wantRows(k orderstatus.Kind) [][]string {
	var out [][]string
	for key, e := range tr.final {
		if key.Kind != k {
			continue
		}
		out = append(out, []string{e.Exchange, e.Account, strconv.FormatInt(key.ID, 10), e.Status, e.ExecutionType,
			strconv.FormatInt(e.EventTime, 10), strconv.FormatInt(e.TransactionTime, 10), e.CumQty})
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.ParseInt(out[i][2], 10, 64)
		b, _ := strconv.ParseInt(out[j][2], 10, 64)
		return out[i][1] < out[j][1] || out[i][1] == out[j][1] && a < b
	})
	return out
}

func dumpOrders(t testing.TB, d *db.DB, k orderstatus.Kind) [][]string {
	table, idCol, _ := tableOf(k)
	return dbtest.Dump(t, d, "SELECT exchange, account, "+idCol+", status, execution_type, event_time, transaction_time, cum_qty FROM "+
		table+" ORDER BY account, "+idCol)
}

// equalTables reports the first difference.
func equalTables(got, want [][]string) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if fmt.Sprint(got[i]) != fmt.Sprint(want[i]) {
			return fmt.Errorf("row %d = %v, want %v", i, got[i], want[i])
		}
	}
	return nil
}

func checkTruth(t testing.TB, d *db.DB, tr truth) error {
	for _, k := range []orderstatus.Kind{orderstatus.KindOrder, orderstatus.KindAlgo} {
		if err := equalTables(dumpOrders(t, d, k), tr.wantRows(k)); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if n := dbtest.Count(t, d, "FROM order_fills"); n != tr.fills {
		return fmt.Errorf("%d fills, want %d", n, tr.fills)
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
