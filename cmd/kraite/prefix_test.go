package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// TestTwoPrefixesOnOneBrokerNeverShareAGroupOrARecord runs the consuming
// components of two deployments (prefixes "a." and "b.") against one
// broker: every group is named under its own prefix, each deployment's
// groups commit only on its own topics, and a frame published to a. never
// reaches b.'s database (issue 11 point 7: the sinks' groups used to be
// "kraite-sink-*" whatever the prefix, so two deployments consumed each
// other's topics).
func TestTwoPrefixesOnOneBrokerNeverShareAGroupOrARecord(t *testing.T) {
	b := testkit.Broker(t, "a.")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := topics.Apply(context.Background(), cl, "b.", topics.All(), 1); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	t.Setenv("KRAITE_BROKERS", b.Addr())
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	t.Setenv("KRAITE_HTTP_ADDR", "127.0.0.1:0")
	dir := t.TempDir()
	t.Setenv("KRAITE_STATE_DIR", filepath.Join(dir, "state"))
	frame := testkit.SharedFile(t, "binance-frames/moxt-ORDER_TRADE_UPDATE-2.json")
	components := "dispatch,audit-sink,orders-sink,markprice-sink"
	run := func(prefix string) (*kraiteProc, *db.DB) {
		url := "sqlite://" + filepath.Join(dir, strings.TrimSuffix(prefix, ".")+".db")
		t.Setenv("KRAITE_TOPIC_PREFIX", prefix)
		t.Setenv("KRAITE_DATABASE_URL", url)
		p := startKraite(t, "run", "--components", components)
		testkit.Eventually(t, 60*time.Second, "the "+prefix+" groups to form", func() bool {
			for _, g := range []topics.GroupSpec{topics.GroupDispatch, topics.GroupSinkAudit, topics.GroupSinkOrders, topics.GroupSinkMarkPrice} {
				d, err := adm.DescribeGroups(context.Background(), g.Name(prefix))
				if err != nil || d[g.Name(prefix)].State != "Stable" {
					return false
				}
			}
			return true
		})
		d, err := db.Open(context.Background(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return p, d
	}

	pa, da := run("a.")
	prod, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	rec := &kgo.Record{Topic: topics.UserDataStream.Name("a."), Key: []byte("acct-1"), Value: frame,
		Headers: topics.FrameHeaders(topics.ExchangeBinance, "acct-1", "c1", topics.KindFrame, topics.SourceStream, time.Now())}
	if err := prod.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); dbtest.Count(t, da, "FROM api_data_stream") != 1 || dbtest.Count(t, da, "FROM orders") != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a.'s frame did not reach a.'s tables: %d audit rows, %d orders\n%s",
				dbtest.Count(t, da, "FROM api_data_stream"), dbtest.Count(t, da, "FROM orders"), pa.out)
		}
	}
	pa.stop(t)

	pb, dbb := run("b.")
	time.Sleep(2 * time.Second) // b.'s sinks poll a few times; a shared group or topic would deliver a.'s frame
	if n, m := dbtest.Count(t, dbb, "FROM api_data_stream"), dbtest.Count(t, dbb, "FROM orders"); n != 0 || m != 0 {
		t.Fatalf("b.'s database got a.'s frame: %d audit rows, %d orders", n, m)
	}
	pb.stop(t)

	listed, err := adm.ListGroups(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, g := range listed.Groups() {
		prefix := g[:strings.Index(g, ".")+1]
		if prefix != "a." && prefix != "b." {
			t.Errorf("group %q is named under neither prefix", g)
			continue
		}
		seen[strings.TrimPrefix(g, prefix)+"@"+prefix] = true
		offs, err := adm.FetchOffsets(context.Background(), g)
		if err != nil {
			t.Fatal(err)
		}
		offs.Each(func(o kadm.OffsetResponse) {
			if !strings.HasPrefix(o.Topic, prefix) {
				t.Errorf("group %s committed on another deployment's topic %s", g, o.Topic)
			}
		})
	}
	for _, g := range []topics.GroupSpec{topics.GroupDispatch, topics.GroupSinkAudit, topics.GroupSinkOrders, topics.GroupSinkMarkPrice} {
		if !seen[g.Suffix+"@a."] || !seen[g.Suffix+"@b."] {
			t.Errorf("group %s is missing under a prefix: %v", g.Suffix, seen)
		}
	}
}
