package audit

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// FuzzDecode: Decode never panics, and the row it returns is always
// storable: valid UTF-8 without NUL bytes, columns within their widths, and
// the source position copied from the record.
func FuzzDecode(f *testing.F) {
	now := time.Now()
	for _, b := range realFrames(f) {
		f.Add(b, "acc", "acc", now.Format(time.RFC3339Nano), "binance")
	}
	f.Add([]byte(`{"e":"ORDER_TRADE_UPDATE","E":"12","o":{"x":"TRADE","X":"FILLED"}}`), "a", "", "", "")
	f.Add([]byte(`{"e":"ALGO_UPDATE","E":1,"o":{"X":"FINISHED"}}`), "", "\xff\xfe", "9999-12-31T23:59:59-23:59", "ftx")
	f.Add([]byte("\x00\xff{"), "\xff", "a\x00", "0001-01-01T00:00:00Z", "\x00")
	f.Add([]byte(`{"stream":"k","data":{"e":"TRADE_LITE","E":4102444800000}}`), "a", "a", "2100-01-01T00:00:00Z", "bybit")
	f.Fuzz(func(t *testing.T, value []byte, key, account, receivedAt, exchange string) {
		rec := &kgo.Record{Topic: "t", Partition: 3, Offset: 9, Key: []byte(key), Value: value,
			Headers: []kgo.RecordHeader{{Key: "account", Value: []byte(account)}, {Key: "received_at", Value: []byte(receivedAt)},
				{Key: "exchange", Value: []byte(exchange)}}}
		r, err := DecodeAt(rec, now, time.Minute)
		if !r.ReceivedAt.IsZero() && (r.ReceivedAt.Year() < 2000 || r.ReceivedAt.After(now.Add(time.Minute))) {
			t.Fatalf("absurd received_at %v", r.ReceivedAt)
		}
		if r.EventTime < 0 || r.EventTime > now.Add(time.Minute).UnixMilli() {
			t.Fatalf("absurd event time %d", r.EventTime)
		}
		if r.TransactionTime < 0 || r.TransactionTime > now.Add(time.Minute).UnixMilli() {
			t.Fatalf("absurd transaction time %d", r.TransactionTime)
		}
		if err == nil && (r.ReceivedAt.IsZero() || (exchange != "" && r.Exchange != exchange)) {
			t.Fatalf("accepted without a valid received_at or exchange: %+v", r)
		}
		if utf8.RuneCountInString(r.Exchange) > 32 || utf8.RuneCountInString(r.Kind) > 16 || utf8.RuneCountInString(r.Source) > 16 {
			t.Fatalf("column overflow: %+v", r)
		}
		for _, s := range []string{r.Payload, r.Account, r.EventType, r.ExecutionType, r.Exchange, r.Kind, r.Source} {
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

// The frame's T lands in TransactionTime, whatever the event (TRADE_LITE and
// ACCOUNT_CONFIG_UPDATE carry one too); a T that is garbage, negative or
// far ahead is stored as 0 and the record quarantined with the reason.
func TestDecodeTransactionTime(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	rec := func(frame string) *kgo.Record {
		return &kgo.Record{Topic: "t", Key: []byte("a"), Value: []byte(frame), Headers: []kgo.RecordHeader{
			{Key: "account", Value: []byte("a")}, {Key: "received_at", Value: []byte(now.Format(time.RFC3339Nano))}}}
	}
	for _, tc := range []struct {
		name, frame string
		want        int64
		bad         bool
	}{
		{"an order update's T", `{"e":"ORDER_TRADE_UPDATE","E":1699999999990,"T":1699999999980,"o":{"x":"TRADE","X":"FILLED","T":5}}`, 1699999999980, false},
		{"an account update's T as a string", `{"e":"ACCOUNT_UPDATE","E":1699999999990,"T":"1699999999970","a":{}}`, 1699999999970, false},
		{"a lower-case t is not T", `{"e":"ORDER_TRADE_UPDATE","E":1699999999990,"T":1699999999980,"t":12,"o":{"x":"NEW"}}`, 1699999999980, false},
		{"no T", `{"e":"ORDER_TRADE_UPDATE","E":1699999999990,"o":{"x":"NEW"}}`, 0, false},
		{"a T that is no number", `{"e":"ORDER_TRADE_UPDATE","E":1699999999990,"T":"soon","o":{"x":"NEW"}}`, 0, true},
		{"a negative T", `{"e":"ORDER_TRADE_UPDATE","E":1699999999990,"T":-5,"o":{"x":"NEW"}}`, 0, true},
		{"a trade-lite's T (its t is the trade id)", `{"e":"TRADE_LITE","E":1699999999990,"T":1699999999960,"t":109100866,"i":8886774}`, 1699999999960, false},
		{"an account config update's T", `{"e":"ACCOUNT_CONFIG_UPDATE","E":1699999999990,"T":1699999999950,"ac":{"s":"BTCUSDT","l":25}}`, 1699999999950, false},
		{"a margin call has no T", `{"e":"MARGIN_CALL","E":1699999999990,"cw":"3.16","p":[]}`, 0, false},
		{"a T that is an object", `{"e":"TRADE_LITE","E":1699999999990,"T":{"x":1}}`, 0, true},
		{"a T past int64", `{"e":"ORDER_TRADE_UPDATE","E":1699999999990,"T":99999999999999999999,"o":{"x":"NEW"}}`, 0, true},
		{"a T far ahead", `{"e":"ALGO_UPDATE","E":1699999999990,"T":4102444800000,"o":{"X":"NEW"}}`, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeAt(rec(tc.frame), now, time.Minute)
			if r.TransactionTime != tc.want || (err != nil) != tc.bad {
				t.Fatalf("T %d err %v, want %d (error %v)", r.TransactionTime, err, tc.want, tc.bad)
			}
		})
	}
}
