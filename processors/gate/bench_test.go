package gate

import (
	"encoding/json"
	"fmt"
	"math/big"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// BenchmarkGateOverKafka measures records/s of the real gate processor on
// kfake over TCP (b.N intents over 100 accounts, Calm regime), against the
// pure Decide in the same run ("decide_ratio").
func BenchmarkGateOverKafka(b *testing.B) {
	in := intent(false)
	st := state("Calm", 0)
	baseRate := ptest.Rate(200*time.Millisecond, func() {
		_ = Decide(Input{Intent: in, ClaimedMs: now, State: st, NowMs: now}, Limits{MaxStateAge: 5 * time.Minute})
	})

	c := ptest.StartCluster(b)
	startRegimeB := func() {
		_, frames := ptest.Crash().Frames()
		for _, f := range frames[:5] {
			c.Produce(b, "kraite.mark-price", topics.ExchangeBinance, f)
		}
	}
	startRegimeB()
	times, _ := ptest.Crash().Frames()
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		acct := fmt.Sprintf("acct-%d", i%100)
		v, _ := json.Marshal(topics.OpenIntent{Account: acct, Symbol: "ETHUSDT", Side: "BUY", Size: "1", ClientID: fmt.Sprint(i), CreatedMs: times[4]})
		recs[i] = &kgo.Record{Topic: string(InputTopic(ptest.Prefix)), Key: []byte(acct), Value: v}
	}
	c.ProduceBatch(b, recs)
	rg := startRegimeForBench(b, c)
	testkit.Eventually(b, 30*time.Second, "the regime state", func() bool { v, err := rg.P.Get("binance"); return err == nil && v != nil })
	out := c.NewReader(b, string(PositionsTopic(ptest.Prefix)))
	cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.Now = func() time.Time { return time.UnixMilli(times[4]) } // the scenario's time
	p, err := New(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	ptest.Run(b, p)
	if n := out.Count(b.N, 120*time.Second); n < b.N {
		b.Fatalf("read %d of %d decisions", n, b.N)
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(baseRate, "decide_records/s")
	b.ReportMetric(baseRate/rate, "decide_ratio")
}

// benchValidator is the intent validator every box sets (cmd/kraite
// buildGate), over a snapshot where the benchmark's intents pass: 100
// enabled accounts, ETHUSDT's filters and a fresh mark price.
type benchValidator struct {
	snap *intents.Snapshot
	lim  intents.Limits
}

func newBenchValidator(at time.Time) benchValidator {
	snap := &intents.Snapshot{Accounts: map[intents.AccountKey]intents.Account{},
		Symbols: map[intents.SymbolKey]intents.Rule{{Exchange: topics.ExchangeBinance, Symbol: "ETHUSDT"}: intents.ParseRule(intents.RuleText{
			Status: intents.StatusTrading, StepSize: "0.001", MinQty: "0.001", MaxQty: "10000", MinNotional: "5"})},
		MarkPrices: map[intents.SymbolKey]intents.Mark{{Exchange: topics.ExchangeBinance, Symbol: "ETHUSDT"}: {Price: big.NewRat(3000, 1), At: at}},
		LoadedAt:   at}
	for i := range 100 {
		snap.Accounts[intents.AccountKey{Exchange: topics.ExchangeBinance, Account: fmt.Sprintf("acct-%d", i)}] = intents.Account{Enabled: true}
	}
	return benchValidator{snap: snap, lim: intents.DefaultLimits()}
}

func (v benchValidator) Validate(in topics.OpenIntent, now time.Time) *intents.Refusal {
	return intents.Validate(in, v.snap, v.lim, now)
}

// prodGate is a gate on its own kfake broker whose regime table holds a
// production-size state (568 symbols), with the intent validator set.
type prodGate struct {
	c   *ptest.Cluster
	r   *Runner
	g   *gate
	out *ptest.Reader
}

func startProdGate(b *testing.B, raw []byte, at int64, uncached bool) *prodGate {
	b.Helper()
	c := ptest.StartCluster(b)
	c.Produce(b, string(regime.Table(ptest.Prefix)), topics.ExchangeBinance, raw)
	cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.Now = func() time.Time { return time.UnixMilli(at) } // the state's time: fresh
	cfg.Validator = newBenchValidator(time.UnixMilli(at))
	r, g, err := newGate(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	g.uncached = uncached
	ptest.Run(b, r)
	testkit.Eventually(b, 30*time.Second, "the regime state in the gate's view", func() bool {
		st, _, err := g.state.ReadUncached(topics.ExchangeBinance)
		return err == nil && st != nil
	})
	return &prodGate{c: c, r: r, g: g, out: c.NewReader(b, string(PositionsTopic(ptest.Prefix)))}
}

// run produces n intents once the gate is ready and returns decisions/s
// until all n are on the positions topic (every intent is allowed).
func (pg *prodGate) run(b *testing.B, n int, at int64) float64 {
	b.Helper()
	recs := make([]*kgo.Record, n)
	for i := range recs {
		acct := fmt.Sprintf("acct-%d", i%100)
		v, _ := json.Marshal(topics.OpenIntent{Account: acct, Symbol: "ETHUSDT", Side: "BUY", Size: "1", ClientID: fmt.Sprint(i), CreatedMs: at})
		recs[i] = &kgo.Record{Topic: string(InputTopic(ptest.Prefix)), Key: []byte(acct), Value: v}
	}
	start := time.Now()
	pg.c.ProduceBatch(b, recs)
	if got := pg.out.Count(n, 300*time.Second); got < n {
		b.Fatalf("read %d of %d decisions", got, n)
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkGateProductionState measures the gate with a production-size
// regime state (568 symbols, about 40 KB of JSON) and the intent
// validator set (issue 12, point 4), against the old path in the same
// run: the regime state and the override read and decoded for every
// intent (gate.uncached).
//
//   - records/s: b.N intents through the real gate on kfake over TCP;
//     old_records/s: the old path on a broker of its own, over at most
//     old_max intents (it manages about 200/s); speedup = their ratio.
//   - state_B: the bytes of the regime state the bench writes.
//   - judge_records/s, old_judge_records/s, judge_speedup: the gate's
//     whole per-intent work (decode the intent, read the Views, Decide,
//     validate) on the running gate's Views, without Kafka.
//
// Both paths decide the same on every intent (checked here too).
func BenchmarkGateProductionState(b *testing.B) {
	const oldMax = 400
	raw, at := productionState(b)
	intentRaw, _ := json.Marshal(topics.OpenIntent{Account: "acct-1", Symbol: "ETHUSDT", Side: "BUY", Size: "1", ClientID: "c", CreatedMs: at})

	old := startProdGate(b, raw, at, true)
	oldRate := old.run(b, min(b.N, oldMax), at)
	oldJudge := ptest.Rate(300*time.Millisecond, func() { _ = old.g.judge(intentRaw, "acct-1", time.Time{}) })

	pg := startProdGate(b, raw, at, false)
	jNew, jOld := pg.g.judge(intentRaw, "acct-1", time.Time{}), old.g.judge(intentRaw, "acct-1", time.Time{})
	if !jNew.d.Allowed || jNew != jOld {
		b.Fatalf("decisions differ or refuse: cached %+v, old %+v", jNew, jOld)
	}
	judge := ptest.Rate(300*time.Millisecond, func() { _ = pg.g.judge(intentRaw, "acct-1", time.Time{}) })
	b.ResetTimer()
	rate := pg.run(b, b.N, at)
	b.StopTimer()

	b.ReportMetric(float64(len(raw)), "state_B")
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(oldRate, "old_records/s")
	b.ReportMetric(rate/oldRate, "speedup")
	b.ReportMetric(judge, "judge_records/s")
	b.ReportMetric(oldJudge, "old_judge_records/s")
	b.ReportMetric(judge/oldJudge, "judge_speedup")
}
