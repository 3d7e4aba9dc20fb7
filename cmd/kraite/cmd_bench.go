package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/e2e"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/harness/streambench"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/topics"
)

func cmdBench(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench", "bench ingest|e2e|soak|failover [flags]\n\n"+
		"  ingest    frame-to-Kafka-ack latency and throughput of the user-data producer with many\n"+
		"            simulated accounts (its own embedded broker and simulator), against a baseline;\n"+
		"            --processes N spreads them over N producer processes (the producer.user-data group)\n"+
		"  e2e       frame-to-database latency of the whole pipeline in one process (simulator, producers,\n"+
		"            broker, dispatch, sinks on a scratch MariaDB database), against the previous sink cycle\n"+
		"  soak      the producer's memory over a time-compressed span of hours\n"+
		"  failover  kill -9 one of two producer processes, then add a third: time to stream again, gaps\n\n"+
		"kraite bench ingest -h, kraite bench e2e -h, kraite bench soak -h and kraite bench failover -h show their flags.")
	if len(args) == 0 {
		return usagef(fs, "bench needs a subcommand: ingest, e2e, soak or failover (kraite bench ingest -h)")
	}
	var sub func(context.Context, *cli, []string) error
	switch args[0] {
	case "ingest":
		sub = benchIngest
	case "e2e":
		sub = benchE2E
	case "soak":
		sub = benchSoak
	case "peer":
		sub = benchPeer
	case "failover":
		sub = benchFailover
	case "producer":
		sub = benchProducer
	default:
		// bench -h, or a flag or word that is not a subcommand.
		if err := a.parse(fs, args); err != nil {
			return err
		}
		return usagef(fs, "unknown bench %q: ingest, e2e, soak or failover", args[0])
	}
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	return sub(ctx, a, args[1:])
}

// latencies collects frame-to-ack latencies of one phase.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(stream string, d time.Duration) {
	if stream != "userdata" {
		return
	}
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) take() []time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.d
	l.d = nil
	slices.Sort(out)
	return out
}

func pct(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

type phaseResult struct {
	name          string
	frames        int
	perSec        float64
	p50, p99, max time.Duration
}

// benchIngest measures frame-to-Kafka-ack latency and throughput with many
// accounts streaming from the simulator over real sockets into the broker.
// The baseline, measured in the same run on the same simulator, is the same
// pipeline with franz-go's default 10 ms linger instead of Kraite's tuning.
func benchIngest(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench ingest", "bench ingest [--accounts 1000] [--duration 20s] [--order-interval 1s] [--processes N]")
	accounts := fs.Int("accounts", 1000, "simulated accounts, one WebSocket each")
	dur := fs.Duration("duration", 20*time.Second, "measured time per phase")
	warm := fs.Duration("warmup", 5*time.Second, "unmeasured time before each phase")
	interval := fs.Duration("order-interval", time.Second, "mean time between order lifecycle steps per account")
	procs := fs.Int("processes", 0, "spread the accounts over this many producer processes (the producer.user-data\n"+
		"group), measured next to one process of the same group in the same run; 0: in-process, against the linger baseline")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	if *procs < 0 || *procs > 16 || *accounts < 1 {
		return usagef(fs, "--processes must be 0..16 and --accounts positive")
	}
	if *procs > 0 {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		kclient.SetDefault(kclient.Security{}) // the embedded open broker
		fmt.Fprintf(a.stdout, "load average before: %s\n", loadAvg())
		_, err = streambench.Ingest(ctx, streambench.IngestOptions{Self: self, Args: []string{"bench", "producer"},
			Accounts: *accounts, Processes: *procs, Interval: *interval, Warmup: *warm, Duration: *dur, Out: a.stdout, Log: a.log})
		fmt.Fprintf(a.stdout, "load average after: %s\n", loadAvg())
		return err
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		return err
	}
	defer b.Close()
	kclient.SetDefault(kclient.Security{}) // the clients talk to this open broker, whatever KRAITE_KAFKA_* says
	c := app.Common{Brokers: []string{b.Addr()}, TopicPrefix: topics.DefaultPrefix, Replication: 1}
	if _, err := app.EnsureTopics(ctx, c); err != nil {
		return err
	}
	sim, err := simulator.New(simulator.Config{Seed: 11, Accounts: *accounts, OrderInterval: *interval, MarkPriceInterval: time.Hour})
	if err != nil {
		return err
	}
	simAddr, stopSim, err := serveSim(ctx, sim)
	if err != nil {
		return err
	}
	defer stopSim()
	var accts []userdata.Account
	for _, s := range sim.Accounts() {
		accts = append(accts, userdata.Account{ID: s.ID, APIKey: s.APIKey, APISecret: s.APISecret})
	}
	fmt.Fprintf(a.stdout, "ingest: %d accounts, order step every %s per account, %s per phase (GOMAXPROCS %d)\n",
		*accounts, *interval, *dur, runtime.GOMAXPROCS(0))
	tuned := time.Duration(0)
	franzDefault := 10 * time.Millisecond
	var results []phaseResult
	for _, ph := range []struct {
		name   string
		linger time.Duration
	}{{"kraite (linger 0)", tuned}, {"baseline: franz-go default linger 10ms", franzDefault}} {
		r, err := ingestPhase(ctx, a, c, simAddr, accts, ph.name, ph.linger, *warm, *dur)
		if err != nil {
			return err
		}
		results = append(results, r)
		fmt.Fprintf(a.stdout, "  %-40s %8d frames  %8.0f frames/s  p50 %-10s p99 %-10s max %s\n",
			r.name, r.frames, r.perSec, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.max.Round(time.Microsecond))
	}
	if results[0].p50 > 0 && results[0].p99 > 0 {
		fmt.Fprintf(a.stdout, "  ratio baseline/kraite: p50 %.1fx  p99 %.1fx\n",
			float64(results[1].p50)/float64(results[0].p50), float64(results[1].p99)/float64(results[0].p99))
	}
	return nil
}

// benchE2E parses the flags of bench e2e; harness/e2e runs it.
func benchE2E(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench e2e", "bench e2e [--accounts 200] [--duration 20s] [--order-interval 2s] [--baseline=true] [--repeat 1]\n\n"+
		"The user-data path in one process: the simulator's accounts -> user-data and mark-price producers ->\n"+
		"embedded broker -> dispatch -> audit, orders and mark-price sinks on a scratch database created on the\n"+
		"server of KRAITE_DATABASE_URL (default "+e2e.DefaultServer+"; the database it names is not\n"+
		"touched) and dropped afterwards. Reports p50/p90/p99/max from each frame's exchange time (T, else E)\n"+
		"to its api_data_stream row and orders row (their written_at) and its transition on the positions\n"+
		"topic, each stage, frames/s, the frames missing (must be 0) and the load average; then the same for\n"+
		"the sinks' previous cycle (SyncCycle) on a fresh broker and database, and the ratio. --repeat N measures\n"+
		"both N times, alternating them, and ends with the median and range of the per-run p99s and p50s.")
	accounts := fs.Int("accounts", 200, "simulated accounts, one WebSocket each")
	dur := fs.Duration("duration", 20*time.Second, "measured window per phase")
	warm := fs.Duration("warmup", 5*time.Second, "unmeasured time before each window (after every stream is up)")
	interval := fs.Duration("order-interval", 2*time.Second, "mean time between order lifecycle steps per account (the rate)")
	baseline := fs.Bool("baseline", true, "also measure the sinks' previous cycle and print the ratio")
	seed := fs.Int64("seed", 17, "simulator seed")
	repeat := fs.Int("repeat", 1, "runs of every phase, alternating them; more than 1 reports the spread of the per-run figures")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	if *repeat < 1 {
		return usagef(fs, "repeat: %d is not between 1 and %d", *repeat, e2e.MaxRepeat)
	}
	cfg := e2e.Config{Accounts: *accounts, Duration: *dur, Warmup: *warm, OrderInterval: *interval,
		DatabaseURL: a.cfg.Exchange.DatabaseURL, Baseline: *baseline, Seed: *seed, Repeat: *repeat, Log: a.log, Out: a.stdout}
	if err := cfg.Validate(); err != nil {
		return usagef(fs, "%v", err)
	}
	kclient.SetDefault(kclient.Security{}) // the clients talk to the run's own open broker, whatever KRAITE_KAFKA_* says
	_, err := e2e.Run(ctx, cfg)
	return err
}

func ingestPhase(ctx context.Context, a *cli, c app.Common, simAddr string, accts []userdata.Account, name string,
	linger, warm, dur time.Duration) (phaseResult, error) {
	lat := &latencies{}
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(c.Brokers...), Linger: &linger, OnAck: lat.add}, a.log, nil)
	if err != nil {
		return phaseResult{}, err
	}
	mg, err := userdata.New(userdata.Config{RESTBase: "http://" + simAddr, WSBase: "ws://" + simAddr}, accts, pub, nil, a.log)
	if err != nil {
		return phaseResult{}, err
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mg.Run(pctx) }()
	sleepCtx(ctx, warm)
	lat.take()
	start := time.Now()
	sleepCtx(ctx, dur)
	got := lat.take()
	elapsed := time.Since(start)
	cancel()
	<-done
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	if err := pub.Close(fctx); err != nil {
		return phaseResult{}, err
	}
	r := phaseResult{name: name, frames: len(got), perSec: float64(len(got)) / elapsed.Seconds(),
		p50: pct(got, 0.50), p99: pct(got, 0.99)}
	if len(got) > 0 {
		r.max = got[len(got)-1]
	}
	return r, ctx.Err()
}

// benchFailover kills -9 one of two producer processes holding the
// simulated accounts and adds a third (see streambench.Failover).
func benchFailover(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench failover", "bench failover [--accounts 1000] [--session 10s] [--grace 15s] [--order-interval 1s]")
	accounts := fs.Int("accounts", 1000, "simulated accounts, one WebSocket each")
	session := fs.Duration("session", 10*time.Second, "group session timeout of the producers (a killed one is noticed after it)")
	grace := fs.Duration("grace", 15*time.Second, "hand-over grace (KRAITE_HANDOVER_GRACE)")
	interval := fs.Duration("order-interval", time.Second, "mean time between order lifecycle steps per account")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	if *accounts < 1 || *session < 6*time.Second {
		return usagef(fs, "--accounts must be positive and --session at least 6s (the broker's minimum)")
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	kclient.SetDefault(kclient.Security{}) // the embedded open broker
	fmt.Fprintf(a.stdout, "load average before: %s\n", loadAvg())
	res, err := streambench.Failover(ctx, streambench.FailoverOptions{Self: self, Args: []string{"bench", "producer"},
		Accounts: *accounts, Interval: *interval, Session: *session, Grace: *grace, Out: a.stdout})
	fmt.Fprintf(a.stdout, "load average after: %s\n", loadAvg())
	if err != nil {
		return err
	}
	if res.ScaleOutGaps > 0 || res.MissingAfter > 0 || res.MissingScaleOut > 0 || len(res.Recovery) != res.Moved {
		return fmt.Errorf("failover: %d gap markers for %d moved accounts, %d gap markers in the scale-out, %d+%d frames missing",
			len(res.Recovery), res.Moved, res.ScaleOutGaps, res.MissingAfter, res.MissingScaleOut)
	}
	return nil
}

// benchProducer is a producer child of bench ingest --processes and bench
// failover, driven over stdin and stdout by its parent.
func benchProducer(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench producer", "bench producer (internal: started by bench ingest --processes and bench failover)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	kclient.SetDefault(kclient.Security{}) // the parent's embedded open broker
	return streambench.RunWorker(ctx, a.stdin, a.stdout, a.log)
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// serveSim runs sim on a free loopback port.
func serveSim(ctx context.Context, sim *simulator.Simulator) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listening for the simulator: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- sim.Serve(ctx, ln) }()
	return ln.Addr().String(), func() { cancel(); <-errc }, nil
}

// peerInfo is what `bench peer` prints for the soak parent.
type peerInfo struct {
	Broker   string             `json:"broker"`
	Sim      string             `json:"sim"`
	Accounts []userdata.Account `json:"accounts"`
}

// benchPeer runs the broker and the simulator for a soak in a separate
// process, so the soak measures the producer's memory alone.
func benchPeer(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench peer", "bench peer (internal: started by bench soak)")
	accounts := fs.Int("accounts", 50, "")
	speed := fs.Float64("speed", 360, "")
	interval := fs.Duration("order-interval", 200*time.Millisecond, "")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	// Retention keeps the peer's memory bounded too: the soak is about the producer.
	return servePeer(ctx, a, topics.DefaultPrefix, *speed, simulator.Config{Seed: 5, Accounts: *accounts, OrderInterval: *interval}, false)
}

// servePeer runs the broker and a simulator whose protocol timers are
// compressed by speed (pings, pong deadline, 24 h cut-off, listenKey TTL),
// prints their addresses and the accounts as one JSON line (peerInfo) and
// serves until ctx ends, with the topics under prefix: the other process of a soak, so the soak measures
// its own memory alone. paused starts the simulator with trading off.
func servePeer(ctx context.Context, a *cli, prefix string, speed float64, cfg simulator.Config, paused bool) error {
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) / speed) }
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		return err
	}
	defer b.Close()
	kclient.SetDefault(kclient.Security{}) // the clients talk to this open broker, whatever KRAITE_KAFKA_* says
	if _, err := app.EnsureTopics(ctx, app.Common{Brokers: []string{b.Addr()}, TopicPrefix: prefix, Replication: 1}); err != nil {
		return err
	}
	cfg.MarkPriceInterval, cfg.PingInterval, cfg.PongTimeout = time.Second, sc(3*time.Minute), sc(10*time.Minute)
	cfg.MaxConnAge, cfg.ListenKeyTTL = sc(24*time.Hour), sc(60*time.Minute)
	sim, err := simulator.New(cfg)
	if err != nil {
		return err
	}
	if paused {
		sim.SetTrading(false)
	}
	simAddr, stop, err := serveSim(ctx, sim)
	if err != nil {
		return err
	}
	defer stop()
	info := peerInfo{Broker: b.Addr(), Sim: simAddr}
	for _, s := range sim.Accounts() {
		info.Accounts = append(info.Accounts, userdata.Account{ID: s.ID, APIKey: s.APIKey, APISecret: s.APISecret})
	}
	if err := json.NewEncoder(a.stdout).Encode(info); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// benchSoak runs the user-data producer for a simulated span of hours with
// every protocol timer compressed by --speed (pings, pong deadline,
// listenKey TTL and keep-alive, 24 h cut-off and rotation), and reports the
// producer process's RSS and Go heap over time.
func benchSoak(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("bench soak", "bench soak [--simulated 6h] [--speed 360] [--accounts 50]")
	simulated := fs.Duration("simulated", 6*time.Hour, "simulated time span")
	speed := fs.Float64("speed", 360, "time compression factor")
	accounts := fs.Int("accounts", 50, "simulated accounts")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	peer := exec.CommandContext(pctx, self, "bench", "peer", "--accounts", strconv.Itoa(*accounts), "--speed", fmt.Sprint(*speed))
	peer.Env = append(os.Environ(), "KRAITE_LOG_LEVEL=error")
	out, err := peer.StdoutPipe()
	if err != nil {
		return err
	}
	peer.Stderr = os.Stderr
	if err := peer.Start(); err != nil {
		return fmt.Errorf("starting the soak peer: %w", err)
	}
	defer func() { cancel(); _ = peer.Wait() }()
	var info peerInfo
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return fmt.Errorf("reading the soak peer's addresses: %w", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		return fmt.Errorf("decoding the soak peer's addresses: %w", err)
	}
	sc := func(d time.Duration) time.Duration { return time.Duration(float64(d) / *speed) }
	var acked atomic.Int64
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(info.Broker),
		OnAck: func(string, time.Duration) { acked.Add(1) }}, a.log, nil)
	if err != nil {
		return err
	}
	defer pub.Close(context.Background())
	mg, err := userdata.New(userdata.Config{RESTBase: "http://" + info.Sim, WSBase: "ws://" + info.Sim,
		KeepAlive: sc(30 * time.Minute), RotateAfter: sc(23*time.Hour + 30*time.Minute),
		IdleTimeout: max(sc(4*time.Minute+30*time.Second), time.Second)}, info.Accounts, pub, nil, a.log)
	if err != nil {
		return err
	}
	real := sc(*simulated)
	fmt.Fprintf(a.stdout, "soak: %d accounts, %s simulated in %s (x%.0f): pings every %s, listenKey TTL %s, keep-alive %s, rotation every %s\n",
		len(info.Accounts), *simulated, real.Round(time.Second), *speed, sc(3*time.Minute), sc(time.Hour), sc(30*time.Minute), sc(23*time.Hour+30*time.Minute))
	mctx, mcancel := context.WithTimeout(ctx, real)
	defer mcancel()
	done := make(chan error, 1)
	go func() { done <- mg.Run(mctx) }()
	samples := 12
	var first, last memSample
	for i := 0; i <= samples; i++ {
		s := readMem()
		if i == 1 { // after warm-up
			first = s
		}
		last = s
		fmt.Fprintf(a.stdout, "  t=%-8s simulated %-8s rss %6.1f MiB  heap %6.1f MiB  goroutines %d  acked %d\n",
			(real * time.Duration(i) / time.Duration(samples)).Round(time.Second),
			(*simulated * time.Duration(i) / time.Duration(samples)).Round(time.Minute),
			s.rssMiB, s.heapMiB, s.goroutines, acked.Load())
		if i < samples {
			sleepCtx(mctx, real/time.Duration(samples))
		}
	}
	<-done
	fmt.Fprintf(a.stdout, "  rss start %.1f MiB, end %.1f MiB (x%.2f); heap start %.1f MiB, end %.1f MiB\n",
		first.rssMiB, last.rssMiB, last.rssMiB/first.rssMiB, first.heapMiB, last.heapMiB)
	return nil
}

type memSample struct {
	rssMiB, heapMiB float64
	goroutines      int
}

func readMem() memSample {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := memSample{heapMiB: float64(ms.HeapInuse) / (1 << 20), goroutines: runtime.NumGoroutine()}
	if data, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(data), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseFloat(f[1], 64)
				s.rssMiB = kb / 1024
			}
		}
	}
	return s
}
