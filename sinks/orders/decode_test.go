package orders

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode: Decode never panics; an accepted event has a key (exchange,
// account, positive id), a status, and only storable text within its columns.
func FuzzDecode(f *testing.F) {
	tr := history(1, 1, 8)
	for _, e := range tr.events {
		b, _ := jsonMarshal(e)
		f.Add(b)
	}
	f.Add([]byte(`{"exchange":"binance","account":"a","event":"ALGO_UPDATE","algo_id":1,"status":"NEW","symbol":"X"}`))
	f.Add([]byte(`{"exchange":"binance","account":"a","order_id":-1,"status":"NEW","symbol":"X"}`))
	f.Add([]byte(`{"exchange":"\u0000","account":"a","order_id":1,"status":"NEW","symbol":"X","price":"\xff"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := Decode(b)
		if err != nil {
			return
		}
		if k := KeyOf(e); k.ID <= 0 || k.Exchange == "" || k.Account == "" || e.Status == "" {
			t.Fatalf("accepted %+v", e)
		}
		for _, s := range []string{e.Exchange, e.Account, e.Symbol, e.Status, e.Price, e.ClientOrderID, e.ExecutionType} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 || utf8.RuneCountInString(s) > 64 {
				t.Fatalf("unstorable %q", s)
			}
		}
	})
}
