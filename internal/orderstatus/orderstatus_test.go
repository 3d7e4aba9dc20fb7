package orderstatus

import (
	"testing"

	"github.com/kraite/stream/topics"
)

func TestRanksFollowTheLifecycle(t *testing.T) {
	for k, life := range map[Kind][]string{
		KindOrder: {"NEW", "PARTIALLY_FILLED", "FILLED"},
		KindAlgo:  {"NEW", "TRIGGERING", "TRIGGERED", "FINISHED"},
	} {
		for i := 1; i < len(life); i++ {
			if Rank(k, life[i]) <= Rank(k, life[i-1]) {
				t.Errorf("%s: %s does not outrank %s", k, life[i], life[i-1])
			}
		}
		if !Final(k, life[len(life)-1]) || Final(k, life[0]) {
			t.Errorf("%s: final statuses wrong", k)
		}
		for _, s := range []string{"CANCELED", "EXPIRED", "REJECTED"} {
			if !Final(k, s) {
				t.Errorf("%s: %s is not final", k, s)
			}
		}
		if Rank(k, "") != 0 || Rank(k, "new") != 0 || Rank(k, "BOGUS") != 0 {
			t.Errorf("%s: an unknown status ranks above 0", k)
		}
	}
	for _, c := range []struct {
		k      Kind
		status string
		open   bool
	}{{KindOrder, "NEW", true}, {KindOrder, "PARTIALLY_FILLED", true}, {KindOrder, "NEW_ADL", false}, {KindOrder, "FILLED", false},
		{KindOrder, "TRIGGERED", false}, {KindAlgo, "NEW", true}, {KindAlgo, "TRIGGERING", true}, {KindAlgo, "TRIGGERED", true},
		{KindAlgo, "FINISHED", false}, {KindAlgo, "PARTIALLY_FILLED", false}, {KindAlgo, "", false}} {
		if Open(c.k, c.status) != c.open {
			t.Errorf("Open(%s, %q) = %v", c.k, c.status, !c.open)
		}
	}
	if Final(KindOrder, "FINISHED") {
		t.Error("FINISHED is an algo status, not an order's")
	}
}

func TestKeyOf(t *testing.T) {
	o := KeyOf(&topics.OrderEvent{Exchange: "binance", Account: "a", Event: "ORDER_TRADE_UPDATE", OrderID: 7})
	g := KeyOf(&topics.OrderEvent{Exchange: "binance", Account: "a", Event: "ALGO_UPDATE", AlgoID: 9, OrderID: 7})
	if o != (Key{KindOrder, "binance", "a", 7}) || g != (Key{KindAlgo, "binance", "a", 9}) {
		t.Fatalf("keys %+v %+v", o, g)
	}
}
