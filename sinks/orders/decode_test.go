package orders

import (
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/internal/validate"
)

// FuzzDecode: Decode never panics; an accepted event has a key (exchange,
// account, positive id), a status, and only storable text within its columns.
func FuzzDecode(f *testing.F) {
	tr := history(1, 1, 8)
	for _, e := range tr.events {
		b, _ := jsonMarshal(e)
		f.Add(b)
	}
	paths := testkit.SharedFiles(f, "binance-frames/*.json")
	for _, p := range paths {
		raw, _ := os.ReadFile(p)
		if ev, err := binance.Decode(raw); err == nil {
			oe := ev.OrderEvent("binance", "acc-1", "stream")
			b, _ := jsonMarshal(&oe)
			f.Add(b)
		}
	}
	f.Add([]byte(`{"exchange":"binance","account":"a","event":"ALGO_UPDATE","algo_id":1,"status":"NEW","symbol":"X"}`))
	f.Add([]byte(`{"exchange":"binance","account":"a","order_id":-1,"status":"NEW","symbol":"X"}`))
	f.Add([]byte(`{"exchange":"\u0000","account":"a","order_id":1,"status":"NEW","symbol":"X","price":"\xff"}`))
	f.Add([]byte(`{"exchange":"binance","account":"a","order_id":1,"status":"FILLED","symbol":"BTCUSDT","cum_qty":"1e999999","event_time":1}`))
	f.Add([]byte(`{"exchange":"binance","account":"a","order_id":1,"status":"FILLED","symbol":"BTCUSDT","last_qty":"-3","price":"NaN","event_time":4102444800000}`))
	now := time.Now()
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := DecodeAt(b, now, time.Minute)
		if err != nil {
			return
		}
		for _, v := range []string{e.Price, e.AvgPrice, e.StopPrice, e.LastPrice, e.OrigQty, e.CumQty, e.LastQty} {
			if v != "" && validate.Quantity(v) != nil {
				t.Fatalf("accepted %q", v)
			}
		}
		if e.EventTime <= 0 || e.EventTime > now.Add(time.Minute).UnixMilli() || e.TransactionTime < 0 || validate.Symbol(e.Symbol) != nil {
			t.Fatalf("accepted %+v", e)
		}
		if k := orderstatus.KeyOf(e); k.ID <= 0 || k.Exchange == "" || k.Account == "" || e.Status == "" {
			t.Fatalf("accepted %+v", e)
		}
		for _, s := range []string{e.Exchange, e.Account, e.Symbol, e.Status, e.Price, e.ClientOrderID, e.ExecutionType} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || utf8.RuneCountInString(s) > 64 {
				t.Fatalf("unstorable %q", s)
			}
		}
	})
}
