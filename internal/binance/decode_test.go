package binance

import (
	"strings"
	"testing"
)

// wantExec is the execution type every real frame must decode to; frames
// not listed here must decode to their event type.
var wantExec = map[string]string{
	"nautilus-ORDER_TRADE_UPDATE-1.json":     "NEW",
	"nautilus-ORDER_TRADE_UPDATE-2.json":     "NEW",
	"nautilus-ORDER_TRADE_UPDATE-3.json":     "NEW",
	"nautilus-ORDER_TRADE_UPDATE-4.json":     "NEW",
	"nautilus-ORDER_TRADE_UPDATE-5.json":     "TRADE",
	"nautilus-ORDER_TRADE_UPDATE-6.json":     "TRADE",
	"nautilus-ORDER_TRADE_UPDATE-7.json":     "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-8.json":     "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-9.json":     "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-10.json":    "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-11.json":    "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-12.json":    "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-13.json":    "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-14.json":    "TRADE",
	"nautilus-ORDER_TRADE_UPDATE-15.json":    "TRADE",
	"nautilus-ORDER_TRADE_UPDATE-16.json":    "CALCULATED",
	"nautilus-ORDER_TRADE_UPDATE-17.json":    "EXPIRED",
	"nautilus-ORDER_TRADE_UPDATE-18.json":    "AMENDMENT",
	"go-binance-ORDER_TRADE_UPDATE-1.json":   "NEW",
	"moxt-ORDER_TRADE_UPDATE-1.json":         "NEW",
	"moxt-ORDER_TRADE_UPDATE-2.json":         "CANCELED",
	"binance-docs-ORDER_TRADE_UPDATE-1.json": "NEW",
	"nautilus-ALGO_UPDATE-1.json":            AlgoNew,
	"nautilus-ALGO_UPDATE-2.json":            AlgoCanceled,
	"nautilus-ALGO_UPDATE-3.json":            AlgoTriggering,
	"nautilus-ALGO_UPDATE-4.json":            AlgoTriggered,
	"nautilus-ALGO_UPDATE-5.json":            AlgoFilled,
	"nautilus-ALGO_UPDATE-6.json":            AlgoCanceled,
	"ccxt-go-binance-ALGO_UPDATE-1.json":     AlgoCanceled,
	"binance-docs-ALGO_UPDATE-1.json":        AlgoCanceled,
}

func TestDecodeEveryRealFrame(t *testing.T) {
	frames := loadFrames(t)
	if len(frames) != 58 {
		t.Errorf("found %d frames, want 58", len(frames))
	}
	for name, frame := range frames {
		t.Run(name, func(t *testing.T) {
			ev, err := Decode(frame)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if ev.Unknown || ev.Type == "" || !strings.Contains(name, "-"+ev.Type+"-") {
				t.Fatalf("type %q (unknown=%v) does not match the file name", ev.Type, ev.Unknown)
			}
			want, ok := wantExec[name]
			if !ok {
				want = ev.Type
			}
			if got := ev.ExecutionType(); got != want {
				t.Fatalf("execution type %q, want %q", got, want)
			}
			if ev.EventTime <= 0 {
				t.Fatalf("event time %d", ev.EventTime)
			}
			checkTyped(t, ev)
		})
	}
}

// checkTyped asserts the typed body of each event kind is filled.
func checkTyped(t *testing.T, ev Event) {
	t.Helper()
	oe := ev.OrderEvent("binance", "acct", "stream")
	switch ev.Type {
	case EventOrderTradeUpdate:
		if ev.Order == nil || oe.Symbol == "" || oe.OrderID == 0 || oe.Status == "" {
			t.Fatalf("order not decoded: %+v", oe)
		}
	case EventAlgoUpdate:
		if ev.Algo == nil || oe.Symbol == "" || oe.AlgoID == 0 || oe.ClientOrderID == "" {
			t.Fatalf("algo order not decoded: %+v", oe)
		}
	case EventTradeLite:
		if ev.TradeLite == nil || oe.OrderID == 0 || oe.TradeID == 0 {
			t.Fatalf("trade lite not decoded: %+v", oe)
		}
	case EventAccountUpdate:
		if ev.Account == nil || ev.Account.Reason == "" {
			t.Fatalf("account update not decoded: %+v", ev.Account)
		}
	case EventMarginCall:
		if ev.MarginCall == nil || len(ev.MarginCall.Positions) == 0 {
			t.Fatalf("margin call not decoded: %+v", ev.MarginCall)
		}
	case EventAccountConfig:
		if ev.AccountConfig == nil || (ev.AccountConfig.Symbol == "" && ev.AccountConfig.MultiAssets == nil) {
			t.Fatalf("account config not decoded: %+v", ev.AccountConfig)
		}
	case EventConditionalReject:
		if ev.ConditionalReject == nil || ev.ConditionalReject.OrderID == 0 {
			t.Fatalf("conditional reject not decoded: %+v", ev.ConditionalReject)
		}
	case EventMarkPriceUpdate:
		if len(ev.MarkPrices) == 0 || ev.MarkPrices[0].Symbol == "" || ev.MarkPrices[0].MarkPrice == "" {
			t.Fatalf("mark prices not decoded: %+v", ev.MarkPrices)
		}
	}
	if oe.Event != ev.Type || oe.ExecutionType != ev.ExecutionType() || oe.EventTime != ev.EventTime {
		t.Fatalf("order event header mismatch: %+v", oe)
	}
}

func TestDecodeIDsAbove2To53AreExact(t *testing.T) {
	frames := loadFrames(t)
	ev, err := Decode(frames["nautilus-TRADE_LITE-2.json"])
	if err != nil {
		t.Fatal(err)
	}
	if got := ev.OrderEvent("", "", "").OrderID; got != 8389765739703625592 {
		t.Fatalf("order id %d, want 8389765739703625592", got)
	}
}

func TestDecodeEdgeCases(t *testing.T) {
	cases := []struct {
		name    string
		frame   string
		typ     string
		exec    string
		wantErr bool
	}{
		{"E as a string is accepted", `{"e":"listenKeyExpired","E":"1736996475556","listenKey":"k"}`, "listenKeyExpired", "listenKeyExpired", false},
		{"an unknown event type is kept, not an error", `{"e":"NEW_THING_2027","E":1}`, "NEW_THING_2027", "NEW_THING_2027", false},
		{"null fields decode as zero values", `{"e":"ORDER_TRADE_UPDATE","E":1,"T":null,"o":{"s":"X","x":"TRADE","X":"FILLED","i":7,"N":null,"n":null,"sp":null,"AP":null}}`, "ORDER_TRADE_UPDATE", "TRADE", false},
		{"an order update without o is an error", `{"e":"ORDER_TRADE_UPDATE","E":1}`, "", "", true},
		{"an order update whose o is a string is an error", `{"e":"ORDER_TRADE_UPDATE","E":1,"o":"x"}`, "", "", true},
		{"an algo update with a number where a string belongs still decodes", `{"e":"ALGO_UPDATE","E":1,"o":{"X":"NEW","ai":12,"q":1}}`, "ALGO_UPDATE", AlgoNew, false},
		{"a finished algo order with aq=q is filled", `{"e":"ALGO_UPDATE","E":1,"o":{"X":"FINISHED","q":"38","aq":"38.000"}}`, "ALGO_UPDATE", AlgoFilled, false},
		{"a finished algo order with aq=0.000 is canceled", `{"e":"ALGO_UPDATE","E":1,"o":{"X":"FINISHED","q":"38","aq":"0.000"}}`, "ALGO_UPDATE", AlgoCanceled, false},
		{"a finished algo order without aq is canceled", `{"e":"ALGO_UPDATE","E":1,"o":{"X":"FINISHED","q":"38"}}`, "ALGO_UPDATE", AlgoCanceled, false},
		{"a rejected algo order maps to ALGO_REJECTED", `{"e":"ALGO_UPDATE","E":1,"o":{"X":"REJECTED"}}`, "ALGO_UPDATE", AlgoRejected, false},
		{"an expired algo order maps to ALGO_EXPIRED", `{"e":"ALGO_UPDATE","E":1,"o":{"X":"EXPIRED"}}`, "ALGO_UPDATE", AlgoExpired, false},
		{"a subscription reply is not an event", `{"result":null,"id":1}`, "", "", true},
		{"an id that is not an integer is an error", `{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"i":1.5}}`, "", "", true},
		{"an empty array is an error", `[]`, "", "", true},
		{"invalid JSON is an error", `{"e":`, "", "", true},
		{"a wrapped order update is unwrapped", `{"stream":"lk","data":{"e":"ORDER_TRADE_UPDATE","E":2,"o":{"x":"CANCELED"}}}`, "ORDER_TRADE_UPDATE", "CANCELED", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ev, err := Decode([]byte(c.frame))
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			if ev.Type != c.typ || ev.ExecutionType() != c.exec {
				t.Fatalf("got (%q, %q), want (%q, %q)", ev.Type, ev.ExecutionType(), c.typ, c.exec)
			}
		})
	}
}

// FuzzDecode checks the decoder on any input: it never panics, and a frame
// it accepts gives consistent results: a non-empty type, an execution type,
// exactly one typed body for modelled types, and re-decoding the unwrapped
// payload yields the same type, time and execution type.
func FuzzDecode(f *testing.F) {
	for _, frame := range loadFrames(f) {
		f.Add(frame)
	}
	for _, s := range []string{
		`{"e":"ALGO_UPDATE","E":"1","o":{"X":"FINISHED","q":"1e3","aq":"1000"}}`,
		`{"e":"ORDER_TRADE_UPDATE","E":1,"o":{"i":"9223372036854775807"}}`,
		`[{"e":"markPriceUpdate","E":1,"s":"1000SATSUSDT","p":"0.0003"}]`,
		`{"stream":"x","data":{"e":"TRADE_LITE","E":1,"i":null}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		ev, err := Decode(frame)
		if err != nil {
			return
		}
		if ev.Type == "" && !ev.Unknown {
			t.Fatalf("accepted frame without a type")
		}
		exec := ev.ExecutionType()
		again, err := Decode(ev.Payload)
		if err != nil {
			t.Fatalf("payload of an accepted frame fails: %v", err)
		}
		if again.Type != ev.Type || again.EventTime != ev.EventTime || again.ExecutionType() != exec {
			t.Fatalf("re-decode differs: (%q %d %q) vs (%q %d %q)", again.Type, again.EventTime, again.ExecutionType(), ev.Type, ev.EventTime, exec)
		}
		_ = ev.OrderEvent("binance", "a", "stream")
	})
}
