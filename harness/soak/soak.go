// Package soak is the one time-compressed soak of Kraite stream, behind
// both `kraite chaos --soak` (the whole pipeline, its database compared
// with the exchange's ground truth at the end) and `kraite bench soak` (the
// user-data producer alone). A simulated span of hours runs with every
// protocol timer divided by the speed (pings, pong deadline, listenKey TTL
// and keep-alive, the 24 h connection cut-off and the rotation before it,
// the order-sync period) against a broker and a simulator in a peer process
// (the kraite binary re-executed as `kraite bench peer`), so the memory
// sampled over the run (harness/proc) is this process's alone.
package soak

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
)

// samples is how many memory samples a soak takes after the first (the
// warm-up).
const samples = 12

// MaxSpeed bounds Config.Speed: the shortest compressed timer, the
// simulator's 3 min ping, stays 18 ms, and the peer's REST weight limit
// (2400 times the speed) stays an int. A larger, infinite or NaN speed
// would turn timers into zero or negative durations (a ticker panics).
const MaxSpeed = 10000

// Config is one soak.
type Config struct {
	Simulated     time.Duration // the simulated span
	Speed         float64       // time compression factor (1..MaxSpeed)
	Accounts      int
	Seed          int64
	OrderInterval time.Duration // mean time between order steps per account
	// Pipeline soaks the whole pipeline on a fresh MariaDB database on
	// AdminURL (dropped at the end unless Keep) and compares it with the
	// ground truth within Settle at the end; otherwise the user-data
	// producer alone, counting the frames the broker acknowledged.
	Pipeline bool
	AdminURL string
	Keep     bool
	Settle   time.Duration
	// App is the process's configuration (topic prefix, jobs); the
	// brokers and the exchange are the peer's.
	App *app.Config
	// Self is the kraite binary the peer re-executes (default
	// os.Executable), PeerCmd the command that serves as the peer (kraite
	// bench peer: ServePeer) and PeerEnv what the peer's environment adds
	// (a test binary's switch to run the command line).
	Self    string
	PeerCmd []string
	PeerEnv []string
	Log     *slog.Logger
	Out     io.Writer // the opening line
	Stderr  io.Writer // the peer's
}

// Validate names every setting that cannot run.
func (c Config) Validate() error {
	var errs []error
	if c.App == nil {
		errs = append(errs, errors.New("no configuration"))
	}
	if c.Accounts < 1 || c.Accounts > 1000 {
		errs = append(errs, fmt.Errorf("--accounts %d is not within 1..1000", c.Accounts))
	}
	if !(c.Speed >= 1 && c.Speed <= MaxSpeed) { // NaN fails both
		errs = append(errs, fmt.Errorf("--speed %v is not within 1..%d", c.Speed, MaxSpeed))
	}
	if c.Simulated <= 0 {
		errs = append(errs, fmt.Errorf("--simulated %s must be positive", c.Simulated))
	}
	if c.OrderInterval <= 0 {
		errs = append(errs, fmt.Errorf("--order-interval %s must be positive", c.OrderInterval))
	}
	if c.Pipeline && c.Settle <= 0 {
		errs = append(errs, fmt.Errorf("--settle %s must be positive", c.Settle))
	}
	if len(c.PeerCmd) == 0 {
		errs = append(errs, errors.New("no peer command"))
	}
	return errors.Join(errs...)
}

// Sample is one memory sample of a soak.
type Sample struct {
	Real      chaos.Seconds `json:"real_s"`
	Simulated chaos.Seconds `json:"simulated_s"`
	proc.Memory
	// Frames are the frames in the database's audit table (pipeline) or
	// acknowledged by the broker (producer) so far.
	Frames int64 `json:"frames_stored"`
}

// Report is the result of a soak.
type Report struct {
	Subject   string        `json:"subject"` // "pipeline" or "producer"
	Simulated chaos.Seconds `json:"simulated_s"`
	Real      chaos.Seconds `json:"real_s"`
	Speed     float64       `json:"speed"`
	Accounts  int           `json:"accounts"`
	Timers    string        `json:"timers"`
	Samples   []Sample      `json:"samples"`
	Start     proc.Memory   `json:"memory_start"` // after warm-up
	Max       proc.Memory   `json:"memory_max"`
	End       proc.Memory   `json:"memory_end"`
	// Result compares orders and algo orders with the simulator's ground
	// truth at the end (pipeline only; frames are not known: the simulator
	// runs in another process).
	Result    chaos.Result `json:"result"`
	Converged bool         `json:"converged"`
}

// Flat reports whether memory stayed flat: the end RSS and heap within 25%
// (RSS) and 50% plus 2 MiB (heap) of the start.
func (s Report) Flat() bool {
	return s.End.RSSMiB <= s.Start.RSSMiB*1.25 && s.End.HeapMiB <= s.Start.HeapMiB*1.5+2
}

// Failures lists why a pipeline soak did not pass: the database did not
// equal the ground truth at the end, or an event was applied twice. A
// producer soak has none: its figures are the result.
func (s Report) Failures() []string {
	if s.Subject != subjectPipeline {
		return nil
	}
	var out []string
	if !s.Converged || s.Result.LostTotal() > 0 || s.Result.Phantom > 0 {
		out = append(out, "the database did not equal the ground truth at the end")
	}
	if n, r := s.Result.DuplicateTotal(), s.Result.Regressions; n > 0 || r > 0 {
		out = append(out, fmt.Sprintf("%d duplicates applied and %d transitions out of a final status", n, r))
	}
	return out
}

// WriteText prints the soak for a person.
func (s Report) WriteText(w io.Writer) {
	fmt.Fprintf(w, "soak of the %s: %s simulated in %s (x%.0f), %d accounts; %s\n",
		s.Subject, time.Duration(s.Simulated), time.Duration(s.Real).Round(time.Second), s.Speed, s.Accounts, s.Timers)
	for _, x := range s.Samples {
		fmt.Fprintf(w, "  t=%-7s simulated %-9s rss %6.1f MiB  heap %6.1f MiB  goroutines %4d  frames %d\n",
			time.Duration(x.Real).Round(100*time.Millisecond), time.Duration(x.Simulated).Round(time.Minute), x.RSSMiB, x.HeapMiB, x.Goroutines, x.Frames)
	}
	fmt.Fprintf(w, "  rss start %.1f MiB, max %.1f MiB, end %.1f MiB (x%.2f); heap start %.1f MiB, max %.1f MiB, end %.1f MiB; goroutines %d -> %d\n",
		s.Start.RSSMiB, s.Max.RSSMiB, s.End.RSSMiB, ratio(s.End.RSSMiB, s.Start.RSSMiB), s.Start.HeapMiB, s.Max.HeapMiB, s.End.HeapMiB,
		s.Start.Goroutines, s.End.Goroutines)
	if s.Subject == subjectPipeline {
		conv := "converged"
		if !s.Converged {
			conv = "did NOT converge"
		}
		fmt.Fprintf(w, "  ground truth: %s; %d orders and %d algo orders compared, %d lost, %d unknown; %d transitions, %d recorded twice, %d out of a final status\n",
			conv, s.Result.Orders, s.Result.AlgoOrders, s.Result.LostTotal(), s.Result.Phantom,
			s.Result.Transitions, s.Result.Duplicates.Transitions, s.Result.Regressions)
		for _, d := range s.Result.Details {
			fmt.Fprintf(w, "    %s\n", d)
		}
	}
	verdict := "flat"
	if !s.Flat() {
		verdict = "NOT flat"
	}
	fmt.Fprintf(w, "  memory %s (load average %s)\n", verdict, proc.LoadAvg())
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

const (
	subjectPipeline = "pipeline"
	subjectProducer = "producer"
)

// subject is what a soak measures: its user-data producer's timers, how it
// starts, the frames so far, and how it ends.
type subject struct {
	frames func() int64
	// attached runs once before the first sample.
	attached func(context.Context) error
	// finish runs after the last sample (the pipeline's comparison).
	finish func(context.Context, *Report) error
	stop   func() error
}

// Run runs the soak of cfg and samples this process's memory over it. The
// caller judges the report (Failures, Flat).
func Run(ctx context.Context, cfg Config) (rep Report, err error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Out == nil {
		cfg.Out = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = os.Stderr
	}
	if cfg.Self == "" {
		if cfg.Self, err = os.Executable(); err != nil {
			return Report{}, fmt.Errorf("finding this executable: %w", err)
		}
	}
	sc := func(d time.Duration) time.Duration { return Scale(cfg.Speed, d) }
	real := sc(cfg.Simulated)
	rep = Report{Subject: subjectProducer, Simulated: chaos.Seconds(cfg.Simulated), Real: chaos.Seconds(real), Speed: cfg.Speed, Accounts: cfg.Accounts}
	if cfg.Pipeline {
		rep.Subject = subjectPipeline
	}
	pc := PeerConfig{Prefix: cfg.App.TopicPrefix, Speed: cfg.Speed, Seed: cfg.Seed, Accounts: cfg.Accounts,
		OrderInterval: cfg.OrderInterval, Paused: cfg.Pipeline}
	info, stopPeer, err := startPeer(ctx, cfg.Self, append(append([]string(nil), cfg.PeerCmd...), pc.Args()...), cfg.PeerEnv, cfg.Stderr)
	if err != nil {
		return rep, err
	}
	defer stopPeer()
	kclient.SetDefault(kclient.Security{}) // the clients talk to the peer's open broker, whatever KRAITE_KAFKA_* says
	ud := userdata.Config{KeepAlive: sc(30 * time.Minute), RotateAfter: sc(23*time.Hour + 30*time.Minute),
		IdleTimeout: max(sc(4*time.Minute+30*time.Second), time.Second)}
	rep.Timers = fmt.Sprintf("pings every %s, listenKey TTL %s, keep-alive %s, connection rotation every %s",
		sc(3*time.Minute), sc(time.Hour), ud.KeepAlive, ud.RotateAfter)
	var sub subject
	if cfg.Pipeline {
		sub, err = pipeline(ctx, cfg, info, ud, &rep)
	} else {
		sub, err = producer(ctx, cfg, info, ud)
	}
	if err != nil {
		return rep, err
	}
	defer func() {
		if serr := sub.stop(); serr != nil {
			err = errors.Join(err, fmt.Errorf("the %s: %w", rep.Subject, serr))
		}
	}()
	if sub.attached != nil {
		if err := sub.attached(ctx); err != nil {
			return rep, err
		}
	}
	fmt.Fprintf(cfg.Out, "soak of the %s: %s simulated in %s (x%.0f), %d accounts; a sample every %s (load average %s)\n",
		rep.Subject, cfg.Simulated, real.Round(time.Second), cfg.Speed, cfg.Accounts, (real / samples).Round(10*time.Millisecond), proc.LoadAvg())
	mctx, mcancel := context.WithTimeout(ctx, real)
	defer mcancel()
	began := time.Now()
	for i := 0; i <= samples; i++ {
		m := proc.Self()
		s := Sample{Real: chaos.Seconds(time.Since(began)), Simulated: chaos.Seconds(time.Duration(float64(time.Since(began)) * cfg.Speed)),
			Memory: m, Frames: sub.frames()}
		rep.Samples = append(rep.Samples, s)
		cfg.Log.Info("soak sample", "real", time.Duration(s.Real).Round(time.Second), "simulated", time.Duration(s.Simulated).Round(time.Minute),
			"rss_mib", fmt.Sprintf("%.1f", m.RSSMiB), "heap_mib", fmt.Sprintf("%.1f", m.HeapMiB), "goroutines", m.Goroutines, "frames", s.Frames)
		if i >= 1 { // the first sample is the warm-up
			if i == 1 {
				rep.Start = m
			}
			rep.Max = proc.Memory{RSSMiB: max(rep.Max.RSSMiB, m.RSSMiB), HeapMiB: max(rep.Max.HeapMiB, m.HeapMiB),
				Goroutines: max(rep.Max.Goroutines, m.Goroutines)}
			rep.End = m
		}
		if i < samples {
			backoff.Sleep(mctx, real/samples)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if sub.finish != nil {
		if err := sub.finish(ctx, &rep); err != nil {
			return rep, err
		}
	}
	return rep, nil
}

// producer is the user-data producer alone, publishing to the peer's broker.
func producer(ctx context.Context, cfg Config, info PeerInfo, ud userdata.Config) (subject, error) {
	var acked atomic.Int64
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(info.Broker),
		OnAck: func(string, time.Duration) { acked.Add(1) }}, cfg.Log, nil)
	if err != nil {
		return subject{}, err
	}
	ud.TopicPrefix, ud.RESTBase, ud.WSBase = cfg.App.TopicPrefix, "http://"+info.Sim, "ws://"+info.Sim
	mg, err := userdata.New(ud, info.Accounts, pub, nil, cfg.Log)
	if err != nil {
		pub.Close(context.Background())
		return subject{}, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mg.Run(rctx) }()
	return subject{frames: acked.Load, stop: func() error {
		cancel()
		err := <-done
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		fctx, fcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer fcancel()
		return errors.Join(err, pub.Close(fctx))
	}}, nil
}

// pipeline is every component in this process, on a fresh database, with
// the order-sync sweep compressed too; trading resumes once every account
// is attached and pauses for the comparison at the end.
func pipeline(ctx context.Context, cfg Config, info PeerInfo, ud userdata.Config, rep *Report) (subject, error) {
	sc := func(d time.Duration) time.Duration { return Scale(cfg.Speed, d) }
	tmp, err := os.MkdirTemp("", "kraite-soak-")
	if err != nil {
		return subject{}, fmt.Errorf("creating a work directory: %w", err)
	}
	cdb, err := chaos.OpenDB(ctx, "", cfg.AdminURL, false)
	if err != nil {
		os.RemoveAll(tmp)
		return subject{}, err
	}
	cleanup := func() error {
		os.RemoveAll(tmp)
		return cdb.Close(ctx, cfg.Keep)
	}
	c := cfg.App.Common
	c.Brokers = []string{info.Broker}
	syncEvery := max(sc(5*time.Minute), time.Second)
	w := app.New(cfg.App, cfg.Log)
	w.Common, w.Exchange = c, app.Exchange{RESTBase: "http://" + info.Sim, WSBase: "ws://" + info.Sim, DatabaseURL: cdb.PipelineURL,
		StateDir: filepath.Join(tmp, "state")}
	w.Accounts, w.Allowlist = info.Accounts, binance.OrderExecutionTypes()
	w.Jobs = w.Jobs.WithSweep(syncEvery, max(sc(30*time.Minute), time.Second))
	rep.Timers += fmt.Sprintf(", order sync every %s, order step every %s per account", syncEvery, cfg.OrderInterval)
	comps, err := chaos.Pipeline(ctx, w, ud)
	if err != nil {
		return subject{}, errors.Join(err, cleanup())
	}
	stopPipeline := chaos.StartPipeline(ctx, w, comps)
	var ids []string
	for _, acct := range info.Accounts {
		ids = append(ids, acct.ID)
	}
	admin := simAdmin{base: "http://" + info.Sim}
	return subject{
		frames: func() int64 {
			var n int64
			_ = cdb.Direct.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_data_stream").Scan(&n)
			return n
		},
		attached: func(ctx context.Context) error {
			if err := chaos.WaitAttached(ctx, cdb.Direct, ids, 2*time.Minute); err != nil {
				return err
			}
			return admin.fault(ctx, map[string]any{"fault": "resume"})
		},
		finish: func(ctx context.Context, rep *Report) error {
			if err := admin.fault(ctx, map[string]any{"fault": "pause"}); err != nil {
				return err
			}
			sctx, cancel := context.WithTimeout(ctx, cfg.Settle)
			defer cancel()
			for {
				snap, err := admin.snapshot(sctx, ids)
				if err == nil {
					rep.Result, err = chaos.Compare(sctx, cdb.Direct, snap, chaos.Options{})
				}
				if err == nil && rep.Result.LostTotal() == 0 && rep.Result.Phantom == 0 {
					rep.Converged = true
					return nil
				}
				if sctx.Err() != nil {
					return nil
				}
				backoff.Sleep(sctx, 2*time.Second)
			}
		},
		stop: func() error { return errors.Join(stopPipeline(), cleanup()) },
	}, nil
}

// simAdmin talks to a simulator's /admin API.
type simAdmin struct{ base string }

func (s simAdmin) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: http %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decoding: %w", path, err)
	}
	return nil
}

func (s simAdmin) fault(ctx context.Context, body map[string]any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/admin/fault", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST /admin/fault: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /admin/fault %s: http %d %s", b, resp.StatusCode, msg)
	}
	return nil
}

// snapshot reads the orders and algo orders of accounts (the frame log is
// not served: frames are not compared).
func (s simAdmin) snapshot(ctx context.Context, accounts []string) (chaos.Snapshot, error) {
	snap := chaos.Snapshot{Accounts: accounts, Orders: map[string][]simulator.Order{}, Algos: map[string][]simulator.AlgoOrder{}}
	for _, a := range accounts {
		var os []simulator.Order
		if err := s.get(ctx, "/admin/orders?account="+a, &os); err != nil {
			return snap, err
		}
		var gs []simulator.AlgoOrder
		if err := s.get(ctx, "/admin/algo-orders?account="+a, &gs); err != nil {
			return snap, err
		}
		snap.Orders[a], snap.Algos[a] = os, gs
	}
	return snap, nil
}
