package regime

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// BenchmarkRegimeOverKafka measures records/s of the real regime processor
// on kfake over TCP with a realistic 500-symbol !markPrice@arr frame per
// record (the live feed sends one per second). b.N frames are produced
// first; the clock runs until the group table has applied all of them.
// The baseline is the pure Step on the same frames in the same run;
// "step_ratio" is how many times slower the processor is (JSON state
// round trip through the table, Kafka I/O).
func BenchmarkRegimeOverKafka(b *testing.B) {
	sc := ptest.Crash()
	sc.Symbols, sc.Step, sc.End = 500, time.Second, time.Duration(b.N-1)*time.Second
	_, frames := sc.Frames()
	cfg := DefaultConfig(nil, ptest.Prefix)
	i, st := 0, State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	baseRate := ptest.Rate(500*time.Millisecond, func() {
		at, ticks, _ := DecodeTicks(frames[i%len(frames)])
		if i%len(frames) == 0 {
			st = State{State: regimestate.State{Scope: topics.ExchangeBinance}}
		}
		st, _ = Step(cfg, st, at, ticks, nil)
		i++
	})

	c := ptest.StartCluster(b)
	recs := make([]*kgo.Record, len(frames))
	for i, f := range frames {
		recs[i] = &kgo.Record{Topic: string(InputTopic(ptest.Prefix)), Key: []byte(topics.ExchangeBinance), Value: f}
	}
	c.ProduceBatch(b, recs)
	pcfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	pcfg.ViewOptions = ptest.ViewOptions()
	p, err := New(pcfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	r := ptest.Run(b, p)
	testkit.Eventually(b, 300*time.Second, "every frame to be processed", func() bool { return records(r) >= int64(len(frames)) })
	rate := float64(len(frames)) / time.Since(start).Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(baseRate, "step_records/s")
	b.ReportMetric(baseRate/rate, "step_ratio")
}
