package audit

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzDecode: Decode never panics, and the row it returns is always
// storable: valid UTF-8 without NUL bytes, columns within their widths, and
// the source position copied from the record.
func FuzzDecode(f *testing.F) {
	for _, b := range realFrames(f) {
		f.Add(b, "acc")
	}
	f.Add([]byte(`{"e":"ORDER_TRADE_UPDATE","E":"12","o":{"x":"TRADE","X":"FILLED"}}`), "a")
	f.Add([]byte(`{"e":"ALGO_UPDATE","E":1,"o":{"X":"FINISHED"}}`), "")
	f.Add([]byte("\x00\xff{"), "\xff")
	f.Add([]byte(`{"stream":"k","data":{"e":"TRADE_LITE","E":5}}`), "a")
	f.Fuzz(func(t *testing.T, value []byte, key string) {
		rec := &kgo.Record{Topic: "t", Partition: 3, Offset: 9, Key: []byte(key), Value: value}
		r, _ := Decode(rec)
		for _, s := range []string{r.Payload, r.Account, r.EventType, r.ExecutionType} {
			if !utf8.ValidString(s) || strings.IndexByte(s, 0) >= 0 {
				t.Fatalf("unstorable text %q", s)
			}
		}
		if utf8.RuneCountInString(r.Account) > 64 || utf8.RuneCountInString(r.EventType) > 64 || utf8.RuneCountInString(r.ExecutionType) > 32 {
			t.Fatalf("column overflow: %+v", r)
		}
		if r.EventType == "" || r.SourceTopic != "t" || r.SourcePartition != 3 || r.SourceOffset != 9 {
			t.Fatalf("bad row %+v", r)
		}
	})
}
