package regime

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// killChildEnv carries the broker address to the child process of
// TestKafkaKilledInstanceSurvivorBandsEqualAnUninterruptedRun.
const killChildEnv = "KRAITE_REGIME_KILL_CHILD_BROKER"

// killCheckpointEvery is small so that the kill lands between
// checkpoints and the survivor replays a window of input records.
const killCheckpointEvery = 25

// killKeys are two scopes in two partitions (binance hashes to 2, bitget
// to 1): however the two instances split the three partitions, the
// killed one owns at least one of them.
var killKeys = []string{topics.ExchangeBinance, "bitget"}

// TestRegimeKillChild is the instance the test kills: a regime processor
// in a process of its own, running until it is killed (SIGKILL: no
// shutdown, no last commit, writes in flight lost).
func TestRegimeKillChild(t *testing.T) {
	addr := os.Getenv(killChildEnv)
	if addr == "" {
		t.Skip("the child of TestKafkaKilledInstanceSurvivorBandsEqualAnUninterruptedRun")
	}
	cfg := DefaultConfig([]string{addr}, ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.CheckpointEvery = killCheckpointEvery
	p, err := New(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_ = p.Run(ctx)
}

// tableRecords follows the regime table's changelog: the Records of the
// newest value of each scope.
type tableRecords struct {
	r    *ptest.Reader
	last map[string]int64
}

func (tr *tableRecords) at(key string) int64 {
	for _, rec := range tr.r.Poll(200 * time.Millisecond) {
		var st State
		if json.Unmarshal(rec.Value, &st) == nil {
			tr.last[string(rec.Key)] = st.Records
		}
	}
	return tr.last[key]
}

// Two instances, one of them in a child process killed with SIGKILL in
// the middle of the stream, the other taking over its partitions: every
// scope's change sequence (band and gate, score, inputs) and final state
// equal those of an uninterrupted pure replay, every record is folded
// exactly once, and the survivor rebuilt at least one market from a
// checkpoint and the input since (not from an empty one).
func TestKafkaKilledInstanceSurvivorBandsEqualAnUninterruptedRun(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process and waits out a session timeout")
	}
	c := ptest.StartCluster(t)
	_, frames := ptest.Crash().Frames()
	in := string(InputTopic(ptest.Prefix))
	produce := func(fs [][]byte) {
		var recs []*kgo.Record
		for _, f := range fs {
			for _, k := range killKeys {
				recs = append(recs, &kgo.Record{Topic: in, Key: []byte(k), Value: f})
			}
		}
		c.ProduceBatch(t, recs)
	}
	table := &tableRecords{r: c.NewReader(t, string(Table(ptest.Prefix))), last: map[string]int64{}}
	waitRecords := func(what string, n int64) {
		t.Helper()
		testkit.Eventually(t, 60*time.Second, what, func() bool {
			for _, k := range killKeys {
				if table.at(k) < n {
					return false
				}
			}
			return true
		})
	}

	child := exec.Command(os.Args[0], "-test.run=^TestRegimeKillChild$", "-test.count=1")
	child.Env = append(os.Environ(), killChildEnv+"="+c.Addr)
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			_ = child.Process.Kill()
			_ = child.Wait()
		}
	})

	third := len(frames) / 3
	produce(frames[:third])
	waitRecords("the child to fold the first third", int64(third))

	cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.CheckpointEvery = killCheckpointEvery
	sp, rg, err := newRegime(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	survivor := ptest.Run(t, sp)
	testkit.Eventually(t, 60*time.Second, "the two instances to share the partitions", func() bool {
		n := len(ptest.Partitions(survivor.P))
		return n > 0 && n < int(topics.MarkPrice.Partitions)
	})

	produce(frames[third : 2*third])
	waitRecords("the second third under way", int64(third+third/2+7)) // between two checkpoints
	if err := child.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = child.Wait()
	killed = true
	testkit.Eventually(t, 90*time.Second, "the survivor to own every partition", func() bool {
		return len(ptest.Partitions(survivor.P)) == int(topics.MarkPrice.Partitions)
	})
	produce(frames[2*third:])

	get := func(key string) *State {
		v, err := survivor.P.Get(key)
		if err != nil {
			return nil
		}
		st, _ := v.(*State)
		return st
	}
	testkit.Eventually(t, 90*time.Second, "every frame of every scope to be folded", func() bool {
		for _, k := range killKeys {
			if st := get(k); st == nil || st.Records < int64(len(frames)) {
				return false
			}
		}
		return true
	})
	if rg.rebuilt.Load() == 0 || rg.lost.Load() != 0 {
		t.Fatalf("survivor rebuilt %d markets and lost %d; want at least one rebuilt and none lost", rg.rebuilt.Load(), rg.lost.Load())
	}

	want := pureChanges(t, frames)
	pure := pureState(t, frames)
	recs := c.NewReader(t, string(ChangesTopic(ptest.Prefix))).Quiet(2 * time.Second)
	for _, k := range killKeys {
		st := get(k)
		if st.Records != int64(len(frames)) {
			t.Errorf("%s: state counts %d records, want %d (each folded exactly once)", k, st.Records, len(frames))
		}
		if st.Score != pure.Score || st.Band != pure.Band || st.Gate != pure.Gate || st.Inputs != pure.Inputs || st.AtMs != pure.AtMs {
			t.Errorf("%s: final state %+v, uninterrupted %+v", k, *st, pure)
		}
		var got []topics.RegimeChange
		for _, r := range recs {
			if string(r.Key) != k {
				continue
			}
			var ch topics.RegimeChange
			if err := json.Unmarshal(r.Value, &ch); err != nil {
				t.Fatal(err)
			}
			// At least once: a change whose emit landed but whose record
			// was not committed is emitted again by the survivor.
			if n := len(got); n > 0 && sameChange(got[n-1], ch) {
				continue
			}
			ch.Scope = topics.ExchangeBinance
			got = append(got, ch)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) {
			t.Errorf("%s: changes with a killed instance differ from the uninterrupted run:\n got %s\nwant %s", k, gb, wb)
		}
		t.Logf("%s: %d changes, %s", k, len(got), strings.Join(path(got), " "))
	}
	if t.Failed() {
		t.Logf("child output:\n%s", out.String())
	}
}

func sameChange(a, b topics.RegimeChange) bool {
	ab, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return string(ab) == string(bb)
}

// pureState is the final state of an uninterrupted pure replay.
func pureState(t *testing.T, frames [][]byte) State {
	t.Helper()
	cfg := DefaultConfig(nil, ptest.Prefix)
	st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	for _, f := range frames {
		at, ticks, err := DecodeTicks(f)
		if err != nil {
			t.Fatal(err)
		}
		st, _ = step(cfg, st, at, ticks, nil)
	}
	return st
}
