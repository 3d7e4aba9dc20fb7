package regime

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// Environment of BenchmarkRegimeDayReplay (defaults: the day).
const (
	replayFramesEnv   = "KRAITE_REPLAY_FRAMES"   // frames of the day (86400)
	replaySymbolsEnv  = "KRAITE_REPLAY_SYMBOLS"  // symbols per frame (568)
	replayBaselineEnv = "KRAITE_REPLAY_BASELINE" // frames through the full-state design (1000; 0 skips it)
)

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a count", name, v)
	}
	return n
}

// dayResult is one measured replay.
type dayResult struct {
	frames     int
	took       time.Duration
	input      int64 // bytes of the frames produced (values)
	changelog  int64 // bytes written to the table and checkpoint topics (keys and values)
	tableRecs  int64
	tableBytes int64
	checkpoint int64 // checkpoint records
	ckBytes    int64
}

func (r dayResult) perSec() float64 { return float64(r.frames) / r.took.Seconds() }
func (r dayResult) bytesPerRecord() float64 {
	return float64(r.changelog) / float64(r.frames)
}

// replayDay produces frames 0..n-1 of sc to a broker of its own (zstd
// batches: a day of 568 symbols is 5.6 GB of JSON), then starts one
// regime processor (fullState: the design before the checkpoints) and
// measures the time until its state has folded all of them, and the bytes
// it wrote to its changelog and checkpoint topics.
func replayDay(b *testing.B, sc ptest.Scenario, n int, fullState bool) dayResult {
	b.Helper()
	c := ptest.StartCluster(b)
	prod, err := kgo.NewClient(append(kclient.ProducerOpts(c.Brokers(), nil),
		kgo.ProducerBatchCompression(kgo.ZstdCompression().WithLevel(1)), kgo.ProducerLinger(20*time.Millisecond),
		kgo.MaxBufferedRecords(2000))...)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	in := string(InputTopic(ptest.Prefix))
	genStart := time.Now()
	var perr error
	var input int64
	for i := range n {
		_, f := sc.AppendFrame(nil, i)
		input += int64(len(f))
		prod.Produce(ctx, &kgo.Record{Topic: in, Key: []byte(topics.ExchangeBinance), Value: f}, func(_ *kgo.Record, err error) {
			if err != nil && perr == nil {
				perr = err
			}
		})
	}
	if err := prod.Flush(ctx); err != nil || perr != nil {
		b.Fatalf("producing the day: %v %v", err, perr)
	}
	prod.Close()
	b.Logf("produced %d frames of %d symbols (%.2f GB of JSON, %.1f KB a frame) in %s", n, sc.Symbols,
		float64(input)/1e9, float64(input)/float64(n)/1e3, time.Since(genStart).Round(time.Millisecond))

	cfg := DefaultConfig(c.Brokers(), ptest.Prefix)
	cfg.ViewOptions = ptest.ViewOptions()
	cfg.FullState = fullState
	cfg.Now = func() time.Time { return sc.Start.Add(time.Duration(n) * sc.Step) } // the day's end: no tick is ahead
	p, rg, err := newRegime(cfg, ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	r := ptest.Run(b, p)
	testkit.Eventually(b, 30*time.Minute, "every frame to be folded", func() bool { return records(r) >= int64(n) })
	took := time.Since(start)
	if rg.lost.Load() != 0 {
		b.Fatalf("%d markets lost", rg.lost.Load())
	}
	res := dayResult{frames: n, took: took, input: input}
	res.tableBytes, res.tableRecs = topicBytes(b, c, string(Table(ptest.Prefix)))
	res.ckBytes, res.checkpoint = topicBytes(b, c, string(CheckpointTopic(ptest.Prefix)))
	res.changelog = res.tableBytes + res.ckBytes
	return res
}

// topicBytes reads topic to its end and sums its records' key and value
// bytes.
func topicBytes(b *testing.B, c *ptest.Cluster, topic string) (bytes, records int64) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	idle := 0
	for idle < 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		fs := cl.PollFetches(ctx)
		cancel()
		got := 0
		fs.EachRecord(func(r *kgo.Record) {
			bytes += int64(len(r.Key) + len(r.Value))
			records++
			got++
		})
		if got == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	return bytes, records
}

// frameCost is the in-process cost of one frame of sc over its first k
// frames, without Kafka: the decode (DecodeTicks) and the fold (step in
// place, as the processor folds).
func frameCost(b *testing.B, sc ptest.Scenario, k int) (decode, fold time.Duration) {
	b.Helper()
	cfg := DefaultConfig(nil, ptest.Prefix)
	st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	var buf []byte
	for i := range k {
		_, buf = sc.AppendFrame(buf[:0], i)
		t0 := time.Now()
		at, ticks, err := DecodeTicks(buf)
		t1 := time.Now()
		if err != nil {
			b.Fatal(err)
		}
		st, _ = step(cfg, st, at, ticks, nil)
		decode, fold = decode+t1.Sub(t0), fold+time.Since(t1)
	}
	return decode / time.Duration(k), fold / time.Duration(k)
}

func mean(bytes, records int64) float64 {
	if records == 0 {
		return 0
	}
	return float64(bytes) / float64(records)
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return string(b[:len(b)-1])
}

// BenchmarkRegimeDayReplay replays the retained day of mark prices
// (86,400 frames of 568 symbols at 1 s, the crash scenario's shape)
// through the real regime processor on kfake, from a broker that already
// holds the whole day, and prints frames/s, the total time, and the
// changelog bytes per input record (table values plus checkpoints). The
// baseline, measured in the same run on a broker of its own, is the
// design before the checkpoints (Config.FullState: the whole state read
// and written on every record) over the first KRAITE_REPLAY_BASELINE
// frames of the same day (it manages about 100 frames/s, so a whole day
// would take a quarter of an hour or more); the speedup is the ratio of
// the frame rates, and old_day_s the baseline's rate extrapolated to
// the day. It also prints the in-process cost of a frame (decode_ms,
// fold_ms: frameCost over the first 1,000 frames). Run it once:
//
//	go test ./processors/regime -run '^$' -bench RegimeDayReplay -benchtime 1x -timeout 60m
//
// KRAITE_REPLAY_FRAMES and KRAITE_REPLAY_SYMBOLS shrink the day.
func BenchmarkRegimeDayReplay(b *testing.B) {
	n := envInt(b, replayFramesEnv, 86_400)
	syms := envInt(b, replaySymbolsEnv, 568)
	baseN := min(envInt(b, replayBaselineEnv, 1000), n)
	sc := ptest.Crash()
	sc.Symbols, sc.Step, sc.End = syms, time.Second, time.Duration(n-1)*time.Second
	decode, fold := frameCost(b, sc, min(n, 1000))
	fmt.Printf("in process, a frame of %d symbols: decode %.3f ms, fold %.3f ms; load %s\n",
		syms, decode.Seconds()*1e3, fold.Seconds()*1e3, loadavg())
	b.ReportMetric(decode.Seconds()*1e3, "decode_ms")
	b.ReportMetric(fold.Seconds()*1e3, "fold_ms")
	var old dayResult
	if baseN > 0 {
		old = replayDay(b, sc, baseN, true)
		b.Logf("baseline (full state): %d frames in %s, %.0f frames/s, %.0f changelog bytes/record; load %s",
			old.frames, old.took.Round(time.Millisecond), old.perSec(), old.bytesPerRecord(), loadavg())
	}
	b.ResetTimer()
	res := replayDay(b, sc, n, false)
	b.StopTimer()
	line := fmt.Sprintf("regime day replay: %d frames of %d symbols (%.1f KB a frame) in %s, %.0f frames/s, %.0f changelog bytes/record (%d table values of %.0f bytes, %d checkpoints of %.0f bytes); load %s",
		res.frames, syms, float64(res.input)/float64(res.frames)/1e3, res.took.Round(time.Millisecond), res.perSec(), res.bytesPerRecord(),
		res.tableRecs, mean(res.tableBytes, res.tableRecs), res.checkpoint, mean(res.ckBytes, res.checkpoint), loadavg())
	b.Log(line)
	fmt.Println(line)
	b.ReportMetric(res.perSec(), "frames/s")
	b.ReportMetric(res.took.Seconds(), "total_s")
	b.ReportMetric(res.bytesPerRecord(), "changelog_B/record")
	if baseN > 0 {
		fmt.Printf("baseline (full state, first %d frames): %.0f frames/s, %.0f changelog bytes/record; speedup %.1fx, changelog %.0fx smaller, the day would take %s\n",
			old.frames, old.perSec(), old.bytesPerRecord(), res.perSec()/old.perSec(), old.bytesPerRecord()/res.bytesPerRecord(),
			(time.Duration(float64(n)/old.perSec()) * time.Second).Round(time.Second))
		b.ReportMetric(old.perSec(), "old_frames/s")
		b.ReportMetric(res.perSec()/old.perSec(), "speedup")
		b.ReportMetric(old.bytesPerRecord(), "old_changelog_B/record")
		b.ReportMetric(float64(n)/old.perSec(), "old_day_s")
	}
}
