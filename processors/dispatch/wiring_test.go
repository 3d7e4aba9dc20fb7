package dispatch

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

func frameHeaders(account string) []kgo.RecordHeader {
	return topics.FrameHeaders("binance", account, "c1", topics.KindFrame, topics.SourceStream, time.Unix(0, 0))
}

func startDispatch(t *testing.T, c *ptest.Cluster, m *Metrics) *ptest.Running {
	t.Helper()
	p, err := New(Config{Brokers: c.Brokers(), ViewOptions: ptest.ViewOptions(), Prefix: ptest.Prefix, Metrics: m},
		ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	return ptest.Run(t, p)
}

// setAllowlist publishes a list and waits until the running processor's
// lookup view has applied it, so the next record must obey it.
func setAllowlist(t *testing.T, c *ptest.Cluster, r *ptest.Running, types ...string) {
	t.Helper()
	rec, err := AllowlistRecord(ptest.Prefix, topics.AllowlistValue{Exchange: "binance", Types: types})
	if err != nil {
		t.Fatal(err)
	}
	rec = c.Produce(t, rec.Topic, string(rec.Key), rec.Value)
	table := string(AllowlistTable(ptest.Prefix))
	testkit.Eventually(t, 30*time.Second, "the allowlist flip to reach the processor", func() bool {
		return ptest.LookupOffset(r.R, table) >= rec.Offset
	})
}

func execTypes(t *testing.T, recs []*kgo.Record) []string {
	t.Helper()
	var out []string
	for _, r := range recs {
		var oe topics.OrderEvent
		if err := json.Unmarshal(r.Value, &oe); err != nil {
			t.Fatal(err)
		}
		out = append(out, oe.ExecutionType)
	}
	return out
}

func TestKafkaAllowlistFlipAndShadowModeWithoutRestart(t *testing.T) {
	frames := allFrames(t)
	c := ptest.StartCluster(t)
	m, _ := NewMetrics(nil)
	r := startDispatch(t, c, m)
	orders := c.NewReader(t, string(OrdersTopic(ptest.Prefix)))
	in := string(InputTopic(ptest.Prefix))

	c.Produce(t, in, "acct-1", frames["moxt-ORDER_TRADE_UPDATE-1.json"], frameHeaders("acct-1")...)     // NEW: off
	c.Produce(t, in, "acct-1", frames["nautilus-ORDER_TRADE_UPDATE-6.json"], frameHeaders("acct-1")...) // TRADE
	orders.WaitFor(t, 1, 30*time.Second)

	setAllowlist(t, c, r, "NEW")
	c.Produce(t, in, "acct-1", frames["moxt-ORDER_TRADE_UPDATE-1.json"], frameHeaders("acct-1")...)
	c.Produce(t, in, "acct-1", frames["nautilus-ORDER_TRADE_UPDATE-6.json"], frameHeaders("acct-1")...)
	got := orders.WaitFor(t, 2, 30*time.Second)

	setAllowlist(t, c, r) // shadow mode
	for _, f := range frames {
		c.Produce(t, in, "acct-2", f, frameHeaders("acct-2")...)
	}
	testkit.Eventually(t, 30*time.Second, "every frame to be counted as shadowed", func() bool {
		if n := shadowedTotal(m, frames); n != float64(len(frames)) {
			t.Logf("shadowed %v of %d", n, len(frames))
			return false
		}
		return true
	})
	got = orders.Quiet(300 * time.Millisecond)
	if types := execTypes(t, got); len(types) != 2 || types[0] != "TRADE" || types[1] != "NEW" {
		t.Fatalf("dispatched %v, want [TRADE NEW]:%s", types, ptest.Describe(got))
	}
}

func shadowedTotal(m *Metrics, frames map[string][]byte) float64 {
	seen := map[string]bool{}
	var n float64
	for _, f := range frames {
		ev, err := decode("binance", f)
		if err != nil {
			continue
		}
		label := labels("binance", ev.ExecutionType(), Shadowed)[1] // several types may share one
		if seen[label] {
			continue
		}
		seen[label] = true
		n += m.Count("binance", ev.ExecutionType(), Shadowed)
	}
	return n
}

func TestKafkaTwoInstancesSplitPartitionsAndFailOver(t *testing.T) {
	trade := frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	c := ptest.StartCluster(t)
	a := startDispatch(t, c, nil)
	b := startDispatch(t, c, nil)
	testkit.Eventually(t, 30*time.Second, "both instances to own partitions", func() bool {
		pa, pb := ptest.Partitions(a.P), ptest.Partitions(b.P)
		return len(pa) > 0 && len(pb) > 0 && len(pa)+len(pb) == int(topics.UserDataStream.Partitions)
	})
	orders := c.NewReader(t, string(OrdersTopic(ptest.Prefix)))
	in := string(InputTopic(ptest.Prefix))
	produce := func(n, from int) {
		for i := range n {
			acct := fmt.Sprintf("acct-%d", (from+i)%40)
			c.Produce(t, in, acct, trade, frameHeaders(acct)...)
		}
	}
	produce(60, 0)
	orders.WaitFor(t, 60, 20*time.Second)
	if err := b.Stop(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the survivor to own every partition", func() bool {
		return len(ptest.Partitions(a.P)) == int(topics.UserDataStream.Partitions)
	})
	produce(60, 60)
	got := orders.WaitFor(t, 120, 20*time.Second)
	got = orders.Quiet(500 * time.Millisecond)
	seen := map[string]bool{}
	for _, r := range got {
		var oe topics.OrderEvent
		if err := json.Unmarshal(r.Value, &oe); err != nil {
			t.Fatal(err)
		}
		k := fmt.Sprintf("%d/%d", oe.SourcePartition, oe.SourceOffset)
		if seen[k] {
			t.Fatalf("source record %s dispatched twice", k)
		}
		seen[k] = true
	}
	if len(got) != 120 {
		t.Fatalf("dispatched %d events, want 120", len(got))
	}
}

// waitGuard waits until r's allowlist Guard handled n records in all.
func waitGuard(t *testing.T, r *ptest.Running, n int64) {
	t.Helper()
	g := r.R.Guards()[0]
	testkit.Eventually(t, 30*time.Second, "the allowlist view to handle the record", func() bool { return g.Seen() >= n })
}

// stillRunning fails the test if the processor stopped.
func stillRunning(t *testing.T, r *ptest.Running) {
	t.Helper()
	select {
	case <-r.R.Done():
		t.Fatalf("the processor stopped: %v", r.R.Err())
	default:
	}
}

// Issue 10 item 7 over Kafka: a garbage allowlist record after the operator
// narrowed the list does not bring TRADE back; it is quarantined.
func TestKafkaGarbageAllowlistAfterANarrowedListKeepsTradeOff(t *testing.T) {
	newFrame, trade := frame(t, "moxt-ORDER_TRADE_UPDATE-1.json"), frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	c := ptest.StartCluster(t)
	r := startDispatch(t, c, nil)
	orders := c.NewReader(t, string(OrdersTopic(ptest.Prefix)))
	quar := c.NewReader(t, string(QuarantineTopic(ptest.Prefix)))
	in := string(InputTopic(ptest.Prefix))

	setAllowlist(t, c, r, "NEW")
	c.Produce(t, string(AllowlistTable(ptest.Prefix)), "binance", []byte(`{"exchange":"binance","types":["TRADE","EVERYTHING"]}`))
	c.Produce(t, string(AllowlistTable(ptest.Prefix)), "binance", []byte(`{garbage`))
	waitGuard(t, r, 3)

	c.Produce(t, in, "acct-1", trade, frameHeaders("acct-1")...)
	c.Produce(t, in, "acct-1", newFrame, frameHeaders("acct-1")...)
	orders.WaitFor(t, 1, 30*time.Second)
	got := orders.Quiet(500 * time.Millisecond)
	if types := execTypes(t, got); len(types) != 1 || types[0] != "NEW" {
		t.Fatalf("dispatched %v, want [NEW]", types)
	}
	qs := ptest.Decode[topics.QuarantineRecord](t, quar.WaitFor(t, 2, 30*time.Second))
	for _, q := range qs {
		if q.SourceTopic != string(AllowlistTable(ptest.Prefix)) || q.Consumer != string(Group(ptest.Prefix)) {
			t.Fatalf("quarantine record %+v", q)
		}
	}
	if a := r.R.Alerts(); len(a) != 1 || !a[0].KeptLastGood || a[0].Offset != 2 {
		t.Fatalf("alerts %+v", a)
	}
	stillRunning(t, r)
}

// Issue 10 item 2: a 200 KB invalid frame neither stops dispatch nor makes
// a quarantine record the producer refuses; the next good frame is
// dispatched.
func TestKafkaHugeInvalidFrameIsQuarantinedAndDispatchGoesOn(t *testing.T) {
	trade := frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	c := ptest.StartCluster(t)
	r := startDispatch(t, c, nil)
	orders := c.NewReader(t, string(OrdersTopic(ptest.Prefix)))
	quar := c.NewReader(t, string(QuarantineTopic(ptest.Prefix)))
	in := string(InputTopic(ptest.Prefix))

	huge := []byte(`{"e":"ORDER_TRADE_UPDATE","E":1,"o":"` + strings.Repeat("<", 200<<10) + `"}`)
	c.Produce(t, in, "acct-1", huge, frameHeaders("acct-1")...)
	c.Produce(t, in, "acct-1", trade, frameHeaders("acct-1")...)
	qs := quar.WaitFor(t, 1, 30*time.Second)
	if len(qs[0].Value) > topics.MaxQuarantineBytes {
		t.Fatalf("quarantine record of %d bytes (limit %d)", len(qs[0].Value), topics.MaxQuarantineBytes)
	}
	q := ptest.Decode[topics.QuarantineRecord](t, qs)[0]
	if !q.Truncated || q.ValueBytes != len(huge) || q.Key != "acct-1" {
		t.Fatalf("quarantine record: truncated=%v bytes=%d key=%q", q.Truncated, q.ValueBytes, q.Key)
	}
	if types := execTypes(t, orders.WaitFor(t, 1, 30*time.Second)); types[0] != "TRADE" {
		t.Fatalf("dispatched %v", types)
	}
	stillRunning(t, r)
}

// Issue 10 item 10: a record written to another partition than its key's
// (a producer with another partitioner) is quarantined and counted, not
// dispatched; the account's next record on the right partition is.
func TestKafkaRecordOnTheWrongPartitionIsQuarantined(t *testing.T) {
	trade := frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	c := ptest.StartCluster(t)
	m, _ := NewMetrics(nil)
	r := startDispatch(t, c, m)
	orders := c.NewReader(t, string(OrdersTopic(ptest.Prefix)))
	quar := c.NewReader(t, string(QuarantineTopic(ptest.Prefix)))
	in := string(InputTopic(ptest.Prefix))

	n := topics.UserDataStream.Partitions
	right := lookups.KeyPartition([]byte("acct-7"), n)
	c.ProduceToPartition(t, in, (right+1)%n, "acct-7", trade, frameHeaders("acct-7")...)
	c.Produce(t, in, "acct-7", trade, frameHeaders("acct-7")...)
	got := orders.WaitFor(t, 1, 30*time.Second)
	got = orders.Quiet(500 * time.Millisecond)
	if len(got) != 1 || got[0].Partition != right {
		t.Fatalf("dispatched %s", ptest.Describe(got))
	}
	if oe := ptest.Decode[topics.OrderEvent](t, got)[0]; oe.SourcePartition != right {
		t.Fatalf("dispatched the record of partition %d", oe.SourcePartition)
	}
	q := ptest.Decode[topics.QuarantineRecord](t, quar.WaitFor(t, 1, 30*time.Second))[0]
	if q.SourcePartition != (right+1)%n || !strings.Contains(q.Error, "hashes to partition") {
		t.Fatalf("quarantine record %+v", q)
	}
	if got := m.Count("binance", "wrong_partition", Quarantined); got != 1 {
		t.Fatalf("wrong_partition count %v", got)
	}
	stillRunning(t, r)
}

// After compaction a garbage record may be all that is left of an
// exchange's allowlist. The Guard then stores an unreadable marker; it is
// in the View's storage, so a restart on persistent (LevelDB) storage,
// which does not re-read the topic, still finds shadow mode, not the
// built-in default.
func TestKafkaUnreadableAllowlistIsShadowModeAcrossARestart(t *testing.T) {
	trade := frame(t, "nautilus-ORDER_TRADE_UPDATE-6.json")
	c := ptest.StartCluster(t)
	dir := t.TempDir()
	start := func() *ptest.Running {
		views := append(kclient.GokaViewOptions(1), goka.WithViewStorageBuilder(storage.DefaultBuilder(dir)))
		p, err := New(Config{Brokers: c.Brokers(), ViewOptions: views, Prefix: ptest.Prefix}, ptest.ProcessorOptions(nil)...)
		if err != nil {
			t.Fatal(err)
		}
		return ptest.Run(t, p)
	}
	orders := c.NewReader(t, string(OrdersTopic(ptest.Prefix)))
	in := string(InputTopic(ptest.Prefix))

	r := start()
	c.Produce(t, string(AllowlistTable(ptest.Prefix)), "binance", []byte(`{"exchange":"binance","types":"ALL"}`))
	waitGuard(t, r, 1)
	c.Produce(t, in, "acct-1", trade, frameHeaders("acct-1")...)
	if got := orders.Quiet(time.Second); len(got) != 0 {
		t.Fatalf("dispatched on an unreadable allowlist:%s", ptest.Describe(got))
	}
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}

	r = start()
	if n := r.R.Guards()[0].Seen(); n != 0 {
		t.Fatalf("the restarted View re-read %d records (want it to resume from its storage)", n)
	}
	c.Produce(t, in, "acct-2", trade, frameHeaders("acct-2")...)
	if got := orders.Quiet(2 * time.Second); len(got) != 0 {
		t.Fatalf("dispatched after a restart on an unreadable allowlist:%s", ptest.Describe(got))
	}
	setAllowlist(t, c, r, "TRADE")
	c.Produce(t, in, "acct-3", trade, frameHeaders("acct-3")...)
	if got := orders.WaitFor(t, 1, 30*time.Second); len(got) != 1 || string(got[0].Key) != "acct-3" {
		t.Fatalf("dispatched:%s", ptest.Describe(got))
	}
}
