package audit

import (
	"encoding/json"
	"fmt"
	"sort"
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

// realFrames returns the captured frames by file name.
func realFrames(t testing.TB) map[string][]byte {
	t.Helper()
	return testkit.ReadSharedFiles(t, "binance-frames/*.json")
}

// userDataRecords builds one record per real frame, plus a gap marker and a
// frame that is not JSON, all for account acc.
func userDataRecords(t testing.TB, prefix, acc string) []*kgo.Record {
	frames := realFrames(t)
	names := make([]string, 0, len(frames))
	for n := range frames {
		names = append(names, n)
	}
	sort.Strings(names)
	topic := topics.UserDataStream.Name(prefix)
	now := time.Now()
	var recs []*kgo.Record
	for _, n := range names {
		if strings.Contains(n, "markPrice") {
			continue
		}
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(acc), Value: frames[n],
			Headers: topics.FrameHeaders("binance", acc, "c1", topics.KindFrame, topics.SourceStream, now)})
	}
	gap, _ := json.Marshal(topics.GapMarker{Kind: "gap", Exchange: "binance", Account: acc, FromMs: 1, ToMs: 2})
	recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(acc), Value: gap,
		Headers: topics.FrameHeaders("binance", acc, "c1", topics.KindGap, topics.SourceStream, now)})
	recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(acc), Value: []byte("{not json\x00\xff"),
		Headers: topics.FrameHeaders("binance", acc, "c1", topics.KindFrame, topics.SourceStream, now)})
	return recs
}

func TestAuditSinkContract(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) { runAuditSuite(t, f.New) })
	}
}

func runAuditSuite(t *testing.T, newDB func(testing.TB) *db.DB) {
	t.Run("every frame is stored once even when the topic is replayed", func(t *testing.T) {
		d := newDB(t)
		env := sinktest.Start(t)
		recs := userDataRecords(t, env.Prefix, "acc-1")
		env.Produce(t, recs...)
		for round := range 2 { // round 1 is a new group: a full replay
			s, err := New(Config{SinkConfig: SinkConfig{Kafka: env.Kafka(), Prefix: env.Prefix,
				Group: fmt.Sprintf("audit-%d", round)}}, d, sinktest.Logger())
			if err != nil {
				t.Fatal(err)
			}
			r := sinktest.Run(t, s.Run)
			testkit.Eventually(t, 15*time.Second, "every row written", func() error {
				if n := dbtest.Count(t, d, "FROM api_data_stream"); n != len(recs) {
					return fmt.Errorf("round %d: %d rows, want %d", round, n, len(recs))
				}
				return nil
			})
			env.WaitCommitted(t, fmt.Sprintf("audit-%d", round), topics.UserDataStream.Name(env.Prefix), 15*time.Second)
			if err := r.Stop(); err != nil {
				t.Fatal(err)
			}
		}
		if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_type = 'ORDER_TRADE_UPDATE' AND execution_type = 'TRADE'"); n == 0 {
			t.Error("no ORDER_TRADE_UPDATE TRADE rows")
		}
		if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_type = 'gap' AND kind = 'gap'"); n != 1 {
			t.Errorf("gap rows = %d, want 1", n)
		}
		if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_type = ?", EventUnparseable); n != 1 {
			t.Errorf("unparseable rows = %d, want 1", n)
		}
		if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_type = 'listenKeyExpired' AND event_time > 0"); n == 0 {
			t.Error("listenKeyExpired with a string E was not stored with its event time")
		}
		// The frames' own T reaches transaction_time for every event that
		// carries one (TRADE_LITE's "t" is its trade id, not T).
		if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_type IN ('ORDER_TRADE_UPDATE', 'TRADE_LITE', 'ACCOUNT_CONFIG_UPDATE', 'ALGO_UPDATE') AND transaction_time <= 1000000000000"); n != 0 {
			t.Errorf("%d rows of events with a T have no transaction time", n)
		}
		if n := dbtest.Count(t, d, "FROM api_data_stream WHERE event_type = 'TRADE_LITE' AND transaction_time > 0"); n == 0 {
			t.Error("no TRADE_LITE row with its T")
		}
		q := env.Consume(t, topics.Quarantine.Name(env.Prefix), 2, 5*time.Second)
		if len(q) != 2 { // once per round: quarantine is at-least-once
			t.Errorf("quarantine has %d records, want 2", len(q))
		}
	})
}
