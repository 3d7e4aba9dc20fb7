package reconcile

import (
	"testing"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
)

// The synthesized frames take the normal path: they must decode like
// streamed ones, with the read time as E and the update time as T.
func TestBackfillFramesDecodeLikeStreamedOnes(t *testing.T) {
	o := binanceapi.Order{OrderID: 8389765739703625592, Symbol: "币安人生USDT", Side: "BUY", Type: "LIMIT", Status: "PARTIALLY_FILLED",
		OrigQty: "2", ExecutedQty: "1.0", Price: "0.5", UpdateTime: 1000}
	ev, err := binance.Decode(orderFrame(o, 2000))
	if err != nil {
		t.Fatal(err)
	}
	oe := ev.OrderEvent("binance", "acct-1", "backfill")
	if oe.ExecutionType != "TRADE" || oe.OrderID != o.OrderID || oe.EventTime != 2000 || oe.TransactionTime != 1000 || oe.CumQty != "1.0" {
		t.Fatalf("decoded %+v", oe)
	}
	g := binanceapi.AlgoOrder{AlgoID: 7, Symbol: "BTCUSDT", AlgoStatus: "FINISHED", Quantity: "1", ExecutedQty: "1", UpdateTime: 5}
	ev, err = binance.Decode(algoFrame(g, 3))
	if err != nil {
		t.Fatal(err)
	}
	if oe := ev.OrderEvent("binance", "acct-1", "backfill"); oe.ExecutionType != "ALGO_FILLED" || oe.EventTime != 5 {
		t.Fatalf("decoded algo %+v", oe)
	}
}
