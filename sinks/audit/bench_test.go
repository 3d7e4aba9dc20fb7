package audit

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// BenchmarkAuditSinkCycle runs the whole audit sink (kfake broker over TCP,
// MariaDB) on a steady stream of the real user-data frames
// (KRAITE_BENCH_RATE a second, default 1,000, from 200 accounts) twice in
// the same run: with the previous cycle (Config.SyncCycle) and with the
// current one, twice each (sinktest.ABBA), each run on its own broker and
// database. It reports p50/p99 from a frame's produce to its database
// commit and the ratio previous / current of the p99 (above 1: the current
// cycle is faster). Each run first drains a warm-up stream of other
// accounts. Run it with -benchtime=1x.
func BenchmarkAuditSinkCycle(b *testing.B) {
	rate := sinktest.BenchRate(b)
	frames := realFrames(b)
	var names []string
	for n := range frames {
		if !strings.Contains(n, "markPrice") {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	records := func(prefix, accPrefix string, n int) []*kgo.Record {
		out := make([]*kgo.Record, n)
		for i := range out {
			acc := fmt.Sprintf("%s%03d", accPrefix, i%200)
			out[i] = &kgo.Record{Topic: topics.UserDataStream.Name(prefix), Key: []byte(acc), Value: frames[names[i%len(names)]],
				Headers: topics.FrameHeaders("binance", acc, "c1", topics.KindFrame, topics.SourceStream, time.Now())}
		}
		return out
	}
	const n = 3000
	type result struct {
		write            sinktest.Latencies
		batches, records int64
	}
	run := func(syncCycle bool, res *result) {
		tb, end := sinktest.Scope(b)
		defer end()
		env := sinktest.Start(tb)
		d := dbtest.MySQL(tb)
		s, err := New(Config{SinkConfig: SinkConfig{Kafka: env.Kafka(), Prefix: env.Prefix, Group: "bench", SyncCycle: syncCycle}}, d, nil)
		if err != nil {
			b.Fatal(err)
		}
		r := sinktest.Run(tb, s.Run)
		n0 := res.write.N()
		topic := topics.UserDataStream.Name(env.Prefix)
		env.Pace(b, records(env.Prefix, "warm-", 300), rate)
		env.WaitCommitted(b, "bench", topic, time.Minute)
		before := s.loop.Stats()
		s.written = res.write.Written
		env.Pace(b, records(env.Prefix, "acc-", n), rate)
		env.WaitCommitted(b, "bench", topic, time.Minute)
		if err := r.Stop(); err != nil {
			b.Fatal(err)
		}
		after := s.loop.Stats()
		res.batches += after.Batches - before.Batches
		res.records += after.Records - before.Records
		if got := res.write.N() - n0; got != n {
			b.Fatalf("measured %d writes of %d frames", got, n)
		}
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	for i := 0; i < b.N; i++ {
		var prev, cur result
		sinktest.ABBA(func() { run(true, &prev) }, func() { run(false, &cur) })
		b.ReportMetric(ms(cur.write.Quantile(0.5)), "write_p50_ms")
		b.ReportMetric(ms(cur.write.Quantile(0.99)), "write_p99_ms")
		b.ReportMetric(ms(prev.write.Quantile(0.5)), "write_p50_ms_sync")
		b.ReportMetric(ms(prev.write.Quantile(0.99)), "write_p99_ms_sync")
		b.ReportMetric(float64(prev.write.Quantile(0.99))/float64(max(1, cur.write.Quantile(0.99))), "x_write_p99")
		b.ReportMetric(float64(cur.records)/float64(max(1, cur.batches)), "records/batch")
		b.ReportMetric(float64(prev.records)/float64(max(1, prev.batches)), "records/batch_sync")
		b.Logf("2 x %d frames per cycle (order sync, current, current, sync) at %d/s from 200 accounts; load average %s", n, rate, sinktest.LoadAvg())
	}
}
