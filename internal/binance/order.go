package binance

import (
	"github.com/kraite/stream/topics"
)

// ExecutionType is what the event is, as the dispatch allowlist names it:
//   - ORDER_TRADE_UPDATE: "x" as sent (NEW, TRADE, CANCELED, EXPIRED,
//     AMENDMENT, CALCULATED, ...; ExecNew and the others);
//   - ALGO_UPDATE: the algo status mapped by AlgoExecutionType;
//   - every other event: its event type (TRADE_LITE, ACCOUNT_UPDATE,
//     listenKeyExpired, ...), so it can be allowlisted on its own;
//   - an unknown event: its "e".
//
// ExecutionTypes lists every one of them.
func (ev Event) ExecutionType() string {
	switch {
	case ev.Order != nil:
		return string(ev.Order.ExecutionType)
	case ev.Algo != nil:
		return AlgoExecutionType(*ev.Algo)
	default:
		return ev.Type
	}
}

// AlgoExecutionType maps an ALGO_UPDATE status onto the internal names:
// NEW, CANCELED, EXPIRED, TRIGGERING, TRIGGERED and REJECTED become ALGO_<X>;
// FINISHED becomes ALGO_FILLED only when the order actually filled
// (AlgoFilledQty) and ALGO_CANCELED otherwise. An unknown status X becomes
// ALGO_<X>.
func AlgoExecutionType(a AlgoUpdate) string {
	switch a.Status {
	case "NEW":
		return AlgoNew
	case "CANCELED":
		return AlgoCanceled
	case "EXPIRED":
		return AlgoExpired
	case "TRIGGERING":
		return AlgoTriggering
	case "TRIGGERED":
		return AlgoTriggered
	case "REJECTED":
		return AlgoRejected
	case "FINISHED":
		if AlgoFilledQty(a) {
			return AlgoFilled
		}
		return AlgoCanceled
	default:
		return "ALGO_" + string(a.Status)
	}
}

// AlgoFilledQty reports whether a finished algo order filled: its executed
// quantity aq is a positive decimal. The order quantity q is not compared:
// close-position orders carry none, and a partial fill (0 < aq < q) counts
// as filled too (the fill is real and CumQty carries aq, so the orders sink
// sees how much).
func AlgoFilledQty(a AlgoUpdate) bool {
	aq, ok := a.ExecutedQty.Rat()
	return ok && aq.Sign() > 0
}

// OrderEvent converts ev into the normalized value of the orders topic.
// exchange and account come from the record (key and headers), source is
// "stream" or "backfill". The source topic/partition/offset are left for
// the caller. Every event type converts; non-order events fill the common
// fields only.
func (ev Event) OrderEvent(exchange, account, source string) topics.OrderEvent {
	oe := topics.OrderEvent{
		Exchange:        exchange,
		Account:         account,
		Event:           ev.Type,
		ExecutionType:   ev.ExecutionType(),
		EventTime:       ev.EventTime,
		TransactionTime: ev.TransactionTime,
		Source:          source,
	}
	switch {
	case ev.Order != nil:
		fillOrder(&oe, ev.Order)
	case ev.Algo != nil:
		fillAlgo(&oe, ev.Algo)
	case ev.TradeLite != nil:
		t := ev.TradeLite
		oe.Symbol, oe.OrderID, oe.ClientOrderID = string(t.Symbol), int64(t.OrderID), string(t.ClientOrderID)
		oe.Side, oe.Price, oe.OrigQty = string(t.Side), string(t.Price), string(t.OrigQty)
		oe.LastQty, oe.LastPrice, oe.TradeID = string(t.LastQty), string(t.LastPrice), int64(t.TradeID)
	case ev.ConditionalReject != nil:
		oe.Symbol, oe.OrderID = string(ev.ConditionalReject.Symbol), int64(ev.ConditionalReject.OrderID)
	case ev.AccountConfig != nil:
		oe.Symbol = ev.AccountConfig.Symbol
	}
	return oe
}

func fillOrder(oe *topics.OrderEvent, o *OrderUpdate) {
	oe.Status = string(o.Status)
	oe.Symbol = string(o.Symbol)
	oe.OrderID = int64(o.OrderID)
	oe.ClientOrderID = string(o.ClientOrderID)
	oe.Side = string(o.Side)
	oe.PositionSide = string(o.PositionSide)
	oe.OrderType = string(o.OrderType)
	oe.TimeInForce = string(o.TimeInForce)
	oe.Price = string(o.Price)
	oe.OrigQty = string(o.OrigQty)
	oe.AvgPrice = string(o.AvgPrice)
	oe.StopPrice = string(o.StopPrice)
	oe.CumQty = string(o.CumQty)
	oe.LastQty = string(o.LastQty)
	oe.LastPrice = string(o.LastPrice)
	oe.TradeID = int64(o.TradeID)
	oe.Commission = string(o.Commission)
	oe.CommissionAsset = string(o.CommissionAsset)
	oe.RealizedProfit = string(o.RealizedProfit)
	oe.ReduceOnly = bool(o.ReduceOnly)
}

func fillAlgo(oe *topics.OrderEvent, a *AlgoUpdate) {
	oe.Status = string(a.Status)
	oe.Symbol = string(a.Symbol)
	oe.AlgoID = int64(a.AlgoID)
	oe.ClientOrderID = string(a.ClientAlgoID)
	oe.Side = string(a.Side)
	oe.PositionSide = string(a.PositionSide)
	oe.OrderType = string(a.OrderType)
	oe.TimeInForce = string(a.TimeInForce)
	oe.Price = string(a.Price)
	oe.OrigQty = string(a.Qty)
	oe.AvgPrice = string(a.AvgPrice)
	oe.StopPrice = string(a.TriggerPrice)
	oe.CumQty = string(a.ExecutedQty)
	oe.ReduceOnly = bool(a.ReduceOnly)
	oe.ActualOrderID = string(a.ActualOrderID)
}
