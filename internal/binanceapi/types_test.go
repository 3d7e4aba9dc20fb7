package binanceapi

import (
	"encoding/json"
	"testing"
)

// The simulator encodes these types as Binance does; the field order is
// its byte order on the wire, so it is pinned.
func TestRESTTypesEncodeInBinanceOrder(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{Order{OrderID: 1}, `{"avgPrice":"","clientOrderId":"","cumQty":"","cumQuote":"","executedQty":"","orderId":1,"origQty":"","origType":"","price":"","reduceOnly":false,"side":"","positionSide":"","status":"","stopPrice":"","closePosition":false,"symbol":"","time":0,"timeInForce":"","type":"","updateTime":0,"workingType":"","priceProtect":false,"priceMatch":"","selfTradePreventionMode":"","goodTillDate":0}`},
		{AlgoOrder{AlgoID: 1}, `{"algoId":1,"clientAlgoId":"","algoType":"","orderType":"","symbol":"","side":"","positionSide":"","timeInForce":"","quantity":"","algoStatus":"","actualOrderId":"","actualPrice":"","executedQty":"","triggerPrice":"","price":"","selfTradePreventionMode":"","workingType":"","priceMatch":"","closePosition":false,"priceProtect":false,"reduceOnly":false,"createTime":0,"updateTime":0,"triggerTime":0,"goodTillDate":0}`},
		{AccountPosition{Symbol: "X"}, `{"symbol":"X","positionAmt":"","entryPrice":"","breakEvenPrice":"","unrealizedProfit":"","leverage":"","isolated":false,"positionSide":"","notional":"","updateTime":0}`},
	} {
		b, err := json.Marshal(c.v)
		if err != nil || string(b) != c.want {
			t.Errorf("%T encodes as\n%s\nwant\n%s", c.v, b, c.want)
		}
	}
	// Ids beyond 2^53 survive (they are int64, not float64).
	var o Order
	if err := json.Unmarshal([]byte(`{"orderId":8389765739703625592,"status":"FILLED"}`), &o); err != nil || o.OrderID != 8389765739703625592 {
		t.Fatalf("order %+v, %v", o, err)
	}
}
