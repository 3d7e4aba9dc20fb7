package topics_test

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// The worst input escapes every byte to six: a value of '<' and control
// bytes, a huge key, hundreds of headers, invalid UTF-8 everywhere.
func TestAQuarantineRecordIsBoundedWhateverItHolds(t *testing.T) {
	hostile := strings.Repeat("<\x01\xff", 400_000) // 1.2 MB
	src := topics.QuarantineSource{Topic: "kraite.user-data-stream", Partition: 3, Offset: 9,
		Key: []byte(strings.Repeat("\xfe", 100_000)), Value: []byte(hostile)}
	for i := 0; i < 500; i++ {
		src.Headers = append(src.Headers, [2]string{strings.Repeat("k", i+1), strings.Repeat("\x00", 10_000)})
	}
	q := topics.NewQuarantine(src, "kraite.dispatch", errors.New(strings.Repeat("e\xff", 1e6)), 1).Value
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > topics.MaxQuarantineBytes {
		t.Fatalf("encoded quarantine record is %d bytes, over %d", len(b), topics.MaxQuarantineBytes)
	}
	if !q.Truncated || q.ValueBytes != len(hostile) {
		t.Fatalf("truncation not reported: truncated=%v value_bytes=%d", q.Truncated, q.ValueBytes)
	}
	for _, s := range []string{q.Key, q.Value, q.Error} {
		if !utf8.ValidString(s) {
			t.Fatal("a field is not valid UTF-8")
		}
	}
	if len(topics.QuarantineKey(src.Key)) > topics.MaxQuarantineKey {
		t.Fatal("quarantine key unbounded")
	}
}

func TestASmallRecordIsKeptWhole(t *testing.T) {
	src := topics.QuarantineSource{Topic: "t", Key: []byte("acct-1"), Value: []byte(`{"e":"x"}`),
		Headers: [][2]string{{"kind", "frame"}}}
	q := topics.NewQuarantine(src, "g", errors.New("bad"), 5).Value
	if q.Value != `{"e":"x"}` || q.Key != "acct-1" || q.Truncated || q.Headers["kind"] != "frame" || q.Error != "bad" || q.AtMs != 5 {
		t.Fatalf("small record changed: %+v", q)
	}
}

// The record on the wire: its JSON field names, key and source header are
// what every consumer of the quarantine topic (the status page, the
// hostile-record checks, operators' tools) reads.
func TestAQuarantineRecordOnTheWire(t *testing.T) {
	rec := &kgo.Record{Topic: "kraite.orders", Partition: 2, Offset: 9, Key: []byte("acct-1"), Value: []byte(`{"e":"x"}`),
		Headers: []kgo.RecordHeader{{Key: "kind", Value: []byte("frame")}}}
	out, err := topics.NewQuarantine(topics.QuarantineSourceOf(rec), "kraite.sink.orders", errors.New("bad"), 5).Record("kraite.")
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"source_topic":"kraite.orders","source_partition":2,"source_offset":9,"key":"acct-1","value":"{\"e\":\"x\"}",` +
		`"value_bytes":9,"headers":{"kind":"frame"},"consumer":"kraite.sink.orders","error":"bad","at":5}`
	if string(out.Value) != want {
		t.Fatalf("value\n%s\nwant\n%s", out.Value, want)
	}
	if out.Topic != "kraite.quarantine" || string(out.Key) != "acct-1" || len(out.Headers) != 1 ||
		out.Headers[0].Key != topics.HeaderSource || string(out.Headers[0].Value) != "kraite.orders" {
		t.Fatalf("record %+v", out)
	}
	long := &kgo.Record{Topic: strings.Repeat("t", 1000), Key: []byte(strings.Repeat("k", 1000))}
	q := topics.NewQuarantine(topics.QuarantineSourceOf(long), "g", nil, 1)
	if len(q.Key) != topics.MaxQuarantineKey || len(q.Source) != topics.MaxQuarantineHeader || q.Value.Error != "" || !q.Value.Truncated {
		t.Fatalf("bounds: key %d, source %d, %+v", len(q.Key), len(q.Source), q.Value)
	}
}

func TestBoundCutsOnARuneBoundary(t *testing.T) {
	s := topics.Bound("aé€😀", 6) // 1+2+3 bytes fit, the emoji does not
	if s != "aé€" {
		t.Fatalf("Bound = %q", s)
	}
}

func TestAnEventTimeFromTheFutureIsRefused(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	for _, c := range []struct {
		ms int64
		ok bool
	}{{now.UnixMilli(), true}, {now.UnixMilli() + 59_000, true}, {now.UnixMilli() - 86_400_000, true},
		{now.UnixMilli() + 61_000, false}, {4102444800000, false}, {0, false}, {-5, false}} {
		err := topics.CheckEventTime(c.ms, now, 0)
		if (err == nil) != c.ok {
			t.Errorf("CheckEventTime(%d) = %v, want ok=%v", c.ms, err, c.ok)
		}
	}
	// The reason of a far-future record (it goes into the quarantine record)
	// must not overflow into a negative distance.
	for _, ms := range []int64{253402300799000, math.MaxInt64} {
		if err := topics.CheckEventTime(ms, now, 0); err == nil || strings.Contains(err.Error(), " is -") {
			t.Errorf("CheckEventTime(%d) = %v, want a positive distance ahead", ms, err)
		}
	}
}
