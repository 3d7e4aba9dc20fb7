package reconcile

import (
	"encoding/json"
	"strconv"

	"github.com/kraite/stream/internal/binanceapi"
)

// executionFor maps an order status to the execution type an
// ORDER_TRADE_UPDATE reporting that status would carry.
func executionFor(status string) string {
	switch status {
	case "PARTIALLY_FILLED", "FILLED":
		return "TRADE"
	case "CANCELED", "EXPIRED", "NEW":
		return status
	case "EXPIRED_IN_MATCH":
		return "EXPIRED"
	default:
		return status
	}
}

// orderFrame synthesizes the ORDER_TRADE_UPDATE a stream would have pushed
// for the order's current state. T is the order's update (transaction) time;
// E is when the snapshot was read, in exchange time, and at least T.
//
// Why E is the read time: a streamed event's E is a little later than its T,
// so a backfilled later state stamped E = T could lose the sinks'
// forward-only guard (E first) against the older streamed event it
// supersedes. Every event that happened before the read is reflected in the
// snapshot, and every event after it has a larger E and still wins.
// There is no last fill (l, L, t are zero): fills are not invented.
func orderFrame(o binanceapi.Order, readAt int64) []byte {
	f := struct {
		E  string `json:"e"`
		Ev int64  `json:"E"`
		T  int64  `json:"T"`
		O  any    `json:"o"`
	}{E: "ORDER_TRADE_UPDATE", Ev: max(readAt, o.UpdateTime), T: o.UpdateTime, O: map[string]any{
		"s": o.Symbol, "c": o.ClientOrderID, "S": o.Side, "o": o.Type, "f": o.TimeInForce,
		"q": o.OrigQty, "p": o.Price, "ap": o.AvgPrice, "sp": o.StopPrice,
		"x": executionFor(o.Status), "X": o.Status, "i": o.OrderID,
		"l": "0", "z": o.ExecutedQty, "L": "0", "T": o.UpdateTime, "t": 0,
		"R": o.ReduceOnly, "ps": o.PositionSide, "ot": o.OrigType,
	}}
	b, _ := json.Marshal(f)
	return b
}

// algoFrame synthesizes the ALGO_UPDATE for the algo order's current state
// (E and T as in orderFrame).
func algoFrame(g binanceapi.AlgoOrder, readAt int64) []byte {
	f := struct {
		E  string `json:"e"`
		T  int64  `json:"T"`
		Ev int64  `json:"E"`
		O  any    `json:"o"`
	}{E: "ALGO_UPDATE", T: g.UpdateTime, Ev: max(readAt, g.UpdateTime), O: map[string]any{
		"caid": g.ClientAlgoID, "aid": g.AlgoID, "at": g.AlgoType, "o": g.OrderType,
		"s": g.Symbol, "S": g.Side, "ps": g.PositionSide, "f": g.TimeInForce, "q": g.Quantity,
		"X": g.AlgoStatus, "ai": g.ActualOrderID, "ap": g.ActualPrice, "aq": g.ExecutedQty,
		"tp": g.TriggerPrice, "p": g.Price, "R": g.ReduceOnly, "tt": g.TriggerTime,
	}}
	b, _ := json.Marshal(f)
	return b
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
