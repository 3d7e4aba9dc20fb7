package streambench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// Env is the broker and simulator of a run, in this process.
type Env struct {
	Prefix   string
	Broker   *broker.Broker
	Sim      *simulator.Simulator
	SimAddr  string
	Accounts []Creds
	cl       *kgo.Client
	stop     func()
}

// StartEnv starts a broker with the topic catalog, a simulator with n
// accounts (an order lifecycle step every interval per account), and
// publishes every account, enabled, to kraite.accounts.
func StartEnv(ctx context.Context, n int, interval time.Duration) (*Env, error) {
	return startEnv(ctx, n, interval, true)
}

// startEnv is StartEnv; trading false starts the simulator with trading
// paused (Sim.SetTrading starts it).
func startEnv(ctx context.Context, n int, interval time.Duration, trading bool) (*Env, error) {
	return startEnvWeight(ctx, n, interval, trading, -1)
}

// startEnvWeight is startEnv with the simulator's REQUEST_WEIGHT per
// minute: -1 reports Binance's 2,400 and answers no 429 (the ingest runs,
// which do not measure the weight), a positive limit is reported and
// enforced.
func startEnvWeight(ctx context.Context, n int, interval time.Duration, trading bool, weightLimit int) (*Env, error) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		return nil, err
	}
	e := &Env{Prefix: topics.DefaultPrefix, Broker: b}
	fail := func(err error) (*Env, error) { e.Close(); return nil, err }
	e.cl, err = kclient.ForBrokers(b.Addr()).Producer()
	if err != nil {
		return fail(err)
	}
	if _, err := topics.Apply(ctx, e.cl, e.Prefix, topics.All(), 1); err != nil {
		return fail(err)
	}
	e.Sim, err = simulator.New(simulator.Config{Seed: 11, Accounts: n, OrderInterval: interval, MarkPriceInterval: time.Hour, WeightLimit: weightLimit})
	if err != nil {
		return fail(err)
	}
	e.Sim.SetTrading(trading)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fail(fmt.Errorf("listening for the simulator: %w", err))
	}
	sctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Sim.Serve(sctx, ln) }()
	e.stop = func() { cancel(); <-errc }
	e.SimAddr = ln.Addr().String()
	var recs []*kgo.Record
	for _, a := range e.Sim.Accounts() {
		e.Accounts = append(e.Accounts, Creds{ID: a.ID, APIKey: a.APIKey, APISecret: a.APISecret})
		v, err := accounts.Change{ID: a.ID, Exchange: "binance", Enabled: true, Version: 1, ChangedAt: time.Now().UnixMilli()}.Encode()
		if err != nil {
			return fail(err)
		}
		recs = append(recs, &kgo.Record{Topic: topics.Accounts.Name(e.Prefix), Key: []byte(a.ID), Value: v})
	}
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fail(fmt.Errorf("publishing the accounts: %w", err))
	}
	return e, nil
}

// Close stops the simulator and the broker.
func (e *Env) Close() {
	if e.stop != nil {
		e.stop()
	}
	if e.cl != nil {
		e.cl.Close()
	}
	e.Broker.Close()
}

// Proc is a producer child process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
}

// Start runs `self args...` as a producer named name (args start the
// child's RunWorker, e.g. kraite bench producer).
func (e *Env) Start(ctx context.Context, self string, args []string, name string, session, grace time.Duration) (*Proc, error) {
	cmd := exec.CommandContext(ctx, self, args...)
	cmd.SysProcAttr = proc.ChildAttr() // a bench killed with SIGKILL leaves no producer behind
	cmd.Stderr = os.Stderr
	// The children's info lines (one per account started) would drown the figures.
	cmd.Env = append(os.Environ(), "KRAITE_LOG_LEVEL=warn")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting producer %s: %w", name, err)
	}
	p := &Proc{Name: name, cmd: cmd, in: in, out: bufio.NewScanner(out)}
	p.out.Buffer(make([]byte, 1<<20), 64<<20)
	cfg, _ := json.Marshal(WorkerConfig{Name: name, Broker: e.Broker.Addr(), Sim: e.SimAddr, Prefix: e.Prefix,
		Session: session, Grace: grace, Accounts: e.Accounts})
	if _, err := fmt.Fprintf(in, "%s\n", cfg); err != nil {
		p.Kill()
		return nil, fmt.Errorf("configuring producer %s: %w", name, err)
	}
	return p, nil
}

func (p *Proc) ask(cmd string, v any) error {
	if _, err := fmt.Fprintln(p.in, cmd); err != nil {
		return fmt.Errorf("producer %s: %w", p.Name, err)
	}
	if !p.out.Scan() {
		return fmt.Errorf("producer %s ended: %v", p.Name, p.out.Err())
	}
	return json.Unmarshal(p.out.Bytes(), v)
}

// Status asks the producer what it streams.
func (p *Proc) Status() (Status, error) {
	var st Status
	return st, p.ask("status", &st)
}

// Reset drops the latencies collected so far.
func (p *Proc) Reset() error { return p.ask("reset", &struct{}{}) }

// Report returns the latencies since Reset and the memory.
func (p *Proc) Report() (Report, error) {
	var r Report
	return r, p.ask("report", &r)
}

// Stop asks the producer to leave (hand-over) and waits for it.
func (p *Proc) Stop() error {
	_, _ = fmt.Fprintln(p.in, "quit")
	_ = p.in.Close()
	return p.cmd.Wait()
}

// Kill ends the producer with SIGKILL (no leave, no flush).
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

// waitStreaming waits until the processes together stream n accounts.
func waitStreaming(ctx context.Context, ps []*Proc, n int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		total := 0
		for _, p := range ps {
			st, err := p.Status()
			if err != nil {
				return err
			}
			total += st.Connected
		}
		if total >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d accounts streaming after %s", total, n, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// waitMostStreaming waits until the processes stream all n accounts, or
// at least 95% of them when within has passed; it returns how many stream.
func waitMostStreaming(ctx context.Context, ps []*Proc, n int, within time.Duration) (int, error) {
	deadline := time.Now().Add(within)
	for {
		total := 0
		for _, p := range ps {
			st, err := p.Status()
			if err != nil {
				return 0, err
			}
			total += st.Connected
		}
		if total >= n || (time.Now().After(deadline) && total >= n*95/100) {
			return total, nil
		}
		if time.Now().After(deadline) {
			return total, fmt.Errorf("%d of %d accounts streaming after %s", total, n, within)
		}
		backoff.Sleep(ctx, time.Second)
	}
}

// IngestOptions configure Ingest.
type IngestOptions struct {
	Self      string   // the kraite binary
	Args      []string // its arguments for a producer child
	Accounts  int
	Processes int
	Interval  time.Duration // order step per account
	Warmup    time.Duration
	Duration  time.Duration
	Out       io.Writer
	Log       *slog.Logger
}

// IngestResult is one phase (a number of processes) of Ingest.
type IngestResult struct {
	Processes      int
	Streaming      int // accounts streaming when the phase was measured
	Frames         int
	PerSec         float64
	P50, P99, Max  time.Duration
	HeapPerAccount float64 // bytes of Go heap in use per account, over all processes
	SysPerAccount  float64 // bytes obtained from the OS per account
}

// Ingest runs the same accounts with 1 producer process, then with
// opts.Processes, and prints frame -> ack latency and memory per account.
func Ingest(ctx context.Context, o IngestOptions) ([]IngestResult, error) {
	env, err := StartEnv(ctx, o.Accounts, o.Interval)
	if err != nil {
		return nil, err
	}
	defer env.Close()
	fmt.Fprintf(o.Out, "ingest: %d accounts over the producer.user-data group, order step every %s per account, %s per phase\n",
		o.Accounts, o.Interval, o.Duration)
	var out []IngestResult
	phases := []int{1}
	if o.Processes > 1 {
		phases = append(phases, o.Processes)
	}
	for _, n := range phases {
		r, err := ingestPhase(ctx, env, o, n)
		if err != nil {
			return out, err
		}
		out = append(out, r)
		fmt.Fprintf(o.Out, "  %d process(es), %d accounts streaming: %8d frames %8.0f frames/s  p50 %-10s p99 %-10s max %-10s heap %.1f KiB/account  sys %.1f KiB/account\n",
			r.Processes, r.Streaming, r.Frames, r.PerSec, r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond),
			r.HeapPerAccount/1024, r.SysPerAccount/1024)
	}
	if len(out) == 2 && out[0].P50 > 0 && out[0].P99 > 0 {
		fmt.Fprintf(o.Out, "  ratio %d processes / 1: p50 %.2fx  p99 %.2fx  heap per account %.2fx\n", out[1].Processes,
			float64(out[1].P50)/float64(out[0].P50), float64(out[1].P99)/float64(out[0].P99), out[1].HeapPerAccount/out[0].HeapPerAccount)
	}
	return out, nil
}

func ingestPhase(ctx context.Context, env *Env, o IngestOptions, n int) (IngestResult, error) {
	var ps []*Proc
	defer func() {
		for _, p := range ps {
			p.Kill()
		}
	}()
	for i := range n {
		p, err := env.Start(ctx, o.Self, o.Args, fmt.Sprintf("p%d-%d", n, i+1), 0, time.Second)
		if err != nil {
			return IngestResult{}, err
		}
		ps = append(ps, p)
	}
	// Thousands of sockets opening at once on a loaded machine take a
	// while; measure once nearly all stream (the figure names how many).
	streaming, err := waitMostStreaming(ctx, ps, o.Accounts, 2*time.Minute+time.Duration(o.Accounts)*60*time.Millisecond)
	if err != nil {
		return IngestResult{}, err
	}
	backoff.Sleep(ctx, o.Warmup)
	for _, p := range ps {
		if err := p.Reset(); err != nil {
			return IngestResult{}, err
		}
	}
	start := time.Now()
	backoff.Sleep(ctx, o.Duration)
	elapsed := time.Since(start)
	r := IngestResult{Processes: n, Streaming: streaming}
	var lat []int64
	var heap, sys uint64
	for _, p := range ps {
		rep, err := p.Report()
		if err != nil {
			return r, err
		}
		r.Frames += rep.Frames
		lat = append(lat, rep.LatencyNs...)
		heap += rep.HeapInuse
		sys += rep.Sys
	}
	slices.Sort(lat)
	r.PerSec = float64(r.Frames) / elapsed.Seconds()
	if len(lat) > 0 {
		r.P50 = time.Duration(lat[len(lat)/2])
		r.P99 = time.Duration(lat[min(len(lat)-1, len(lat)*99/100)])
		r.Max = time.Duration(lat[len(lat)-1])
	}
	r.HeapPerAccount = float64(heap) / float64(o.Accounts)
	r.SysPerAccount = float64(sys) / float64(o.Accounts)
	// Leave cleanly so the next phase starts from an empty group.
	for _, p := range ps {
		_, _ = fmt.Fprintln(p.in, "quit")
	}
	for _, p := range ps {
		_ = p.in.Close()
		_ = p.cmd.Wait()
	}
	ps = nil
	return r, ctx.Err()
}

// FailoverOptions configure Failover.
type FailoverOptions struct {
	Self     string
	Args     []string
	Accounts int
	Interval time.Duration
	Session  time.Duration // group session timeout of the producers
	Grace    time.Duration // hand-over grace
	// DatabaseURL names a MariaDB/MySQL server: the run then also writes a
	// scratch database there (dispatch, the audit and orders sinks, the gap
	// backfill) and compares it with the simulator's ground truth at the
	// end: nothing lost, nothing doubled. Empty: the topic only.
	DatabaseURL string
	// WeightLimit is the simulator's REQUEST_WEIGHT per minute, reported in
	// exchangeInfo and enforced with 429s (default Binance's 2,400 per
	// IP). Every client in the run shares it as one IP: the producers'
	// listenKey calls and the gap backfill's reads, each at its share
	// (binanceapi: Priorities). A larger limit stands for the backfill
	// spread over more IPs (limit/2,400 of them).
	WeightLimit int
	// Settle bounds the wait for the database to converge (default
	// settleBound: 2 min plus the weight the backfill and the sweep need
	// at the workers' share of WeightLimit).
	Settle time.Duration
	Out    io.Writer
	Log    *slog.Logger
}

// FailoverResult is what Failover measured.
type FailoverResult struct {
	Moved           int             // accounts of the killed process
	Recovery        []time.Duration // per moved account: kill -> streaming on a survivor (its gap marker), sorted
	GapsNotMoved    int             // gap markers after the kill of accounts that did not move (want 0)
	ScaleOutMoved   int             // accounts the third process took
	ScaleOutGaps    int             // gap markers after the third process joined (want 0)
	MissingAfter    int             // frames pushed after every account was back but not in the topic (want 0)
	MissingScaleOut int             // frames pushed during the scale-out not in the topic (want 0)
	// Database is the comparison of the database with the ground truth
	// (nil without FailoverOptions.DatabaseURL).
	Database *DatabaseResult
}

// OK reports whether the run lost, doubled or left behind nothing.
func (r FailoverResult) OK() bool {
	return r.ScaleOutGaps == 0 && r.MissingAfter == 0 && r.MissingScaleOut == 0 && len(r.Recovery) == r.Moved &&
		(r.Database == nil || r.Database.OK())
}

// Failover runs two producer processes, kills one with SIGKILL, measures
// how long each of its accounts takes to stream again on the survivor
// (from the survivor's start-up gap marker, which the gap watcher turns
// into a backfill), then starts a replacement (two processes again) and a
// third process, which takes about a third of the accounts with no gap
// marker (make-before-break).
func Failover(ctx context.Context, o FailoverOptions) (FailoverResult, error) {
	var res FailoverResult
	// With the database, no trading until every account streams: an order
	// opened and closed before an account's first socket, in a symbol it
	// holds no position in, is beyond any backfill (the exchange lists past
	// orders by symbol only), and is not what this run measures.
	if o.WeightLimit <= 0 {
		o.WeightLimit = 2400
	}
	env, err := startEnvWeight(ctx, o.Accounts, o.Interval, o.DatabaseURL == "", o.WeightLimit)
	if err != nil {
		return res, err
	}
	defer env.Close()
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	var pl *pipeline
	if o.DatabaseURL != "" {
		if pl, err = startPipeline(ctx, env, o.DatabaseURL, o.Log); err != nil {
			return res, err
		}
		defer pl.close()
	}
	reader, err := kclient.ForBrokers(env.Broker.Addr()).Client(
		kgo.ConsumeTopics(topics.UserDataStream.Name(env.Prefix)), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return res, err
	}
	defer reader.Close()
	tp := newTopicView(reader)

	var ps []*Proc
	defer func() {
		for _, p := range ps {
			p.Kill()
		}
	}()
	start := func(name string) (*Proc, error) {
		p, err := env.Start(ctx, o.Self, o.Args, name, o.Session, o.Grace)
		if err == nil {
			ps = append(ps, p)
		}
		return p, err
	}
	a, err := start("a")
	if err != nil {
		return res, err
	}
	b, err := start("b")
	if err != nil {
		return res, err
	}
	within := 2*time.Minute + time.Duration(o.Accounts)*20*time.Millisecond
	if err := waitStreaming(ctx, []*Proc{a, b}, o.Accounts, within); err != nil {
		return res, err
	}
	if err := waitBalanced(ctx, []*Proc{a, b}, o.Accounts, o.Grace, within); err != nil {
		return res, err
	}
	env.Sim.SetTrading(true)
	backoff.Sleep(ctx, 2*time.Second)
	stB, _ := b.Status()
	fmt.Fprintf(o.Out, "failover: %d accounts on two producer processes (a %d, b %d), session timeout %s, hand-over grace %s\n",
		o.Accounts, o.Accounts-stB.Connected, stB.Connected, o.Session, o.Grace)

	// kill -9 b.
	kill := time.Now()
	b.Kill()
	ps = slices.DeleteFunc(ps, func(p *Proc) bool { return p == b })
	if err := waitStreaming(ctx, []*Proc{a}, o.Accounts, o.Session+within); err != nil {
		return res, err
	}
	back := time.Now()
	// Read until every moved account's gap marker is in (or the count
	// stops growing: the reader shares the machine with the producers).
	for last, still := -1, 0; still < 5; {
		if _, err := tp.poll(ctx, time.Now()); err != nil {
			return res, err
		}
		res.Recovery = res.Recovery[:0]
		for _, gs := range tp.gaps {
			for _, g := range gs {
				if g.ToMs >= kill.UnixMilli() {
					res.Recovery = append(res.Recovery, time.UnixMilli(g.ToMs).Sub(kill))
				}
			}
		}
		if len(res.Recovery) >= stB.Connected {
			break
		}
		if len(res.Recovery) == last {
			still++
		} else {
			last, still = len(res.Recovery), 0
		}
		backoff.Sleep(ctx, time.Second)
	}
	res.Moved = stB.Connected
	slices.Sort(res.Recovery)
	if len(res.Recovery) != res.Moved {
		res.GapsNotMoved = len(res.Recovery) - res.Moved
	}
	fmt.Fprintf(o.Out, "  kill -9 b: %d accounts streaming again on a after %s; gap markers after the kill: %d (want %d)\n",
		res.Moved, back.Sub(kill).Round(time.Millisecond), len(res.Recovery), res.Moved)
	if n := len(res.Recovery); n > 0 {
		fmt.Fprintf(o.Out, "  kill -> streaming again per account: p0 %s p50 %s p90 %s p99 %s max %s\n",
			res.Recovery[0].Round(time.Millisecond), res.Recovery[n/2].Round(time.Millisecond), res.Recovery[n*9/10].Round(time.Millisecond),
			res.Recovery[min(n-1, n*99/100)].Round(time.Millisecond), res.Recovery[n-1].Round(time.Millisecond))
	}
	backoff.Sleep(ctx, 3*time.Second)
	if res.MissingAfter, err = tp.settledMissing(ctx, env.Sim, back, time.Now().Add(-2*time.Second)); err != nil {
		return res, err
	}

	// Scale out: b2 joins a (two processes), then c joins them (three).
	b2, err := start("b2")
	if err != nil {
		return res, err
	}
	if err := waitBalanced(ctx, []*Proc{a, b2}, o.Accounts, o.Grace, within); err != nil {
		return res, err
	}
	join := time.Now()
	c, err := start("c")
	if err != nil {
		return res, err
	}
	if err := waitBalanced(ctx, []*Proc{a, b2, c}, o.Accounts, o.Grace, within); err != nil {
		return res, err
	}
	stC, _ := c.Status()
	res.ScaleOutMoved = stC.Connected
	backoff.Sleep(ctx, 3*time.Second)
	if res.MissingScaleOut, err = tp.settledMissing(ctx, env.Sim, join, time.Now().Add(-2*time.Second)); err != nil {
		return res, err
	}
	for _, gs := range tp.gaps {
		for _, g := range gs {
			if g.ToMs >= join.UnixMilli() {
				res.ScaleOutGaps++
			}
		}
	}
	fmt.Fprintf(o.Out, "  third process: took %d of %d accounts (%.0f%%); gap markers since it joined: %d; frames pushed since then missing from the topic: %d\n",
		res.ScaleOutMoved, o.Accounts, 100*float64(res.ScaleOutMoved)/float64(o.Accounts), res.ScaleOutGaps, res.MissingScaleOut)
	fmt.Fprintf(o.Out, "  frames pushed after every account was back on a, missing from the topic: %d\n", res.MissingAfter)
	if pl == nil {
		return res, nil
	}

	// The database: trading stops, the sinks and the backfill catch up,
	// and the tables are compared with the ground truth. The moved
	// accounts' sockets died with b: a frame pushed to one in the instant
	// before may never have been read (the backfill repairs its order).
	var drops []chaos.Drop
	for id, gs := range tp.gaps {
		for _, g := range gs {
			if g.ToMs >= kill.UnixMilli() && g.ToMs < join.UnixMilli() {
				drops = append(drops, chaos.Drop{Account: id, At: kill})
				break
			}
		}
	}
	settle := o.Settle
	if settle <= 0 {
		settle = settleBound(o.Accounts, len(drops), o.WeightLimit)
	}
	fmt.Fprintf(o.Out, "  database: %d gap backfills and %d sweeps at %.0f%% of %d weight a minute; waiting up to %s for the tables to converge\n",
		len(drops), o.Accounts, 100*binanceapi.BackgroundBudget, o.WeightLimit, settle.Round(time.Second))
	db, err := pl.settle(ctx, env, drops, settle)
	if err != nil {
		return res, err
	}
	res.Database = &db
	fmt.Fprintf(o.Out, "  database (api_data_stream, orders, order_fills) against the ground truth, %s after trading stopped (converged: %t):\n",
		db.ConvergedAfter.Round(100*time.Millisecond), db.Converged)
	if db.Behind != "" {
		fmt.Fprintf(o.Out, "    still behind: %s\n", db.Behind)
	}
	fmt.Fprintf(o.Out, "    orders and algo orders the gap backfill did not bring back (opened and closed in the outage in a symbol new to the account), before the order-sync sweep: %d\n",
		db.LostBeforeSweep)
	fmt.Fprintf(o.Out, "    lost but unreachable by any REST read (opened and closed unfilled while no socket was attached, in a symbol the account has nothing else in): %d\n", db.Unreachable)
	for _, d := range db.UnreachableDetails {
		fmt.Fprintf(o.Out, "      %s\n", d)
	}
	fmt.Fprintf(o.Out, "    frames pushed %d, audited %d, unread at the kill %d, second copies of a hand-over not stored %d; orders %d, algo orders %d, fills %d, transitions %d compared\n",
		db.FramesPushed, db.FramesStored, db.FramesUnread, db.FramesOverlap, db.Orders, db.AlgoOrders, db.Fills, db.Transitions)
	fmt.Fprintf(o.Out, "    lost: orders %d, algo orders %d, fills %d, frames %d; doubled: audit rows %d, fills %d, transitions %d; phantom rows %d, status regressions %d\n",
		db.Lost.Orders, db.Lost.AlgoOrders, db.Lost.Fills, db.Lost.Frames, db.Duplicates.AuditRows, db.Duplicates.Fills, db.Duplicates.Transitions,
		db.Phantom, db.Regressions)
	for _, d := range db.Details {
		fmt.Fprintf(o.Out, "    %s\n", d)
	}
	return res, nil
}

// waitBalanced waits until ps stream n accounts between them, each at
// least a fair share's half, and the hand-over grace has passed.
func waitBalanced(ctx context.Context, ps []*Proc, n int, grace, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		total, ok := 0, true
		for _, p := range ps {
			st, err := p.Status()
			if err != nil {
				return err
			}
			total += st.Accounts
			if st.Connected < n/len(ps)/2 {
				ok = false
			}
		}
		if ok && total == n {
			backoff.Sleep(ctx, grace+time.Second)
			return waitStreaming(ctx, ps, n, within)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes hold %d accounts, not balanced over %d after %s", len(ps), total, n, within)
		}
		backoff.Sleep(ctx, 200*time.Millisecond)
	}
}

// topicView accumulates the user-data-stream topic.
type topicView struct {
	cl     *kgo.Client
	frames map[string]map[string]bool
	last   map[string]time.Time
	gaps   map[string][]topics.GapMarker
}

func newTopicView(cl *kgo.Client) *topicView {
	return &topicView{cl: cl, frames: map[string]map[string]bool{}, last: map[string]time.Time{}, gaps: map[string][]topics.GapMarker{}}
}

// poll reads what is in the topic up to about now.
func (v *topicView) poll(ctx context.Context, until time.Time) (*topicView, error) {
	for {
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		fs := v.cl.PollFetches(pctx)
		cancel()
		if ctx.Err() != nil {
			return v, ctx.Err()
		}
		newest := time.Time{}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			n++
			id := string(r.Key)
			switch topics.Header(r, topics.HeaderKind) {
			case topics.KindGap:
				var g topics.GapMarker
				if json.Unmarshal(r.Value, &g) == nil {
					v.gaps[id] = append(v.gaps[id], g)
				}
			case topics.KindFrame:
				if v.frames[id] == nil {
					v.frames[id] = map[string]bool{}
				}
				v.frames[id][string(r.Value)] = true
				if r.Timestamp.After(v.last[id]) {
					v.last[id] = r.Timestamp
				}
			}
			if r.Timestamp.After(newest) {
				newest = r.Timestamp
			}
		})
		if n == 0 || newest.After(until) {
			return v, nil
		}
	}
}

// settledMissing counts the frames pushed in [from, to) missing from the
// topic, reading on while the count goes down (the reader shares the
// machine with the producers: a quiet poll is not the end of the topic).
func (v *topicView) settledMissing(ctx context.Context, sim *simulator.Simulator, from, to time.Time) (int, error) {
	best := -1
	for range 30 {
		if _, err := v.poll(ctx, to); err != nil {
			return best, err
		}
		m := v.missingSince(sim, from, to)
		if m == 0 || m == best {
			return m, nil
		}
		best = m
		backoff.Sleep(ctx, time.Second)
	}
	return best, nil
}

// missingSince counts the frames the simulator pushed to a socket in
// [from, to) that are not in the topic (a frame pushed to two sockets, a
// hand-over's overlap, counts as stored when one copy is).
func (v *topicView) missingSince(sim *simulator.Simulator, from, to time.Time) int {
	n := 0
	for _, a := range sim.Accounts() {
		for _, p := range sim.PushedFrames(a.ID) {
			if !p.At.Before(from) && p.At.Before(to) && !v.frames[a.ID][string(p.Data)] {
				n++
			}
		}
	}
	return n
}

// syncWeight is about what one order sync costs (README, Order sync:
// openOrders and openAlgoOrders 40 each, income 30, account 5, time 1,
// and 10 per traded symbol; the simulated accounts trade a few symbols
// each).
const syncWeight = 160

// settleBound is how long the database may take to converge after trading
// stops: 2 minutes for the sinks, plus the backfills and one sweep per
// account at the workers' share of the minute's weight, twice over (the
// client waits out whole minute windows).
func settleBound(accounts, backfills, weightLimit int) time.Duration {
	perMinute := binanceapi.BackgroundBudget * float64(weightLimit)
	minutes := float64((accounts+backfills)*syncWeight) / perMinute
	return 2*time.Minute + time.Duration(2*minutes*float64(time.Minute))
}
