package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

const goodFrame = `{"e":"ORDER_TRADE_UPDATE","E":%d,"T":%d,"o":{"s":"BTCUSDT","x":"TRADE","X":"FILLED","i":%d}}`

func frameRec(prefix, acc string, n int, headers []kgo.RecordHeader) *kgo.Record {
	now := time.Now().UnixMilli()
	return &kgo.Record{Topic: topics.UserDataStream.Name(prefix), Key: []byte(acc),
		Value: fmt.Appendf(nil, goodFrame, now, now, n), Headers: headers}
}

func goodHeaders(acc string) []kgo.RecordHeader {
	return topics.FrameHeaders("binance", acc, "c1", topics.KindFrame, topics.SourceStream, time.Now())
}

// withHeader returns the good headers of acc with key set to value (added
// when absent; removed when value is nil).
func withHeader(acc, key string, value []byte) []kgo.RecordHeader {
	var out []kgo.RecordHeader
	found := false
	for _, h := range goodHeaders(acc) {
		if h.Key == key {
			found = true
			if value == nil {
				continue
			}
			h.Value = value
		}
		out = append(out, h)
	}
	if !found && value != nil {
		out = append(out, kgo.RecordHeader{Key: key, Value: value})
	}
	return out
}

func newAuditSink(t *testing.T, env *sinktest.Env, d *db.DB, group string) *Sink {
	t.Helper()
	s, err := New(Config{SinkConfig: SinkConfig{Kafka: env.Kafka(), Prefix: env.Prefix, Group: group, MaxBatch: 50,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}}, d, sinktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Issue 10 item 3: records with a bad header, interleaved with good frames
// of other accounts, produced over TCP into a running sink. Every record is
// audited (with storable values), each hostile one is in quarantine with its
// reason, the offsets are committed, and no absurd time is stored.
func TestAuditSinkHostileHeaders(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			env := sinktest.Start(t)
			s := newAuditSink(t, env, d, "audit")
			r := sinktest.Run(t, s.Run)
			p := env.Prefix
			future := time.Now().Add(time.Hour).UnixMilli()
			hostile := map[string]*kgo.Record{
				"received_at header: invalid value":                                frameRec(p, "acc-h1", 1, withHeader("acc-h1", topics.HeaderReceivedAt, []byte("9999-12-31T23:59:59-23:59"))),
				"received_at header missing":                                       frameRec(p, "acc-h2", 2, withHeader("acc-h2", topics.HeaderReceivedAt, nil)),
				"does not parse as RFC 3339":                                       frameRec(p, "acc-h3", 3, withHeader("acc-h3", topics.HeaderReceivedAt, []byte("yesterday"))),
				"ahead of this consumer's clock":                                   frameRec(p, "acc-h4", 4, withHeader("acc-h4", topics.HeaderReceivedAt, []byte(time.Now().Add(24*time.Hour).Format(time.RFC3339Nano)))),
				"account header: invalid value: \"\\xff\\xfe\" is not valid UTF-8": frameRec(p, "acc-h5", 5, withHeader("acc-h5", topics.HeaderAccount, []byte("\xff\xfe"))),
				"account header: invalid value":                                    frameRec(p, "acc-h6", 6, withHeader("acc-h6", topics.HeaderAccount, []byte(strings.Repeat("a", 300)))),
				"contains a NUL byte":                                              frameRec(p, "acc-h7", 7, withHeader("acc-h7", topics.HeaderAccount, []byte("acc\x00x"))),
				"is not a known exchange":                                          frameRec(p, "acc-h8", 8, withHeader("acc-h8", topics.HeaderExchange, []byte("ftx"))),
				"is not frame, gap or backfill":                                    frameRec(p, "acc-h9", 9, withHeader("acc-h9", topics.HeaderKind, []byte("\xffweird"))),
				"event time stored as 0":                                           {Topic: topics.UserDataStream.Name(p), Key: []byte("acc-h10"), Value: fmt.Appendf(nil, goodFrame, future, future, 10), Headers: goodHeaders("acc-h10")},
				"source header":                                                    frameRec(p, "acc-h11", 11, withHeader("acc-h11", topics.HeaderSource, []byte("mars"))),
				"no account header, and the key":                                   {Topic: topics.UserDataStream.Name(p), Key: []byte("\xff"), Value: fmt.Appendf(nil, goodFrame, 1, 1, 12), Headers: withHeader("x", topics.HeaderAccount, nil)},
			}
			var recs []*kgo.Record
			reasons := map[*kgo.Record]string{}
			i := 0
			for reason, h := range hostile {
				// good frames of two other accounts around every hostile one
				recs = append(recs, frameRec(p, "acc-a", 100+i, goodHeaders("acc-a")), h, frameRec(p, "acc-b", 200+i, goodHeaders("acc-b")))
				reasons[h] = reason
				i++
			}
			env.Produce(t, recs...)
			env.WaitCommitted(t, "audit", topics.UserDataStream.Name(p), 30*time.Second)
			if n := dbtest.Count(t, d, "FROM api_data_stream"); n != len(recs) {
				t.Errorf("%d rows audited, want every record (%d)", n, len(recs))
			}
			for _, acc := range []string{"acc-a", "acc-b"} {
				if n := dbtest.Count(t, d, "FROM api_data_stream WHERE account = ?", acc); n != len(hostile) {
					t.Errorf("%s: %d rows, want %d", acc, n, len(hostile))
				}
			}
			if n := dbtest.Count(t, d, "FROM api_data_stream WHERE received_at > ? OR received_at < ?",
				time.Now().Add(2*time.Minute).UTC(), time.Now().Add(-time.Hour).UTC()); n != 0 {
				t.Errorf("%d rows with an absurd received_at", n)
			}
			if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_time > ?", time.Now().Add(2*time.Minute).UnixMilli()); n != 0 {
				t.Errorf("%d rows with an event time in the future", n)
			}
			q := env.Quarantined(t, len(hostile), 10*time.Second)
			if len(q) != len(hostile) {
				t.Errorf("%d records quarantined, want %d", len(q), len(hostile))
			}
			for h, reason := range reasons {
				got, ok := q[sinktest.PosOf(h)]
				if !ok {
					t.Errorf("%q: not in quarantine", reason)
					continue
				}
				if !strings.Contains(got.Error, reason) || got.Consumer != "audit" {
					t.Errorf("quarantined with %q by %q, want a reason containing %q", got.Error, got.Consumer, reason)
				}
			}
			if !s.Healthy() {
				t.Error("sink unhealthy")
			}
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// A row the database refuses (here: an account longer than a narrowed
// column, so MariaDB answers 1406 and PostgreSQL 22001) is found by
// bisecting the batch and quarantined with the database's reason; every
// other row of the batch is written and the offsets move on.
func TestAuditSinkQuarantinesWhatTheDatabaseRefuses(t *testing.T) {
	for _, f := range dbtest.All()[:2] {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			alter := "ALTER TABLE api_data_stream MODIFY account VARCHAR(10) NOT NULL"
			if d.Dialect == db.Postgres {
				alter = "ALTER TABLE api_data_stream ALTER COLUMN account TYPE VARCHAR(10)"
			}
			if _, err := d.ExecContext(context.Background(), alter); err != nil {
				t.Fatal(err)
			}
			env := sinktest.Start(t)
			var recs []*kgo.Record
			for i := range 30 {
				recs = append(recs, frameRec(env.Prefix, "acc-ok", i, goodHeaders("acc-ok")))
			}
			long := frameRec(env.Prefix, "acc-ok", 99, withHeader("acc-ok", topics.HeaderAccount, []byte("acc-much-too-long")))
			recs = append(recs[:17], append([]*kgo.Record{long}, recs[17:]...)...)
			env.Produce(t, recs...)
			s := newAuditSink(t, env, d, "audit")
			r := sinktest.Run(t, s.Run)
			env.WaitCommitted(t, "audit", topics.UserDataStream.Name(env.Prefix), 30*time.Second)
			if n := dbtest.Count(t, d, "FROM api_data_stream"); n != 30 {
				t.Errorf("%d rows, want the 30 good ones", n)
			}
			q := env.Quarantined(t, 1, 10*time.Second)
			got, ok := q[sinktest.PosOf(long)]
			if len(q) != 1 || !ok || !strings.Contains(got.Error, "refused by the database") {
				t.Errorf("quarantine = %+v", q)
			}
			t.Logf("reason: %s", got.Error)
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// An outage is not a bad record: with the database unreachable the batch
// is retried until it comes back, nothing is lost and nothing quarantined.
func TestAuditSinkOutageIsRetriedNotQuarantined(t *testing.T) {
	d := dbtest.MySQL(t)
	env := sinktest.Start(t)
	pd, proxy := sinktest.DBBehindProxy(t, d)
	s := newAuditSink(t, env, pd, "audit")
	r := sinktest.Run(t, s.Run)
	proxy.Down()
	var recs []*kgo.Record
	for i := range 40 {
		recs = append(recs, frameRec(env.Prefix, fmt.Sprintf("acc-%d", i%4), i, goodHeaders(fmt.Sprintf("acc-%d", i%4))))
	}
	env.Produce(t, recs...)
	testkit.Eventually(t, 10*time.Second, "the sink to report unhealthy", func() error {
		if s.Healthy() {
			return errors.New("still healthy")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // several retries while down
	proxy.Up()
	env.WaitCommitted(t, "audit", topics.UserDataStream.Name(env.Prefix), 30*time.Second)
	if n := dbtest.Count(t, d, "FROM api_data_stream"); n != len(recs) {
		t.Errorf("%d rows after the outage, want %d", n, len(recs))
	}
	env.NoneQuarantined(t, time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

// Issue 10 item 2 on the audit side: a 200 KB invalid frame of '<' (its
// quarantine record once grew to 1.2 MB and the sink retried the produce
// forever) and a run of 900 KB frames (together past MariaDB's 16 MiB
// max_allowed_packet in one statement) are audited, the invalid one is
// quarantined bounded, and the sink moves on.
func TestAuditSinkLargeFrames(t *testing.T) {
	d := dbtest.MySQL(t)
	env := sinktest.Start(t)
	topic := topics.UserDataStream.Name(env.Prefix)
	lt := &kgo.Record{Topic: topic, Key: []byte("acc-big"), Value: []byte(strings.Repeat("<", 200<<10)), Headers: goodHeaders("acc-big")}
	recs := []*kgo.Record{lt}
	pad := strings.Repeat("x", 900<<10)
	for i := range 30 {
		now := time.Now().UnixMilli()
		v := fmt.Sprintf(`{"e":"ACCOUNT_UPDATE","E":%d,"T":%d,"pad":"%s","n":%d}`, now, now, pad, i)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte("acc-big"), Value: []byte(v), Headers: goodHeaders("acc-big")})
	}
	recs = append(recs, frameRec(env.Prefix, "acc-small", 1, goodHeaders("acc-small")))
	env.Produce(t, recs...)
	s := newAuditSink(t, env, d, "audit")
	r := sinktest.Run(t, s.Run)
	env.WaitCommitted(t, "audit", topic, 60*time.Second)
	if n := dbtest.Count(t, d, "FROM api_data_stream"); n != len(recs) {
		t.Errorf("%d rows, want %d", n, len(recs))
	}
	raw := env.Consume(t, topics.Quarantine.Name(env.Prefix), 1, 10*time.Second)
	if len(raw) != 1 || len(raw[0].Value) > topics.MaxQuarantineBytes {
		t.Fatalf("quarantine: %d records", len(raw))
	}
	q := env.Quarantined(t, 1, 5*time.Second)[sinktest.PosOf(lt)]
	if !q.Truncated || q.ValueBytes != 200<<10 {
		t.Errorf("quarantine record of the '<' frame: truncated %v, %d bytes", q.Truncated, q.ValueBytes)
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteTakesBatchesPastMaxAllowedPacket: 30 rows of 900 KB in one
// Write (27 MB, past MariaDB's 16 MiB max_allowed_packet) are written.
func TestWriteTakesBatchesPastMaxAllowedPacket(t *testing.T) {
	d := dbtest.MySQL(t)
	pad := strings.Repeat("x", 900<<10)
	rows := make([]Row, 30)
	for i := range rows {
		rows[i] = Row{Exchange: "binance", Account: "a", EventType: "X", Payload: pad, SourceTopic: "t", SourceOffset: int64(i)}
	}
	if err := Write(context.Background(), d, rows); err != nil {
		t.Fatal(err)
	}
	if n := dbtest.Count(t, d, "FROM api_data_stream"); n != len(rows) {
		t.Fatalf("%d rows", n)
	}
}
