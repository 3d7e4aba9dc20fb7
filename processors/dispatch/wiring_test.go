package dispatch

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/testkit"
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
		return shadowedTotal(m, frames) == float64(len(frames))
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
		if err != nil || seen[ev.ExecutionType()] {
			continue
		}
		seen[ev.ExecutionType()] = true
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
