package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/topics"
	"github.com/twmb/franz-go/pkg/kadm"
)

// The timers of a chaos run: a silent socket is noticed in seconds, not the
// production 4m30s, and the order-sync sweep runs every 2 s instead of 5 min.
const (
	idleTimeout = 3 * time.Second
	pingEvery   = time.Second
	syncEvery   = 2 * time.Second
	restartWait = 2 * time.Second
)

// Config is one chaos run (kraite chaos).
type Config struct {
	// App is the process's configuration; the run replaces its brokers
	// with its own embedded broker and its exchange with the simulator.
	App           *app.Config
	For           time.Duration // the fault window
	Accounts      int
	Seed          int64         // of the simulator and the fault schedule
	OrderInterval time.Duration // mean time between order events per account
	Settle        time.Duration // after For: the bound on recoveries and convergence
	Kinds         []Kind        // the faults to inject (nil: AllKinds)
	// DatabaseURL is an existing database to use; empty: a fresh MariaDB
	// database on AdminURL, dropped at the end unless Keep.
	DatabaseURL, AdminURL string
	Keep                  bool
	// RestartCmd is a shell command database-outage runs instead of
	// cutting the proxy (a dedicated server only).
	RestartCmd string
	// Self is the kraite binary the worker child re-executes (default
	// os.Executable) and ChildEnv what its environment adds (a test binary's
	// switch to run the command line).
	Self     string
	ChildEnv []string
	Log      *slog.Logger
	Out      io.Writer // progress lines
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
	if c.For < 20*time.Second {
		errs = append(errs, fmt.Errorf("--for %s is too short for a fault cycle (at least 20s)", c.For))
	}
	if c.OrderInterval <= 0 {
		errs = append(errs, fmt.Errorf("--order-interval %s must be positive", c.OrderInterval))
	}
	if c.Settle <= 0 {
		errs = append(errs, fmt.Errorf("--settle %s must be positive", c.Settle))
	}
	return errors.Join(errs...)
}

// Execute runs the whole pipeline (its own embedded broker, the simulator,
// every component in process, orders-sink and trading-worker also in a
// child process) for cfg.For while injecting faults, then pauses trading,
// waits for the order-sync sweep to converge and compares the database with
// the simulator's ground truth. The caller judges the report (Failures).
func Execute(ctx context.Context, cfg Config) (rep Report, err error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, err
	}
	c, log, out := cfg.App.Common, cfg.Log, cfg.Out
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if out == nil {
		out = io.Discard
	}
	self := cfg.Self
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return Report{}, fmt.Errorf("finding this executable: %w", err)
		}
	}
	rep = Report{Started: time.Now().UTC(), For: Seconds(cfg.For), Accounts: cfg.Accounts, Seed: cfg.Seed}
	kinds := cfg.Kinds
	if len(kinds) == 0 {
		kinds = AllKinds()
	}
	tmp, err := os.MkdirTemp("", "kraite-chaos-")
	if err != nil {
		return rep, fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true, Logger: log.With("component", "broker")})
	if err != nil {
		return rep, err
	}
	defer b.Close()
	kclient.SetDefault(kclient.Security{}) // the clients talk to this open broker, whatever KRAITE_KAFKA_* says
	c.Brokers = []string{b.Addr()}
	if _, err := app.EnsureTopics(ctx, c); err != nil {
		return rep, fmt.Errorf("applying the topic catalog: %w", err)
	}
	sim, err := simulator.New(simulator.Config{Seed: cfg.Seed, Accounts: cfg.Accounts, OrderInterval: cfg.OrderInterval,
		MarkPriceInterval: time.Second, PingInterval: pingEvery, WeightLimit: 400_000,
		Logger: log.With("component", "simulator")})
	if err != nil {
		return rep, err
	}
	// Trading starts once every account's stream is attached: orders that
	// open and close before the pipeline ever connected, in a symbol the
	// account never trades again, are beyond any backfill (allOrders needs
	// a symbol) and are not what this run measures.
	sim.SetTrading(false)
	simAddr, stopSim, err := ServeSim(ctx, sim)
	if err != nil {
		return rep, err
	}
	defer stopSim()

	cdb, err := OpenDB(ctx, cfg.DatabaseURL, cfg.AdminURL, true)
	if err != nil {
		return rep, err
	}
	defer func() {
		if cerr := cdb.Close(ctx, cfg.Keep); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	rep.Database = cdb.Masked
	if cdb.Created != "" && cfg.Keep {
		rep.Notes = append(rep.Notes, "database kept: "+cdb.Created)
	}
	if cdb.proxy == nil && cfg.RestartCmd == "" {
		kinds = slices.DeleteFunc(kinds, func(k Kind) bool { return k == DatabaseOutage })
		rep.Notes = append(rep.Notes, "database-outage left out: SQLite has no server to cut")
	}

	w := app.New(cfg.App, log)
	w.Common, w.Exchange = c, app.Exchange{RESTBase: "http://" + simAddr, WSBase: "ws://" + simAddr, DatabaseURL: cdb.PipelineURL,
		StateDir: filepath.Join(tmp, "state")}
	w.Allowlist = binance.OrderExecutionTypes() // every order execution type: every order the simulator reports must reach the database
	w.Jobs = w.Jobs.WithSweep(syncEvery, 30*time.Minute)
	var ids []string
	for _, acct := range sim.Accounts() {
		w.Accounts = append(w.Accounts, userdata.Account{ID: acct.ID, APIKey: acct.APIKey, APISecret: acct.APISecret})
		ids = append(ids, acct.ID)
	}
	comps, err := Pipeline(ctx, w, userdata.Config{IdleTimeout: idleTimeout})
	if err != nil {
		return rep, err
	}
	stopPipeline := StartPipeline(ctx, w, comps)
	defer func() {
		if perr := stopPipeline(); perr != nil {
			err = errors.Join(err, fmt.Errorf("the pipeline: %w", perr))
		}
	}()

	acctPath, err := AccountsFile(tmp, w.Accounts)
	if err != nil {
		return rep, err
	}
	child := &workerChild{self: self, logPath: filepath.Join(tmp, "worker-child.log"), log: log,
		args: []string{"run", "--components", "orders-sink,trading-worker", "--http-addr", "127.0.0.1:0"},
		env: append(append(append(os.Environ(), app.OpenBrokerEnv()...), cfg.ChildEnv...),
			"KRAITE_BROKERS="+b.Addr(), "KRAITE_TOPIC_PREFIX="+c.TopicPrefix, "KRAITE_LOG_LEVEL="+c.LogLevel,
			"KRAITE_DATABASE_URL="+cdb.PipelineURL, "KRAITE_BINANCE_REST_URL=http://"+simAddr,
			"KRAITE_BINANCE_WS_URL=ws://"+simAddr, "KRAITE_ACCOUNTS_FILE="+acctPath,
			"KRAITE_STATE_DIR="+filepath.Join(tmp, "child-state"), "KRAITE_ORDER_SYNC_EVERY="+syncEvery.String(),
			"KRAITE_GAP_LOOKBACK=1h")}
	if err := child.start(); err != nil {
		return rep, err
	}
	defer child.stop()

	admCl, err := kclient.ForBrokers(b.Addr()).Client()
	if err != nil {
		return rep, fmt.Errorf("creating the admin client: %w", err)
	}
	defer admCl.Close()
	rig := &rig{log: log, prefix: c.TopicPrefix, sim: sim, broker: b, adm: kadm.NewClient(admCl), cdb: cdb,
		child: child, brokers: c.Brokers, restartCmd: cfg.RestartCmd}

	fmt.Fprintf(out, "kraite chaos: broker %s, simulator %s, database %s; warming up\n", b.Addr(), simAddr, cdb.Masked)
	if err := WaitAttached(ctx, cdb.Direct, ids, 2*time.Minute); err != nil {
		return rep, fmt.Errorf("warming up: %w", err)
	}
	sim.SetTrading(true)
	if err := rig.warmUp(ctx, ids, 2*time.Minute); err != nil {
		return rep, fmt.Errorf("warming up: %w\nworker child log:\n%s", err, child.tail())
	}
	plan, err := Schedule(ScheduleConfig{Run: cfg.For, Accounts: ids, Seed: cfg.Seed, Kinds: kinds})
	if err != nil {
		return rep, err
	}
	rep.MemoryStart = proc.Self()
	child.firstRSS = child.rss()
	rep.ChildStart = proc.Memory{RSSMiB: child.firstRSS}
	fmt.Fprintf(out, "kraite chaos: %d faults over %s\n", len(plan), cfg.For)
	start := time.Now()
	run := Drive(ctx, start, plan, rig, 250*time.Millisecond, log)
	backoff.Sleep(ctx, cfg.For)
	if ctx.Err() != nil {
		run.Wait(ctx)
		return rep, ctx.Err()
	}

	// Stop trading; the sweeps bring every order to its final state.
	sim.SetTrading(false)
	paused := time.Now()
	fmt.Fprintf(out, "kraite chaos: trading paused; waiting up to %s for recoveries and convergence\n", cfg.Settle)
	sctx, cancel := context.WithTimeout(ctx, cfg.Settle)
	defer cancel()
	opts := func() Options {
		return Options{Drops: rig.Drops(), Checks: []Check{PositionsCheck(topics.ExchangeBinance)}}
	}
	var res Result
	for {
		snap := SnapshotOf(sim, ids, true)
		res, err = Compare(sctx, cdb.Direct, snap, opts())
		// Converged: the data equals the ground truth and nothing is in
		// flight. Duplicates and regressions, once recorded, never go away;
		// the final comparison reports them.
		caught := err == nil && res.LostTotal() == 0 && res.Phantom == 0 && run.Pending() == 0 && rig.sinksCaughtUp(sctx)
		if caught {
			rep.Converged = true
			break
		}
		if sctx.Err() != nil {
			break
		}
		backoff.Sleep(sctx, 2*time.Second)
	}
	rep.ConvergedAfter = Seconds(time.Since(paused))
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	rep.Faults = run.Wait(wctx)
	wcancel()
	// The reported comparison is a fresh one, after everything settled.
	if res, err = Compare(ctx, cdb.Direct, SnapshotOf(sim, ids, true), opts()); err != nil {
		return rep, fmt.Errorf("comparing the database with the ground truth: %w", err)
	}
	rep.Result = res
	rep.MemoryEnd = proc.Self()
	rep.ChildEnd = proc.Memory{RSSMiB: child.rss()}
	rep.Notes = append(rep.Notes,
		"recovery is measured from the end of each fault (the start, for socket-silence and the kill's restart)",
		"memory (this proc) includes the embedded broker, which keeps every record in memory, and the simulator")
	return rep, nil
}

// warmUp waits until every account's frames reach the audit table and the
// orders table, and the child has joined its groups.
func (r *rig) warmUp(ctx context.Context, accounts []string, bound time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	prioGroup := r.workerGroup(topics.Priority)
	var last string
	for {
		last = ""
		for _, a := range accounts {
			var frames, orders int
			d := r.cdb.Direct
			if err := d.QueryRowContext(wctx, d.Rebind("SELECT COUNT(*) FROM api_data_stream WHERE account = ?"), a).Scan(&frames); err != nil {
				last = err.Error()
			} else if err := d.QueryRowContext(wctx, d.Rebind("SELECT COUNT(*) FROM orders WHERE account = ?"), a).Scan(&orders); err != nil {
				last = err.Error()
			} else if frames == 0 || orders == 0 {
				last = fmt.Sprintf("%s: %d audit rows, %d orders", a, frames, orders)
			}
		}
		for _, g := range []string{topics.GroupSinkOrders.Name(r.prefix), prioGroup} {
			if n, err := r.members(wctx, g); last == "" && (err != nil || n < 2) {
				last = fmt.Sprintf("group %s has %d members (%v), want 2", g, n, err)
			}
		}
		if last == "" {
			return nil
		}
		if !r.child.running() {
			return errors.New("the worker child exited")
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("not ready after %s: %s", bound, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// sinksCaughtUp reports whether the audit and orders sinks have committed
// everything on their topics.
func (r *rig) sinksCaughtUp(ctx context.Context) bool {
	for _, gt := range []struct {
		group string
		topic topics.Spec
	}{{topics.GroupSinkAudit.Name(r.prefix), topics.UserDataStream}, {topics.GroupSinkOrders.Name(r.prefix), topics.Orders}} {
		ends, err := r.ends(ctx, r.topic(gt.topic))
		if err != nil {
			return false
		}
		if ok, _ := r.committedPast(ctx, gt.group, ends); !ok {
			return false
		}
	}
	return true
}
