package regimehistory

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

const dump = "SELECT scope, from_band, to_band, score, at_ms, cooldown_until_ms, inputs, gate, degraded FROM regime_history ORDER BY at_ms, to_band"

func newSink(t *testing.T, env *sinktest.Env, d *db.DB, group string) *Sink {
	t.Helper()
	s, err := New(Config{SinkConfig: SinkConfig{Kafka: env.Kafka(), Prefix: env.Prefix, Group: group,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}},
		d, sinktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// runUntilCommitted runs a sink of group until it committed everything on
// regime-changes, then stops it.
func runUntilCommitted(t *testing.T, env *sinktest.Env, d *db.DB, group string) {
	t.Helper()
	r := sinktest.Run(t, newSink(t, env, d, group).Run)
	env.WaitCommitted(t, group, topics.RegimeChanges.Name(env.Prefix), 30*time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestRegimeHistorySinkContract(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			env := sinktest.Start(t)
			cs := realChanges(t)
			env.Produce(t, changeRecords(t, env.Prefix, cs)...)
			runUntilCommitted(t, env, d, "rh-0")
			if n := dbtest.Count(t, d, "FROM regime_history"); n != len(cs) {
				t.Fatalf("%d rows, want %d", n, len(cs))
			}
			first := dbtest.Dump(t, d, dump)
			// A full replay (a new group) and the same records produced
			// again (a producer retry) change nothing.
			env.Produce(t, changeRecords(t, env.Prefix, cs)...)
			runUntilCommitted(t, env, d, "rh-1")
			runUntilCommitted(t, env, d, "rh-0")
			if again := dbtest.Dump(t, d, dump); !slices.EqualFunc(first, again, slices.Equal) {
				t.Fatalf("replay changed the table:\n%v\n%v", first, again)
			}
			env.NoneQuarantined(t, time.Second)
			// What was stored is what the regime wrote.
			for i, c := range cs {
				row := first[i]
				if row[0] != c.Scope || row[1] != c.From || row[2] != c.To || row[4] != fmt.Sprint(c.AtMs) || row[7] != c.Gate {
					t.Fatalf("row %d = %v, change %+v", i, row, c)
				}
				if want := c.Degraded; (want == "" && row[8] != "NULL") || (want != "" && row[8] != want) {
					t.Fatalf("row %d degraded %q, want %q", i, row[8], want)
				}
			}
			if n := dbtest.Count(t, d, "FROM regime_history WHERE gate = 'degraded' AND degraded IS NOT NULL"); n == 0 {
				t.Error("no degraded change stored with its reason")
			}
			if n := dbtest.Count(t, d, "FROM regime_history WHERE to_band = 'Critical' AND gate = 'blocked'"); n == 0 {
				t.Error("no entry into Critical stored")
			}
		})
	}
}

// Hostile records among real ones: each is quarantined with its reason,
// every real one is written, nothing absurd is stored, and the offsets
// move past all of them.
func TestRegimeHistorySinkHostileRecords(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			env := sinktest.Start(t)
			cs := realChanges(t)
			good := changeRecords(t, env.Prefix, cs)
			hostile := hostileChanges(t, cs[0])
			var recs, bad []*kgo.Record
			for i, g := range good {
				recs = append(recs, g)
				if i < len(hostile) {
					h := &kgo.Record{Topic: topics.RegimeChanges.Name(env.Prefix), Key: []byte(hostile[i].key), Value: hostile[i].value}
					recs, bad = append(recs, h), append(bad, h)
				}
			}
			for _, h := range hostile[min(len(good), len(hostile)):] {
				r := &kgo.Record{Topic: topics.RegimeChanges.Name(env.Prefix), Key: []byte(h.key), Value: h.value}
				recs, bad = append(recs, r), append(bad, r)
			}
			env.Produce(t, recs...)
			runUntilCommitted(t, env, d, "rh")
			if n := dbtest.Count(t, d, "FROM regime_history"); n != len(good) {
				t.Errorf("%d rows, want the %d real ones", n, len(good))
			}
			q := env.Quarantined(t, len(bad), 20*time.Second)
			for i, b := range bad {
				got, ok := q[sinktest.PosOf(b)]
				if !ok {
					t.Errorf("%s not quarantined", hostile[i].name)
					continue
				}
				if !strings.Contains(got.Error, hostile[i].reason) || got.Consumer != "rh" {
					t.Errorf("%s quarantined as %q by %q", hostile[i].name, got.Error, got.Consumer)
				}
			}
			if len(q) != len(bad) {
				t.Errorf("%d quarantined, want %d", len(q), len(bad))
			}
			t.Logf("%d real changes written, %d hostile records quarantined", len(good), len(q))
			if n := dbtest.Count(t, d, "FROM regime_history WHERE score < 0 OR score > 100 OR at_ms > ? OR cooldown_until_ms > ?",
				time.Now().Add(time.Minute).UnixMilli(), time.Now().Add(8*24*time.Hour).UnixMilli()); n != 0 {
				t.Errorf("%d absurd rows stored", n)
			}
		})
	}
}

// A row the database refuses (degraded narrowed to 10 characters, so
// MariaDB answers 1406 and PostgreSQL 22001) is found by bisecting the
// batch and quarantined; the rest is written.
func TestRegimeHistorySinkQuarantinesWhatTheDatabaseRefuses(t *testing.T) {
	for _, f := range dbtest.All()[:2] {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			alter := "ALTER TABLE regime_history MODIFY degraded VARCHAR(10) NULL"
			if d.Dialect == db.Postgres {
				alter = "ALTER TABLE regime_history ALTER COLUMN degraded TYPE VARCHAR(10)"
			}
			if _, err := d.ExecContext(context.Background(), alter); err != nil {
				t.Fatal(err)
			}
			env := sinktest.Start(t)
			var recs, refused []*kgo.Record
			for _, r := range changeRecords(t, env.Prefix, realChanges(t)) {
				recs = append(recs, r)
				if strings.Contains(string(r.Value), `"degraded":"`) {
					refused = append(refused, r)
				}
			}
			if len(refused) == 0 {
				t.Fatal("no degraded change among the real ones")
			}
			env.Produce(t, recs...)
			runUntilCommitted(t, env, d, "rh")
			if n := dbtest.Count(t, d, "FROM regime_history"); n != len(recs)-len(refused) {
				t.Errorf("%d rows, want %d", n, len(recs)-len(refused))
			}
			q := env.Quarantined(t, len(refused), 10*time.Second)
			for _, r := range refused {
				if got, ok := q[sinktest.PosOf(r)]; !ok || !strings.Contains(got.Error, "refused by the database") {
					t.Errorf("record %d: quarantine %+v", r.Offset, got)
				}
			}
		})
	}
}

// An outage is not a bad record: with the database unreachable the batch
// is retried until it comes back, nothing is lost and nothing quarantined.
func TestRegimeHistorySinkOutageIsRetriedNotQuarantined(t *testing.T) {
	d := dbtest.MySQL(t)
	env := sinktest.Start(t)
	pd, proxy := sinktest.DBBehindProxy(t, d)
	s := newSink(t, env, pd, "rh")
	r := sinktest.Run(t, s.Run)
	proxy.Down()
	cs := realChanges(t)
	env.Produce(t, changeRecords(t, env.Prefix, cs)...)
	testkit.Eventually(t, 10*time.Second, "the sink to report unhealthy", func() error {
		if s.Healthy() {
			return errors.New("still healthy")
		}
		return nil
	})
	time.Sleep(500 * time.Millisecond) // several retries while down
	proxy.Up()
	env.WaitCommitted(t, "rh", topics.RegimeChanges.Name(env.Prefix), 30*time.Second)
	if n := dbtest.Count(t, d, "FROM regime_history"); n != len(cs) {
		t.Errorf("%d rows after the outage, want %d", n, len(cs))
	}
	if !s.Healthy() {
		t.Error("not healthy after the database came back")
	}
	env.NoneQuarantined(t, time.Second)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
}

func TestNewNamesItsGroupFromThePrefix(t *testing.T) {
	s, err := New(Config{SinkConfig: SinkConfig{Kafka: kclient.ForBrokers("127.0.0.1:1"), Prefix: "blue."}}, &db.DB{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.cfg.Group != "blue.sink.regime-history" {
		t.Fatalf("group %q", s.cfg.Group)
	}
	if _, err := New(Config{}, &db.DB{}, nil); err == nil {
		t.Fatal("a config without brokers was accepted")
	}
}
