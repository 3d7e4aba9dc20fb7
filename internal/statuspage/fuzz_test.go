package statuspage

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/topics"
)

// FuzzAnyRecordOnAFollowedTopic feeds arbitrary records to every topic the
// page follows (anyone with access may write them) and checks that the
// page never panics, its snapshot still encodes, its memory stays bounded,
// the allowlist it shows from the topic is one dispatch would accept, and
// an override it shows passed the page's check. Seeded with the records
// the system writes and real mark-price frames.
func FuzzAnyRecordOnAFollowedTopic(f *testing.F) {
	now := time.UnixMilli(1_800_000_000_000)
	j := func(v any) []byte { b, _ := json.Marshal(v); return b }
	f.Add(uint8(0), []byte("binance"), j(regimestate.State{Scope: "binance", AtMs: now.UnixMilli(), Score: 12, Band: regimestate.Calm, Degraded: "BTCUSDT silent"}), int64(0))
	f.Add(uint8(0), []byte("binance"), []byte(`{"band":"Euphoric","score":1e999}`), int64(0))
	f.Add(uint8(1), []byte("binance"), j(topics.RegimeChange{Scope: "binance", From: "Calm", To: "Critical", Score: 80, AtMs: now.UnixMilli()}), int64(0))
	f.Add(uint8(2), []byte(regimestate.OverrideScope), j(topics.Override{Scope: regimestate.OverrideScope, Action: "block", Reason: "r", CreatedMs: now.UnixMilli(), UntilMs: now.UnixMilli() + 1}), int64(0))
	f.Add(uint8(2), []byte(regimestate.OverrideScope), []byte(`{"scope":"global","action":"open"`), int64(0))
	f.Add(uint8(3), []byte("binance"), j(topics.AllowlistValue{Exchange: "binance", Types: []string{"TRADE"}}), int64(0))
	f.Add(uint8(3), []byte("binance"), []byte(nil), int64(0))
	f.Add(uint8(4), []byte("k"), j(topics.QuarantineRecord{SourceTopic: "t.allowlist", Key: "binance", Consumer: "t.dispatch",
		Error: "control record refused (no good value: readers fail closed): x"}), now.UnixMilli())
	f.Add(uint8(4), []byte("k"), []byte("<<<<"), int64(-1))
	f.Add(uint8(7), []byte("t.scheduler"), []byte(`{"leader":"box-1-scheduler","since":1799999000000,"at":1800000000000,"fired":{"order-sync":1799999990000}}`), now.UnixMilli())
	f.Add(uint8(7), []byte("t.scheduler"), []byte(`{"leader":"","since":-1,"at":9e99}`), now.UnixMilli())
	paths := testkit.SharedFiles(f, "binance-frames/*markPriceUpdate*.json")
	for _, p := range paths {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(uint8(5), []byte("binance"), b, now.UnixMilli())
		}
	}
	f.Fuzz(func(t *testing.T, topic uint8, key, value []byte, ts int64) {
		c := &Collector{cfg: Config{Kafka: kclient.ForBrokers("x"), Prefix: "t.", Quarantine: 5}.withDefaults()}
		c.st = newState("t.", time.Hour, 5)
		s := c.st
		ns := []string{s.n.table, s.n.changes, s.n.overrides, s.n.allowlist, s.n.quarantine, s.n.mark, s.n.rejected, s.n.lease}
		for i := range 3 { // the same record three times: duplicates change nothing more
			r := &kgo.Record{Topic: ns[int(topic)%len(ns)], Key: key, Value: value, Offset: int64(i), Timestamp: time.UnixMilli(ts)}
			s.mu.Lock()
			s.applyRecord(r, now)
			s.mu.Unlock()
		}
		snap := c.Snapshot(now)
		if _, err := json.Marshal(snap); err != nil {
			t.Fatalf("snapshot does not encode: %v", err)
		}
		if len(s.alerts) > maxAlerts || len(s.growth) > maxConsumers+1 || len(s.quar) > 5 || len(s.good) > maxGood || len(s.refusals) > maxRefusals {
			t.Fatalf("unbounded: %d alerts, %d consumers, %d quarantined", len(s.alerts), len(s.growth), len(s.quar))
		}
		for _, a := range snap.Allowlist.Exchanges {
			if a.Source == "topic" {
				if _, err := dispatch.CheckAllowlist(a.Exchange, value, now); err != nil {
					t.Fatalf("the page shows an allowlist dispatch refuses: %+v: %v", a, err)
				}
			}
		}
		if s.override != nil {
			if _, err := checkOverride(string(key), value); err != nil {
				t.Fatalf("the page shows an override it refuses: %v", err)
			}
		}
		for _, p := range snap.Problems {
			if p.Kind == "" || p.Severity == "" || p.Reason == "" {
				t.Fatalf("a problem without a kind, severity or reason: %+v", p)
			}
		}
	})
}
