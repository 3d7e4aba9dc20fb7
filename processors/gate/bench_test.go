package gate

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
