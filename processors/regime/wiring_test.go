package regime

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

func startRegime(t *testing.T, c *ptest.Cluster) *ptest.Running {
	t.Helper()
	cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	p, err := New(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	return ptest.Run(t, p)
}

// records is the Records count of the local state, or -1 when the key's
// partition is not owned by r.
func records(r *ptest.Running) int64 {
	v, err := r.P.Get(topics.ExchangeBinance)
	if err != nil {
		return -1
	}
	st, ok := v.(*State)
	if !ok || st == nil {
		return 0
	}
	return st.Records
}

// pureChanges replays frames through Step, as the processor must.
func pureChanges(t *testing.T, frames [][]byte) []topics.RegimeChange {
	t.Helper()
	cfg := DefaultConfig(nil, ptest.Prefix)
	st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	var out []topics.RegimeChange
	for _, f := range frames {
		at, ticks, err := DecodeTicks(f)
		if err != nil {
			t.Fatal(err)
		}
		var ch *topics.RegimeChange
		st, ch = Step(cfg, st, at, ticks, nil)
		if ch != nil {
			out = append(out, *ch)
		}
	}
	return out
}

func TestKafkaTwoRegimeInstancesFailOverWithStateFromTheChangelog(t *testing.T) {
	c := ptest.StartCluster(t)
	a, b := startRegime(t, c), startRegime(t, c)
	testkit.Eventually(t, 30*time.Second, "both instances to own partitions", func() bool {
		pa, pb := ptest.Partitions(a.P), ptest.Partitions(b.P)
		return len(pa) > 0 && len(pb) > 0 && len(pa)+len(pb) == int(topics.MarkPrice.Partitions)
	})
	_, frames := ptest.Crash().Frames()
	half := len(frames) / 2
	in := string(InputTopic(ptest.Prefix))
	for _, f := range frames[:half] {
		c.Produce(t, in, topics.ExchangeBinance, f)
	}
	testkit.Eventually(t, 30*time.Second, "the first half to be processed", func() bool {
		return records(a) == int64(half) || records(b) == int64(half)
	})
	owner, survivor := a, b
	if records(b) == int64(half) {
		owner, survivor = b, a
	}
	if err := owner.Stop(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 30*time.Second, "the survivor to own every partition", func() bool {
		return len(ptest.Partitions(survivor.P)) == int(topics.MarkPrice.Partitions)
	})
	for _, f := range frames[half:] {
		c.Produce(t, in, topics.ExchangeBinance, f)
	}
	testkit.Eventually(t, 30*time.Second, "every frame to be processed exactly once", func() bool {
		return records(survivor) >= int64(len(frames))
	})
	if n := records(survivor); n != int64(len(frames)) {
		t.Fatalf("state counts %d records, want %d", n, len(frames))
	}
	want := pureChanges(t, frames)
	recs := c.NewReader(t, string(ChangesTopic(ptest.Prefix))).WaitFor(t, len(want), 30*time.Second)
	var got []topics.RegimeChange
	for _, r := range recs {
		var ch topics.RegimeChange
		if err := json.Unmarshal(r.Value, &ch); err != nil {
			t.Fatal(err)
		}
		got = append(got, ch)
	}
	gb, _ := json.Marshal(got)
	wb, _ := json.Marshal(want)
	if string(gb) != string(wb) {
		t.Fatalf("changes over Kafka with a failover differ from the pure replay:\n got %s\nwant %s", gb, wb)
	}
}
