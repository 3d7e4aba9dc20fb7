package streambench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
)

// LingerOptions configure IngestLinger.
type LingerOptions struct {
	Accounts int
	Interval time.Duration // order step per account
	Warmup   time.Duration
	Duration time.Duration
	Out      io.Writer
	Log      *slog.Logger
}

// LingerResult is one phase of IngestLinger.
type LingerResult struct {
	Name          string
	Frames        int
	PerSec        float64
	P50, P99, Max time.Duration
}

// IngestLinger measures frame-to-Kafka-ack latency and throughput of the
// user-data producer in this process, with many accounts streaming from
// the simulator over real sockets into the embedded broker (kraite bench
// ingest). The baseline, measured in the same run on the same simulator,
// is the same producer with franz-go's default 10 ms linger instead of
// Kraite's linger 0. It prints a line per phase and the ratio.
func IngestLinger(ctx context.Context, o LingerOptions) ([]LingerResult, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	env, err := StartEnv(ctx, o.Accounts, o.Interval)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	accts := make([]userdata.Account, len(env.Accounts))
	for i, c := range env.Accounts {
		accts[i] = userdata.Account{ID: c.ID, APIKey: c.APIKey, APISecret: c.APISecret}
	}
	fmt.Fprintf(o.Out, "ingest: %d accounts, order step every %s per account, %s per phase (GOMAXPROCS %d)\n",
		o.Accounts, o.Interval, o.Duration, runtime.GOMAXPROCS(0))
	var results []LingerResult
	for _, ph := range []struct {
		name   string
		linger time.Duration
	}{{"kraite (linger 0)", 0}, {"baseline: franz-go default linger 10ms", 10 * time.Millisecond}} {
		r, err := lingerPhase(ctx, env, accts, o, ph.name, ph.linger)
		if err != nil {
			return results, err
		}
		results = append(results, r)
		fmt.Fprintf(o.Out, "  %-40s %8d frames  %8.0f frames/s  p50 %-10s p99 %-10s max %s\n",
			r.Name, r.Frames, r.PerSec, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond))
	}
	if results[0].P50 > 0 && results[0].P99 > 0 {
		fmt.Fprintf(o.Out, "  ratio baseline/kraite: p50 %.1fx  p99 %.1fx\n",
			float64(results[1].P50)/float64(results[0].P50), float64(results[1].P99)/float64(results[0].P99))
	}
	return results, nil
}

// acks collects the frame-to-ack latencies of the user-data stream.
type acks struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *acks) add(stream string, d time.Duration) {
	if stream != "userdata" {
		return
	}
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// take returns the latencies so far, sorted, and starts afresh.
func (l *acks) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.d
	l.d = nil
	slices.Sort(out)
	return out
}

func lingerPhase(ctx context.Context, env *Env, accts []userdata.Account, o LingerOptions, name string, linger time.Duration) (LingerResult, error) {
	lat := &acks{}
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(env.Broker.Addr()), Linger: &linger, OnAck: lat.add}, o.Log, nil)
	if err != nil {
		return LingerResult{}, err
	}
	mg, err := userdata.New(userdata.Config{TopicPrefix: env.Prefix, RESTBase: "http://" + env.SimAddr, WSBase: "ws://" + env.SimAddr},
		accts, pub, nil, o.Log)
	if err != nil {
		return LingerResult{}, err
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mg.Run(pctx) }()
	backoff.Sleep(ctx, o.Warmup)
	lat.take()
	start := time.Now()
	backoff.Sleep(ctx, o.Duration)
	got := lat.take()
	elapsed := time.Since(start)
	cancel()
	<-done
	fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer fcancel()
	if err := pub.Close(fctx); err != nil {
		return LingerResult{}, err
	}
	r := LingerResult{Name: name, Frames: len(got), PerSec: float64(len(got)) / elapsed.Seconds()}
	if n := len(got); n > 0 {
		r.P50, r.P99, r.Max = got[n/2], got[min(n-1, n*99/100)], got[n-1]
	}
	return r, ctx.Err()
}
