// Package e2e is `kraite bench e2e`: the user-data path of the whole
// pipeline in one process (the Binance simulator, both WebSocket producers,
// an embedded Kafka broker (kfake), dispatch, and the audit, orders and
// mark-price sinks on a scratch MariaDB/MySQL database) at N accounts,
// measuring how long an exchange event takes from its own exchange time
// (the frame's T, else its E) to
//
//   - the api_data_stream row (its written_at, set by the database),
//   - the orders row (written_at of the row version the frame produced),
//   - the order transition record on the positions topic,
//
// and each stage on the way (producer: the received_at header; broker
// ack; dispatch: the orders topic record; sinks), with every frame of the
// measured window accounted for. The baseline, measured in the same run on
// a fresh broker and database, is the sinks' previous sequential cycle
// (their Config.SyncCycle).
package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"sync"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/producers/markprice"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/queues/marketjobs"
	auditsink "github.com/kraite/stream/sinks/audit"
	marksink "github.com/kraite/stream/sinks/markprice"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

// DefaultServer is the database server scratch databases are created on
// when no URL is given.
const DefaultServer = "mysql://root@127.0.0.1:3306/mysql"

// Config sets up one run.
type Config struct {
	// Accounts is the number of simulated accounts, one WebSocket each.
	Accounts int
	// Duration is the measured window of each phase; Warmup runs before it.
	Duration, Warmup time.Duration
	// OrderInterval is the mean time between order lifecycle steps per
	// account (the simulator's rate); MarkInterval the mark-price push
	// interval (default 1 s, as the exchange).
	OrderInterval, MarkInterval time.Duration
	// DatabaseURL names the MariaDB/MySQL server: each phase creates its own
	// scratch database on it (never writing the database the URL names)
	// and drops it afterwards. Default DefaultServer.
	DatabaseURL string
	// Baseline also measures the sinks' previous cycle (SyncCycle).
	Baseline bool
	// Repeat measures every phase Repeat times (default 1), alternating
	// the phases (new, baseline, new, baseline, ...) so that a change of
	// the machine's load hits both alike; the report then shows the
	// spread of the per-run figures (Report.Spread).
	Repeat int
	// Drain bounds the wait for the window's frames to land after it ends
	// (default 60 s).
	Drain time.Duration
	// Seed is the simulator's seed.
	Seed int64
	Log  *slog.Logger
	// Out receives progress lines and the report (nil: discarded).
	Out io.Writer
	// variants, when set, replaces the new cycle and the baseline by
	// other phases (in-package experiments).
	variants []phaseSpec
}

func (c Config) withDefaults() Config {
	if c.MarkInterval <= 0 {
		c.MarkInterval = time.Second
	}
	if c.OrderInterval <= 0 {
		c.OrderInterval = 2 * time.Second
	}
	if c.DatabaseURL == "" {
		c.DatabaseURL = DefaultServer
	}
	if c.Drain <= 0 {
		c.Drain = 60 * time.Second
	}
	if c.Seed == 0 {
		c.Seed = 17
	}
	if c.Repeat == 0 {
		c.Repeat = 1
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Out == nil {
		c.Out = io.Discard
	}
	return c
}

// Validate names the bad field.
func (c Config) Validate() error {
	switch {
	case c.Accounts < 1 || c.Accounts > 100_000:
		return fmt.Errorf("accounts: %d is not between 1 and 100000", c.Accounts)
	case c.Duration <= 0:
		return errors.New("duration: must be positive")
	case c.Warmup < 0:
		return errors.New("warmup: must not be negative")
	case c.OrderInterval < 0 || c.MarkInterval < 0 || c.Drain < 0:
		return errors.New("intervals must not be negative")
	case c.Repeat < 0 || c.Repeat > MaxRepeat:
		return fmt.Errorf("repeat: %d is not between 1 and %d", c.Repeat, MaxRepeat)
	}
	return nil
}

// MaxRepeat bounds Config.Repeat.
const MaxRepeat = 100

// Report is what Run measured.
type Report struct {
	// Phases are the new cycle and (with Config.Baseline) the baseline, in
	// the order measured: with Config.Repeat, run 1's, then run 2's, ...
	Phases []Phase
}

// Names of the phases.
const (
	PhaseNew      = "new cycle"
	PhaseBaseline = "baseline: previous cycle (SyncCycle)"
)

// phaseSpec is one kind of phase: its name and how its pipeline differs.
type phaseSpec struct {
	name      string
	syncCycle bool
	// tune, when set, changes the phase's components before they are built
	// (variants compared by in-package experiments).
	tune func(*phaseSetup)
}

// phaseSetup is what a phaseSpec's tune may change.
type phaseSetup struct {
	audit  *auditsink.Config
	orders *orderssink.Config
	// procOpts are dispatch's goka options.
	procOpts []goka.ProcessorOption
}

func (c Config) specs() []phaseSpec {
	if len(c.variants) > 0 {
		return c.variants
	}
	s := []phaseSpec{{name: PhaseNew}}
	if c.Baseline {
		s = append(s, phaseSpec{name: PhaseBaseline, syncCycle: true})
	}
	return s
}

// Run measures the new sink cycle and, with cfg.Baseline, the previous one,
// each on its own broker, simulator and scratch database, cfg.Repeat times
// alternately, and writes the report to cfg.Out.
func Run(ctx context.Context, cfg Config) (Report, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	var rep Report
	fmt.Fprintf(cfg.Out, "e2e: %d accounts, order step every %s per account, mark price every %s, %s window after %s warm-up per phase",
		cfg.Accounts, cfg.OrderInterval, cfg.MarkInterval, cfg.Duration, cfg.Warmup)
	if cfg.Repeat > 1 {
		fmt.Fprintf(cfg.Out, ", %d runs alternating the phases", cfg.Repeat)
	}
	fmt.Fprintln(cfg.Out)
	for run := 1; run <= cfg.Repeat; run++ {
		for _, spec := range cfg.specs() {
			ph, err := runPhase(ctx, cfg, spec, run)
			if err != nil {
				return rep, err
			}
			rep.Phases = append(rep.Phases, ph)
			ph.print(cfg.Out)
		}
		if cfg.Repeat > 1 {
			rep.printRatio(cfg.Out, run)
		}
	}
	if cfg.Repeat > 1 {
		rep.printSpread(cfg.Out)
	} else {
		rep.printRatio(cfg.Out, 1)
	}
	return rep, nil
}

// ScratchDB creates a fresh database on the MariaDB/MySQL server of
// serverURL, migrates it and seeds the symbols and the simulator's symbol
// rules (exchangeInfo); drop removes it. Benchmarks write there.
func ScratchDB(ctx context.Context, serverURL string, exchangeInfo []byte) (*db.DB, func(), error) {
	t, err := db.ParseURL(serverURL)
	if err != nil {
		return nil, nil, err
	}
	if t.Dialect != db.MySQL {
		return nil, nil, fmt.Errorf("the benchmarks run on MariaDB/MySQL, not %s", t.Dialect)
	}
	admin, err := db.Open(ctx, serverURL)
	if err != nil {
		return nil, nil, err
	}
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	name := "kraite_e2e_" + hex.EncodeToString(b)
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return nil, nil, fmt.Errorf("creating scratch database %s: %w", name, err)
	}
	drop := func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			fmt.Fprintf(os.Stderr, "bench: dropping scratch database %s: %v\n", name, err)
		}
		admin.Close()
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		drop()
		return nil, nil, err
	}
	u.Path = "/" + name
	d, err := db.Open(ctx, u.String())
	if err != nil {
		drop()
		return nil, nil, err
	}
	closeAll := func() { d.Close(); drop() }
	if _, err := d.Migrate(ctx); err != nil {
		closeAll()
		return nil, nil, err
	}
	if _, err := d.SeedUniverse(ctx); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("seeding symbols: %w", err)
	}
	if _, err := marketjobs.ImportExchangeInfo(ctx, d, topics.ExchangeBinance, exchangeInfo, time.Now()); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("importing the simulator's symbol rules: %w", err)
	}
	return d, closeAll, nil
}

// ackLog keeps the user-data producer's received->ack latencies of the window.
type ackLog struct {
	mu sync.Mutex
	on bool
	d  []time.Duration
}

func (a *ackLog) add(stream string, d time.Duration) {
	if stream != "userdata" {
		return
	}
	a.mu.Lock()
	if a.on {
		a.d = append(a.d, d)
	}
	a.mu.Unlock()
}

func (a *ackLog) set(on bool) {
	a.mu.Lock()
	a.on = on
	a.mu.Unlock()
}

func runPhase(ctx context.Context, cfg Config, spec phaseSpec, run int) (Phase, error) {
	name := spec.name
	ph := Phase{Name: name, Run: run, LoadBefore: proc.LoadAvg()}
	log := cfg.Log.With("phase", name, "run", run)
	if cfg.Repeat > 1 {
		name = fmt.Sprintf("%s (run %d/%d)", name, run, cfg.Repeat)
	}
	fmt.Fprintf(cfg.Out, "  phase %s: starting (load %s)\n", name, ph.LoadBefore)

	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		return ph, err
	}
	defer b.Close()
	brokers := []string{b.Addr()}
	kf := kclient.ForBrokers(brokers...)
	prefix := topics.DefaultPrefix
	if err := applyTopics(ctx, kf, prefix); err != nil {
		return ph, err
	}
	sim, err := simulator.New(simulator.Config{Seed: cfg.Seed, Accounts: cfg.Accounts, OrderInterval: cfg.OrderInterval,
		MarkPriceInterval: cfg.MarkInterval, Logger: log.With("component", "simulator")})
	if err != nil {
		return ph, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return ph, fmt.Errorf("listening for the simulator: %w", err)
	}
	defer ln.Close() // Serve closes it too; this covers a return before Serve
	simAddr := ln.Addr().String()
	d, dropDB, err := ScratchDB(ctx, cfg.DatabaseURL, sim.ExchangeInfo())
	if err != nil {
		return ph, err
	}
	defer dropDB()

	acks := &ackLog{}
	pub, err := publisher.New(publisher.Config{Kafka: kf, ClientID: "kraite-bench-e2e", OnAck: acks.add}, log, nil)
	if err != nil {
		return ph, err
	}
	defer func() {
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		_ = pub.Close(fctx)
	}()
	var accts []userdata.Account
	for _, a := range sim.Accounts() {
		accts = append(accts, userdata.Account{ID: a.ID, APIKey: a.APIKey, APISecret: a.APISecret})
	}
	ud, err := userdata.New(userdata.Config{TopicPrefix: prefix, RESTBase: "http://" + simAddr, WSBase: "ws://" + simAddr},
		accts, pub, nil, log.With("component", "userdata-producer"))
	if err != nil {
		return ph, err
	}
	mp, err := markprice.New(markprice.Config{TopicPrefix: prefix, WSBase: "ws://" + simAddr}, pub, nil, log.With("component", "markprice-producer"))
	if err != nil {
		return ph, err
	}
	ac := auditsink.Config{SinkConfig: auditsink.SinkConfig{Kafka: kf, Prefix: prefix, Group: topics.GroupSinkAudit.Name(prefix)}}
	oc := orderssink.Config{SinkConfig: orderssink.SinkConfig{Kafka: kf, Prefix: prefix, Group: topics.GroupSinkOrders.Name(prefix)}}
	setSyncCycle(&ac, &oc, spec.syncCycle)
	setup := phaseSetup{audit: &ac, orders: &oc,
		procOpts: append(kf.WithLog(log).GokaProcessorOptions(1), goka.WithStorageBuilder(storage.MemoryBuilder()))}
	if spec.tune != nil {
		spec.tune(&setup)
	}
	disp, err := dispatch.New(dispatch.Config{Kafka: kf, Brokers: brokers, Prefix: prefix, Log: log.With("component", "dispatch"),
		ViewOptions: append(kf.GokaViewOptions(1), goka.WithViewStorageBuilder(storage.MemoryBuilder()))},
		setup.procOpts...)
	if err != nil {
		return ph, err
	}
	audit, err := auditsink.New(ac, d, log.With("component", "audit-sink"))
	if err != nil {
		return ph, err
	}
	orders, err := orderssink.New(oc, d, log.With("component", "orders-sink"))
	if err != nil {
		return ph, err
	}
	marks, err := marksink.New(marksink.Config{Kafka: kf, Prefix: prefix, Group: topics.GroupSinkMarkPrice.Name(prefix)},
		d, log.With("component", "markprice-sink"))
	if err != nil {
		return ph, err
	}

	rctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(rctx)
	for _, c := range []struct {
		name string
		run  func(context.Context) error
	}{{"simulator", func(ctx context.Context) error { return sim.Serve(ctx, ln) }}, {"userdata-producer", ud.Run}, {"markprice-producer", mp.Run}, {"dispatch", disp.Run},
		{"audit-sink", audit.Run}, {"orders-sink", orders.Run}, {"markprice-sink", marks.Run}} {
		g.Go(func() error {
			if err := c.run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil // stopped by the run (an error while stopping is not a measurement)
		})
	}
	result := make(chan error, 1)
	go func() { result <- g.Wait() }()
	fail := func(err error) (Phase, error) {
		stop()
		<-result
		return ph, err
	}

	// Ready: dispatch serves and a frame of every account made it to the
	// audit table (every stream is up).
	if err := disp.WaitForReady(gctx); err != nil {
		return fail(fmt.Errorf("waiting for dispatch: %w", err))
	}
	readyFrom := time.Now()
	readyBy := readyFrom.Add(2*time.Minute + time.Duration(cfg.Accounts)*20*time.Millisecond)
	for {
		var n int
		if err := d.QueryRowContext(gctx, "SELECT COUNT(DISTINCT account) FROM api_data_stream").Scan(&n); err != nil {
			return fail(fmt.Errorf("waiting for the streams: %w", err))
		}
		if n >= cfg.Accounts {
			break
		}
		if time.Now().After(readyBy) {
			return fail(fmt.Errorf("after %s only %d of %d accounts have a frame in api_data_stream", time.Since(readyFrom).Round(time.Second), n, cfg.Accounts))
		}
		if !backoff.Sleep(gctx, 200*time.Millisecond) {
			return fail(firstErr(gctx, result))
		}
	}
	if !backoff.Sleep(gctx, cfg.Warmup) {
		return fail(firstErr(gctx, result))
	}

	// The window: frames written to a socket in [from, to).
	poll := newRowPoller(d)
	pctx, pstop := context.WithCancel(gctx)
	pollDone := make(chan error, 1)
	go func() { pollDone <- poll.run(pctx, 100*time.Millisecond) }()
	acks.set(true)
	from := time.Now()
	if !backoff.Sleep(gctx, cfg.Duration) {
		pstop()
		return fail(firstErr(gctx, result))
	}
	to := time.Now()
	acks.set(false)
	sim.SetTrading(false) // no new orders; what the window sent drains
	ph.LoadAfter = proc.LoadAvg()
	ph.Window = to.Sub(from)

	frames := windowFrames(sim, from, to)
	ph.Frames = len(frames)
	ph.PerSec = float64(len(frames)) / to.Sub(from).Seconds()
	fmt.Fprintf(cfg.Out, "  phase %s: %d frames in the window (%.0f/s), draining\n", name, len(frames), ph.PerSec)

	// Drain: wait until every window frame has its api_data_stream row and
	// every order frame's orders row is at its version or newer (or the
	// bound passes); then a moment for the outbox.
	want := frames.byPayload()
	drainBy := time.Now().Add(cfg.Drain)
	var (
		audited map[string][]time.Time
		final   map[orderKey]orderVer
	)
	for {
		audited, err = readAudit(gctx, d, from.Add(-5*time.Second))
		if err == nil {
			final, err = readOrders(gctx, d)
		}
		if err != nil {
			pstop()
			return fail(err)
		}
		if missingAudit(want, audited) == 0 && frames.rowsBehind(final) == 0 || time.Now().After(drainBy) {
			break
		}
		if !backoff.Sleep(gctx, 500*time.Millisecond) {
			pstop()
			return fail(firstErr(gctx, result))
		}
	}
	backoff.Sleep(gctx, time.Second)
	pstop()
	if err := <-pollDone; err != nil && !errors.Is(err, context.Canceled) {
		return fail(err)
	}
	rd, err := kf.Client(kgo.KeepControlRecords(), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		return fail(err)
	}
	defer rd.Close()
	udRecs, err := readTopic(gctx, rd, topics.UserDataStream.Name(prefix))
	if err != nil {
		return fail(err)
	}
	orderRecs, err := readTopic(gctx, rd, topics.Orders.Name(prefix))
	if err != nil {
		return fail(err)
	}
	posRecs, err := readTopic(gctx, rd, topics.Positions.Name(prefix))
	if err != nil {
		return fail(err)
	}
	stop()
	if err := <-result; err != nil {
		return ph, err
	}

	acks.mu.Lock()
	ph.measure(frames, udRecs, orderRecs, posRecs, audited, poll, final, acks.d)
	acks.mu.Unlock()
	return ph, nil
}

func firstErr(ctx context.Context, result chan error) error {
	select {
	case err := <-result:
		if err != nil {
			return err
		}
	default:
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return errors.New("stopped")
}

func applyTopics(ctx context.Context, kf *kclient.Factory, prefix string) error {
	cl, err := kf.Client(kgo.RequestTimeoutOverhead(5 * time.Second))
	if err != nil {
		return fmt.Errorf("creating the admin client: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := topics.Apply(ctx, cl, prefix, topics.All(), 1); err != nil {
		return fmt.Errorf("applying the topic catalog: %w", err)
	}
	return nil
}
