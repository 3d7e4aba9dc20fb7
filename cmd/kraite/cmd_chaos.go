package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/hostile"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
	auditsink "github.com/kraite/stream/sinks/audit"
	"github.com/kraite/stream/topics"
)

// chaosFlags are kraite chaos's settings.
type chaosFlags struct {
	forDur        time.Duration
	accounts      int
	seed          int64
	databaseURL   string
	adminURL      string
	keep          bool
	reportJSON    string
	orderInterval time.Duration
	settle        time.Duration
	faults        string
	restartCmd    string
	soak          bool
	simulated     time.Duration
	speed         float64
	peer          bool
}

// reexecEnv makes a test binary that re-executes itself (os.Executable)
// run the kraite command line instead of its tests; see TestMain. The kraite
// binary itself ignores it.
const reexecEnv = "KRAITE_REEXEC_APP"

// The timers of a chaos run: a silent socket is noticed in seconds, not the
// production 4m30s, and the order-sync sweep runs every 2 s instead of 5 min.
const (
	chaosIdleTimeout = 3 * time.Second
	chaosPing        = time.Second
	chaosSyncEvery   = 2 * time.Second
	chaosRestartWait = 2 * time.Second
)

func cmdChaos(ctx context.Context, a *cli, args []string) error {
	var f chaosFlags
	fs := a.newFlags("chaos", `chaos [--for 60s] [--accounts 3] [--seed 1] [--database-url URL] [--keep] [--report-json FILE]
       kraite chaos --soak [--simulated 72h] [--speed 360] [--accounts 3]

Runs the whole pipeline (its own embedded broker, the Binance simulator, producers, processors,
sinks, scheduler and workers; orders-sink and trading-worker also as a child process) for --for
while injecting faults, then pauses trading, waits for the order-sync sweep to converge and
compares the database with the simulator's ground truth. It prints frames pushed and stored,
events lost and duplicates applied (both must be 0), the time to recover from each fault and
the memory at start and end, and exits non-zero on any loss, duplicate or unrecovered fault.

Faults, every kind once per cycle (a cycle per 90 s of the fault window; infrastructure first):
  kill-worker       kill -9 of the child process (orders-sink + trading-worker), restarted 2 s
                    later; its partitions wait for the consumer session timeout (`+kclient.GroupSessionTimeout.String()+`)
  rebalance         an extra audit-sink member joins its group for 6 s, then leaves
  coordinator-loss  NOT_COORDINATOR on OffsetCommit/Heartbeat and COORDINATOR_NOT_AVAILABLE on
                    FindCoordinator for the three sink groups, 4 s (kfake fault injection)
  produce-errors    NOT_LEADER_FOR_PARTITION on 5 Produce requests to user-data-stream
  database-outage   the pipeline reaches the database through a TCP proxy; every connection is
                    cut and new ones refused for 4 s. The shared server is NOT restarted (other
                    tests use it); --restart-mariadb-cmd restarts a dedicated server instead
  socket-drop       the account's sockets closed abruptly (no close frame)
  socket-silence    the account's sockets stay open but silent for 5 s, longer than the
                    producer's watchdog (3 s in a chaos run)
  listenkey-expiry  the account's listenKey expires (listenKeyExpired frame, then nothing)
  lost-frames       the account's next 2-4 order changes happen without a frame (REST only)
  malformed-frame   a truncated JSON frame pushed on the account's sockets

The database is a fresh MariaDB database kraite_chaos_<unix>_<hex> on --mysql-admin-url, dropped
at the end unless --keep; --database-url uses an existing database instead (mysql://,
postgres:// or sqlite://; SQLite has no server to cut, so database-outage is left out).

--soak runs the same pipeline without faults for --simulated time compressed by --speed (every
protocol timer divided by it: pings, listenKey TTL and keep-alive, the 24 h connection cut-off,
the order-sync period) and reports memory sampled over the run.`)
	fs.DurationVar(&f.forDur, "for", 60*time.Second, "how long to run with faults (the CI short form is 60s; long form e.g. 30m)")
	fs.IntVar(&f.accounts, "accounts", 3, "simulated accounts")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the simulator and the fault schedule")
	fs.StringVar(&f.databaseURL, "database-url", "", "use this database instead of creating one (mysql://, postgres://, sqlite://)")
	fs.StringVar(&f.adminURL, "mysql-admin-url", "mysql://root@127.0.0.1:3306/mysql", "MariaDB server on which the fresh database is created")
	fs.BoolVar(&f.keep, "keep", false, "keep the created database at the end")
	fs.StringVar(&f.reportJSON, "report-json", "", "also write the report as JSON to this file")
	fs.DurationVar(&f.orderInterval, "order-interval", 100*time.Millisecond, "mean time between order events per account")
	fs.DurationVar(&f.settle, "settle", 3*time.Minute, "after --for: how long to wait for every recovery and the database to converge")
	fs.StringVar(&f.faults, "faults", "", "comma separated fault kinds to inject (default all: "+kindList(chaos.AllKinds())+")")
	fs.StringVar(&f.restartCmd, "restart-mariadb-cmd", "", "database-outage runs this shell command (e.g. 'systemctl restart mariadb') instead of cutting the proxy; only on a dedicated server")
	fs.BoolVar(&f.soak, "soak", false, "time-compressed soak without faults: report memory over --simulated")
	fs.DurationVar(&f.simulated, "simulated", 72*time.Hour, "--soak: simulated time span")
	fs.Float64Var(&f.speed, "speed", 360, "--soak: time compression factor")
	fs.BoolVar(&f.peer, "soak-peer", false, "internal: the broker and simulator of a soak, in their own process")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	if err := f.validate(); err != nil {
		return err
	}
	switch {
	case f.peer:
		return soakPeer(ctx, a, c, f)
	case f.soak:
		rep, err := runSoak(ctx, a, c, f)
		if err != nil {
			return err
		}
		rep.WriteText(a.stdout)
		if err := writeJSONFile(f.reportJSON, rep); err != nil {
			return err
		}
		if !rep.Converged || rep.Result.LostTotal() > 0 || rep.Result.Phantom > 0 {
			return errors.New("soak: the database did not equal the ground truth at the end")
		}
		if n, r := rep.Result.DuplicateTotal(), rep.Result.Regressions; n > 0 || r > 0 {
			return fmt.Errorf("soak: %d duplicates applied and %d transitions out of a final status", n, r)
		}
		return nil
	}
	rep, err := runChaos(ctx, a, c, f)
	if err != nil {
		return err
	}
	rep.WriteText(a.stdout)
	if err := writeJSONFile(f.reportJSON, rep); err != nil {
		return err
	}
	if fails := rep.Failures(); len(fails) > 0 {
		return fmt.Errorf("chaos run failed: %s", strings.Join(fails, "; "))
	}
	return nil
}

func (f chaosFlags) validate() error {
	var errs []error
	if f.accounts < 1 || f.accounts > 1000 {
		errs = append(errs, fmt.Errorf("--accounts %d is not within 1..1000", f.accounts))
	}
	if !f.soak && !f.peer && f.forDur < 20*time.Second {
		errs = append(errs, fmt.Errorf("--for %s is too short for a fault cycle (at least 20s)", f.forDur))
	}
	if f.orderInterval <= 0 {
		errs = append(errs, fmt.Errorf("--order-interval %s must be positive", f.orderInterval))
	}
	if f.settle <= 0 {
		errs = append(errs, fmt.Errorf("--settle %s must be positive", f.settle))
	}
	if f.speed < 1 {
		errs = append(errs, fmt.Errorf("--speed %v must be at least 1", f.speed))
	}
	if _, err := f.kinds(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (f chaosFlags) kinds() ([]chaos.Kind, error) {
	if f.faults == "" {
		return chaos.AllKinds(), nil
	}
	var out []chaos.Kind
	for _, s := range app.SplitList(f.faults) {
		if !slices.Contains(chaos.AllKinds(), chaos.Kind(s)) {
			return nil, fmt.Errorf("--faults: unknown fault %q (faults: %s)", s, kindList(chaos.AllKinds()))
		}
		out = append(out, chaos.Kind(s))
	}
	return out, nil
}

func kindList(ks []chaos.Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// chaosDB is the database of a run: the pipeline reaches it through a proxy
// (when it has a server), the comparison directly.
type chaosDB struct {
	direct      *db.DB
	pipelineURL string
	masked      string
	proxy       *chaos.Proxy // nil for SQLite
	created     string       // a database this run created, dropped at the end
	adminURL    string
}

func openChaosDB(ctx context.Context, f chaosFlags, proxy bool) (*chaosDB, error) {
	cd := &chaosDB{adminURL: f.adminURL}
	raw := f.databaseURL
	if raw == "" {
		admin, err := db.Open(ctx, f.adminURL)
		if err != nil {
			return nil, fmt.Errorf("connecting to the MariaDB server (--mysql-admin-url): %w", err)
		}
		b := make([]byte, 2)
		_, _ = rand.Read(b)
		// The name is generated here, never taken from outside.
		name := fmt.Sprintf("kraite_chaos_%d_%s", time.Now().Unix(), hex.EncodeToString(b))
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
		admin.Close()
		if err != nil {
			return nil, fmt.Errorf("creating database %s: %w", name, err)
		}
		cd.created = name
		u, err := url.Parse(f.adminURL)
		if err != nil {
			return nil, fmt.Errorf("parsing --mysql-admin-url: %w", err)
		}
		u.Path = "/" + name
		raw = u.String()
	}
	t, err := db.ParseURL(raw)
	if err != nil {
		cd.close(ctx, false)
		return nil, err
	}
	cd.pipelineURL = raw
	if proxy && t.Dialect != db.SQLite {
		u, err := url.Parse(raw)
		if err != nil {
			cd.close(ctx, false)
			return nil, fmt.Errorf("parsing the database url: %w", err)
		}
		host := u.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			port := "3306"
			if t.Dialect == db.Postgres {
				port = "5432"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		if cd.proxy, err = chaos.StartProxy(host); err != nil {
			cd.close(ctx, false)
			return nil, err
		}
		u.Host = cd.proxy.Addr()
		cd.pipelineURL = u.String()
	}
	cd.masked = db.MaskURL(raw)
	if cd.direct, err = db.Open(ctx, raw); err != nil {
		cd.close(ctx, false)
		return nil, err
	}
	return cd, nil
}

func (cd *chaosDB) close(ctx context.Context, keep bool) error {
	if cd.direct != nil {
		cd.direct.Close()
	}
	if cd.proxy != nil {
		cd.proxy.Close()
	}
	if cd.created == "" || keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	admin, err := db.Open(ctx, cd.adminURL)
	if err != nil {
		return fmt.Errorf("dropping database %s: %w", cd.created, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+cd.created); err != nil {
		return fmt.Errorf("dropping database %s: %w", cd.created, err)
	}
	return nil
}

// workerChild is `kraite run --components orders-sink,trading-worker` as a
// child process of this binary, so it can be killed with SIGKILL.
type workerChild struct {
	args, env []string
	logPath   string
	log       *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	firstRSS float64
}

func (wc *workerChild) start() error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding this executable: %w", err)
	}
	logf, err := os.OpenFile(wc.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening the worker child's log: %w", err)
	}
	cmd := exec.Command(exe, wc.args...)
	cmd.Env = wc.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting the worker child: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	wc.mu.Lock()
	wc.cmd, wc.done = cmd, done
	wc.mu.Unlock()
	wc.log.Info("worker child started", "pid", cmd.Process.Pid, "args", strings.Join(wc.args, " "))
	return nil
}

func (wc *workerChild) current() (*exec.Cmd, chan struct{}) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.cmd, wc.done
}

func (wc *workerChild) pid() int {
	if cmd, _ := wc.current(); cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

func (wc *workerChild) running() bool {
	_, done := wc.current()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (wc *workerChild) kill() (int, error) {
	cmd, done := wc.current()
	if cmd == nil || !wc.running() {
		return 0, errors.New("the worker child is not running")
	}
	if err := cmd.Process.Kill(); err != nil {
		return 0, fmt.Errorf("kill -9 of the worker child: %w", err)
	}
	<-done
	return cmd.Process.Pid, nil
}

// stop asks the child to stop (SIGTERM, it flushes and leaves its groups)
// and kills it if it has not within 20 s.
func (wc *workerChild) stop() {
	cmd, done := wc.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(terminateSignal)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (wc *workerChild) rss() float64 {
	if !wc.running() {
		return 0
	}
	m, _ := chaos.ProcessRSS(wc.pid())
	return m
}

// tail is the end of the child's log, for errors.
func (wc *workerChild) tail() string {
	b, _ := os.ReadFile(wc.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// chaosRig is everything the faults act on and the probes read.
type chaosRig struct {
	log        *slog.Logger
	prefix     string
	sim        *simulator.Simulator
	broker     *broker.Broker
	adm        *kadm.Client
	cdb        *chaosDB
	child      *workerChild
	brokers    []string
	restartCmd string

	mu    sync.Mutex
	drops []chaos.Drop
}

func (r *chaosRig) Drops() []chaos.Drop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]chaos.Drop(nil), r.drops...)
}

func (r *chaosRig) topic(s topics.Spec) string { return s.Name(r.prefix) }

// workerGroup is a queue worker's default group (see worker.Config.Group).
func (r *chaosRig) workerGroup(queue topics.Spec) string {
	return topics.WorkerGroup(queue).Name(r.prefix)
}

// Inject applies one fault; see chaos.Injector.
func (r *chaosRig) Inject(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	switch f.Kind {
	case chaos.SocketDrop:
		at := time.Now()
		n := r.sim.DropConnections(f.Account)
		if n == 0 {
			return chaos.Injected{}, fmt.Errorf("%s has no socket open", f.Account)
		}
		r.mu.Lock()
		r.drops = append(r.drops, chaos.Drop{Account: f.Account, At: at})
		r.mu.Unlock()
		return chaos.Injected{Target: f.Account, Measure: "reconnected: the new socket's gap marker stored (audit table)",
			Recovered: r.reconnected(f.Account, at, "")}, nil
	case chaos.SocketSilence:
		at := time.Now()
		r.sim.Silence(f.Account, f.For)
		return chaos.Injected{Target: f.Account,
			Measure:   fmt.Sprintf("silent %s from the start: the watchdog fired, the new socket's gap marker stored", f.For),
			Recovered: r.reconnected(f.Account, at, "")}, nil
	case chaos.ListenKeyExpiry:
		key := r.sim.ListenKey(f.Account)
		if key == "" {
			return chaos.Injected{}, fmt.Errorf("%s has no active listenKey", f.Account)
		}
		at := time.Now()
		r.sim.ExpireListenKey(f.Account)
		return chaos.Injected{Target: f.Account, Measure: "a new listenKey, its socket's gap marker stored",
			Recovered: r.reconnected(f.Account, at, key)}, nil
	case chaos.LostFrames:
		return r.loseFrames(f)
	case chaos.MalformedFrame:
		return r.malformed(ctx, f)
	case chaos.ProduceErrors:
		return r.produceErrors(ctx, f)
	case chaos.CoordinatorLoss:
		return r.coordinatorLoss(ctx, f)
	case chaos.DatabaseOutage:
		return r.databaseOutage(ctx, f)
	case chaos.KillWorker:
		return r.killWorker(ctx, f)
	case chaos.Rebalance:
		return r.rebalance(ctx, f)
	case chaos.HostileRecords:
		return r.hostileRecords(ctx, f)
	}
	return chaos.Injected{}, fmt.Errorf("unknown fault %q", f.Kind)
}

// hostileRecords produces the data-topic hostile records under an account
// the exchange does not know (so the ground-truth comparison, which reads
// the simulator's accounts, is not disturbed) and is recovered once every
// consumer committed past them and each that must be is quarantined.
func (r *chaosRig) hostileRecords(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	cl, err := kgo.NewClient(append(kclient.ProducerOpts(r.brokers, nil), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		return chaos.Injected{}, fmt.Errorf("creating the hostile producer: %w", err)
	}
	defer cl.Close()
	recs := hostile.DataOnly(hostile.CatalogueFor(fmt.Sprintf("hostile-%04d", f.Seq), time.Now()))
	produced, err := hostile.Produce(ctx, cl, r.prefix, recs)
	if err != nil {
		return chaos.Injected{}, err
	}
	return chaos.Injected{Target: fmt.Sprintf("%d hostile records", len(produced)),
		Measure: "every consumer committed past them, each quarantined with its reason",
		Recovered: func(ctx context.Context) (bool, error) {
			behind, err := hostile.Behind(ctx, r.adm, r.prefix, produced)
			if err != nil || len(behind) > 0 {
				return false, err
			}
			rcl, err := kgo.NewClient(append(kclient.BaseOpts(r.brokers), kgo.ConsumeTopics(r.topic(topics.Quarantine)),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
			if err != nil {
				return false, err
			}
			defer rcl.Close()
			var quarantined []*kgo.Record
			for {
				pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				fs := rcl.PollFetches(pctx)
				cancel()
				n := len(quarantined)
				quarantined = append(quarantined, fs.Records()...)
				if len(quarantined) == n {
					break
				}
			}
			missing := hostile.NotQuarantined(quarantined, r.prefix, produced)
			if len(missing) > 0 {
				return false, fmt.Errorf("not quarantined yet: %s", strings.Join(missing, "; "))
			}
			return true, nil
		}}, nil
}

func (r *chaosRig) frameStored(ctx context.Context, account string, payload []byte) (bool, error) {
	var n int
	q := r.cdb.direct.Rebind("SELECT COUNT(*) FROM api_data_stream WHERE exchange = ? AND account = ? AND kind = ? AND payload = ?")
	if err := r.cdb.direct.QueryRowContext(ctx, q, topics.ExchangeBinance, account, topics.KindFrame, string(payload)).Scan(&n); err != nil {
		return false, fmt.Errorf("reading the audit table: %w", err)
	}
	return n > 0, nil
}

// reconnected is recovered once the account's producer has attached a new
// socket after at (and, with oldKey, the account has another listenKey):
// the gap marker it publishes on connecting, which ends after at, is in the
// audit table. Unlike a frame, a gap marker needs no trading to appear.
func (r *chaosRig) reconnected(account string, at time.Time, oldKey string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		if oldKey != "" && r.sim.ListenKey(account) == oldKey {
			return false, nil
		}
		return gapStoredAfter(ctx, r.cdb.direct, account, at)
	}
}

// gapStoredAfter reports whether the audit table holds a gap marker of the
// account that ends after at: the producer attached a socket after at.
func gapStoredAfter(ctx context.Context, d *db.DB, account string, at time.Time) (bool, error) {
	var n int
	q := d.Rebind("SELECT COUNT(*) FROM api_data_stream WHERE exchange = ? AND account = ? AND kind = ? AND event_time > ?")
	if err := d.QueryRowContext(ctx, q, topics.ExchangeBinance, account, topics.KindGap, at.UnixMilli()).Scan(&n); err != nil {
		return false, fmt.Errorf("reading the audit table: %w", err)
	}
	return n > 0, nil
}

// waitAttached waits until every account's producer has connected (its gap
// marker is in the audit table).
func waitAttached(ctx context.Context, d *db.DB, accounts []string, bound time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for _, a := range accounts {
		for {
			ok, err := gapStoredAfter(wctx, d, a, time.UnixMilli(0))
			if ok {
				break
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("%s's stream did not attach within %s (%v)", a, bound, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func (r *chaosRig) loseFrames(f chaos.Fault) (chaos.Injected, error) {
	at := time.Now()
	r.sim.LoseNext(f.Account, f.N)
	var (
		orders []simulator.Order
		algos  []simulator.AlgoOrder
		taken  bool
	)
	return chaos.Injected{Target: f.Account, Measure: fmt.Sprintf("%d order changes without a frame; the database caught up with the exchange (order-sync sweep)", f.N),
		Recovered: func(ctx context.Context) (bool, error) {
			if !taken {
				// The loss is used up once a frame is pushed after it.
				ps := r.sim.PushedFrames(f.Account)
				if len(ps) == 0 || !ps[len(ps)-1].At.After(at) {
					return false, nil
				}
				orders, algos, taken = r.sim.Orders(f.Account), r.sim.AlgoOrders(f.Account), true
			}
			ok, why, err := chaos.CaughtUp(ctx, r.cdb.direct, "", f.Account, orders, algos)
			if err == nil && !ok {
				err = errors.New(why)
			}
			return ok, err
		}}, nil
}

func (r *chaosRig) malformed(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	data := fmt.Appendf(nil, `{"e":"ORDER_TRADE_UPDATE","E":%d,"o":{"s":"CHAOS%d","i":`, time.Now().UnixMilli(), f.Seq)
	r.sim.InjectMalformed(f.Account, data)
	pushed := func() bool {
		for _, p := range r.sim.PushedFrames(f.Account) {
			if bytes.Equal(p.Data, data) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !pushed() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return chaos.Injected{}, fmt.Errorf("no socket of %s received the malformed frame", f.Account)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return chaos.Injected{Target: f.Account, Measure: "stored raw in the audit table (and quarantined)",
		Recovered: func(ctx context.Context) (bool, error) { return r.frameStored(ctx, f.Account, data) }}, nil
}

// anyFrameStoredAfter is recovered once a frame pushed after t, of any
// account, is in the audit table.
func (r *chaosRig) anyFrameStoredAfter(t time.Time) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		for _, a := range r.sim.Accounts() {
			for _, p := range r.sim.PushedFrames(a.ID) {
				if p.At.After(t) {
					return r.frameStored(ctx, a.ID, p.Data)
				}
			}
		}
		return false, nil
	}
}

func (r *chaosRig) produceErrors(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	h := r.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: r.topic(topics.UserDataStream),
		Err: kerr.NotLeaderForPartition, Count: f.N})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.Wait(wctx, f.N); err != nil {
		h.Remove()
		return chaos.Injected{}, fmt.Errorf("only %d of %d produce requests failed within 30s", h.Hits(), f.N)
	}
	return chaos.Injected{Target: "user-data", Measure: fmt.Sprintf("%d produce requests failed; a frame pushed after the last one stored", f.N),
		Recovered: r.anyFrameStoredAfter(time.Now())}, nil
}

func (r *chaosRig) sinkGroups() []string {
	return []string{topics.GroupSinkAudit.Name(r.prefix), topics.GroupSinkOrders.Name(r.prefix), topics.GroupSinkMarkPrice.Name(r.prefix)}
}

func (r *chaosRig) coordinatorLoss(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	var fs []kfake.Fault
	for _, g := range r.sinkGroups() {
		fs = append(fs,
			kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit, kmsg.Heartbeat}, Group: g, Err: kerr.NotCoordinator, Count: -1},
			kfake.Fault{Keys: []kmsg.Key{kmsg.FindCoordinator}, Group: g, Err: kerr.CoordinatorNotAvailable, Count: -1})
	}
	h := r.broker.Cluster().Fault(fs...)
	sleepCtx(ctx, f.For)
	h.Remove()
	if h.Hits() == 0 {
		return chaos.Injected{}, fmt.Errorf("no request of the sink groups hit the coordinator fault in %s", f.For)
	}
	return r.caughtUpAfter(ctx, fmt.Sprintf("%d req", h.Hits()),
		"audit and mark-price sinks committed everything produced before the coordinator came back")
}

// caughtUpAfter measures recovery as the audit and mark-price sinks
// committing past the topics' ends now. The orders sink is left out: a
// kill of its other member may hold some of its partitions for the
// session timeout.
func (r *chaosRig) caughtUpAfter(ctx context.Context, target, measure string) (chaos.Injected, error) {
	uds, err := r.ends(ctx, r.topic(topics.UserDataStream))
	if err != nil {
		return chaos.Injected{}, err
	}
	mark, err := r.ends(ctx, r.topic(topics.MarkPrice))
	if err != nil {
		return chaos.Injected{}, err
	}
	return chaos.Injected{Target: target, Measure: measure, Recovered: func(ctx context.Context) (bool, error) {
		if ok, err := r.committedPast(ctx, topics.GroupSinkAudit.Name(r.prefix), uds); !ok {
			return false, err
		}
		return r.committedPast(ctx, topics.GroupSinkMarkPrice.Name(r.prefix), mark)
	}}, nil
}

func (r *chaosRig) databaseOutage(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	if r.restartCmd != "" {
		out, err := exec.CommandContext(ctx, "sh", "-c", r.restartCmd).CombinedOutput()
		if err != nil {
			return chaos.Injected{}, fmt.Errorf("--restart-mariadb-cmd: %w: %s", err, bytes.TrimSpace(out))
		}
		return r.caughtUpAfter(ctx, "server", "server restarted; audit and mark-price sinks committed everything produced before it was back")
	}
	if r.cdb.proxy == nil {
		return chaos.Injected{}, errors.New("the database has no server to cut (SQLite)")
	}
	cut := r.cdb.proxy.Down()
	sleepCtx(ctx, f.For)
	r.cdb.proxy.Up()
	return r.caughtUpAfter(ctx, fmt.Sprintf("%d conns", cut),
		"audit and mark-price sinks committed everything produced before the database came back")
}

func (r *chaosRig) killWorker(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	groups := []string{topics.GroupSinkOrders.Name(r.prefix), r.workerGroup(topics.Priority)}
	before := map[string][]string{}
	for _, g := range groups {
		ids, err := r.memberIDs(ctx, g)
		if err != nil {
			return chaos.Injected{}, err
		}
		before[g] = ids
	}
	orders, err := r.ends(ctx, r.topic(topics.Orders))
	if err != nil {
		return chaos.Injected{}, err
	}
	prio, err := r.ends(ctx, r.topic(topics.Priority))
	if err != nil {
		return chaos.Injected{}, err
	}
	pid, err := r.child.kill()
	if err != nil {
		return chaos.Injected{}, err
	}
	r.log.Info("worker child killed with SIGKILL", "pid", pid)
	sleepCtx(ctx, chaosRestartWait)
	if err := r.child.start(); err != nil {
		return chaos.Injected{}, err
	}
	ends := map[string]kadm.ListedOffsets{groups[0]: orders, groups[1]: prio}
	return chaos.Injected{Target: fmt.Sprintf("pid %d", pid),
		Measure: "restarted after 2s; the dead member left the orders-sink and trading-worker groups (session timeout), the new one joined, both committed past the kill",
		Recovered: func(ctx context.Context) (bool, error) {
			for _, g := range groups {
				now, state, err := r.group(ctx, g)
				if err != nil {
					return false, err
				}
				gone := 0
				for _, id := range before[g] {
					if !slices.Contains(now, id) {
						gone++
					}
				}
				if gone == 0 || len(now) < len(before[g]) || state != "Stable" {
					return false, fmt.Errorf("group %s is %s with members %v; before the kill %v", g, state, now, before[g])
				}
				if ok, err := r.committedPast(ctx, g, ends[g]); !ok {
					return false, err
				}
			}
			return true, nil
		}}, nil
}

// memberIDs are the group's members, sorted.
func (r *chaosRig) memberIDs(ctx context.Context, group string) ([]string, error) {
	ids, _, err := r.group(ctx, group)
	return ids, err
}

// group describes a group: its member ids (sorted) and its state.
func (r *chaosRig) group(ctx context.Context, group string) ([]string, string, error) {
	gs, err := r.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, "", fmt.Errorf("describing group %s: %w", group, err)
	}
	g, ok := gs[group]
	if !ok {
		return nil, "", nil
	}
	if g.Err != nil {
		return nil, "", fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.MemberID)
	}
	slices.Sort(ids)
	return ids, g.State, nil
}

func (r *chaosRig) members(ctx context.Context, group string) (int, error) {
	ids, err := r.memberIDs(ctx, group)
	return len(ids), err
}

func (r *chaosRig) rebalance(ctx context.Context, f chaos.Fault) (chaos.Injected, error) {
	before, err := r.members(ctx, topics.GroupSinkAudit.Name(r.prefix))
	if err != nil {
		return chaos.Injected{}, err
	}
	// The database may be cut by another fault right now; the member waits
	// for it like any sink would.
	var d *db.DB
	for deadline := time.Now().Add(30 * time.Second); ; {
		if d, err = db.Open(ctx, r.cdb.pipelineURL); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return chaos.Injected{}, fmt.Errorf("opening the database for the extra member: %w", err)
		}
		sleepCtx(ctx, 500*time.Millisecond)
	}
	defer d.Close()
	s, err := auditsink.New(auditsink.Config{Kafka: kclient.ForBrokers(r.brokers...), Prefix: r.prefix, Group: topics.GroupSinkAudit.Name(r.prefix)}, d, r.log.With("component", "audit-sink-extra"))
	if err != nil {
		return chaos.Injected{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	stop := func() error { cancel(); return <-done }
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := r.members(ctx, topics.GroupSinkAudit.Name(r.prefix))
		if n > before {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = stop()
			return chaos.Injected{}, fmt.Errorf("the extra audit-sink member did not join within 30s (%d members)", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	sleepCtx(ctx, f.For)
	if err := stop(); err != nil {
		return chaos.Injected{}, fmt.Errorf("the extra audit-sink member: %w", err)
	}
	in, err := r.caughtUpAfter(ctx, fmt.Sprintf("audit %d->%d", before, before+1),
		"joined, held partitions, left; the audit sink committed everything produced before it left")
	return in, err
}

func (r *chaosRig) ends(ctx context.Context, topic string) (kadm.ListedOffsets, error) {
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(lctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	return ends, nil
}

// committedPast reports whether group has committed at least ends on every
// partition that has records.
func (r *chaosRig) committedPast(ctx context.Context, group string, ends kadm.ListedOffsets) (bool, error) {
	offs, err := r.adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, fmt.Errorf("fetching the offsets of %s: %w", group, err)
	}
	var behind string
	ends.Each(func(e kadm.ListedOffset) {
		if behind != "" || e.Err != nil || e.Offset <= 0 {
			return
		}
		o, ok := offs.Lookup(e.Topic, e.Partition)
		if !ok || o.Err != nil || o.At < e.Offset {
			behind = fmt.Sprintf("%s at %d of %d on %s/%d", group, o.At, e.Offset, e.Topic, e.Partition)
		}
	})
	if behind != "" {
		return false, errors.New(behind)
	}
	return true, nil
}

// fetchExchangeInfo reads the simulator's exchangeInfo (its symbol rules).
func fetchExchangeInfo(ctx context.Context, restBase string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, restBase+"/fapi/v1/exchangeInfo", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the simulator's exchangeInfo: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the simulator's exchangeInfo: http %d: %v", resp.StatusCode, err)
	}
	return body, nil
}

// chaosPipeline builds the in-process pipeline of a chaos run or soak: every
// component, with the user-data producer's timers set by ud.
func chaosPipeline(ctx context.Context, w *app.App, ud userdata.Config) ([]app.Component, error) {
	info, err := fetchExchangeInfo(ctx, w.Exchange.RESTBase)
	if err != nil {
		return nil, err
	}
	if err := w.SeedSimulatorDatabase(ctx, info); err != nil {
		return nil, err
	}
	var names []string
	for _, n := range app.ComponentNames() {
		if n != "userdata-producer" {
			names = append(names, n)
		}
	}
	comps, err := w.Components(ctx, names)
	if err != nil {
		return nil, err
	}
	pub, pubM, err := w.Publisher()
	if err != nil {
		return nil, err
	}
	// The producer's REST calls get a weight budget of their own, as on
	// its own box in production (see chaos.WeightProxy).
	wp, err := chaos.StartWeightProxy(w.Exchange.RESTBase)
	if err != nil {
		return nil, err
	}
	w.OnClose(func(context.Context) error { return wp.Close() })
	ud.TopicPrefix, ud.RESTBase, ud.WSBase = w.Common.TopicPrefix, wp.URL(), w.Exchange.WSBase
	mg, err := userdata.New(ud, w.Accounts, pub, pubM, w.Log.With("component", "userdata-producer"))
	if err != nil {
		return nil, err
	}
	w.SetUserData(mg)
	return append(comps, app.Component{Name: "userdata-producer", Run: mg.Run}), nil
}

// startPipeline runs comps until the returned stop is called.
func startPipeline(ctx context.Context, w *app.App, comps []app.Component) (stop func() error) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(pctx, comps) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
			if errors.Is(err, context.Canceled) {
				err = nil
			}
		})
		return err
	}
}

func accountsFile(dir string, accts []userdata.Account) (string, error) {
	type js struct {
		ID        string `json:"id"`
		APIKey    string `json:"api_key"`
		APISecret string `json:"api_secret"`
	}
	list := make([]js, len(accts))
	for i, a := range accts {
		list[i] = js{a.ID, a.APIKey, a.APISecret}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "accounts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("writing the accounts file: %w", err)
	}
	return path, nil
}

func runChaos(ctx context.Context, a *cli, c app.Common, f chaosFlags) (rep chaos.Report, err error) {
	rep = chaos.Report{Started: time.Now().UTC(), For: chaos.Seconds(f.forDur), Accounts: f.accounts, Seed: f.seed}
	kinds, err := f.kinds()
	if err != nil {
		return rep, err
	}
	tmp, err := os.MkdirTemp("", "kraite-chaos-")
	if err != nil {
		return rep, fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true, Logger: a.log.With("component", "broker")})
	if err != nil {
		return rep, err
	}
	defer b.Close()
	kclient.SetDefault(kclient.Security{}) // the clients talk to this open broker, whatever KRAITE_KAFKA_* says
	c.Brokers = []string{b.Addr()}
	if _, err := app.EnsureTopics(ctx, c); err != nil {
		return rep, fmt.Errorf("applying the topic catalog: %w", err)
	}
	sim, err := simulator.New(simulator.Config{Seed: f.seed, Accounts: f.accounts, OrderInterval: f.orderInterval,
		MarkPriceInterval: time.Second, PingInterval: chaosPing, WeightLimit: 400_000,
		Logger: a.log.With("component", "simulator")})
	if err != nil {
		return rep, err
	}
	// Trading starts once every account's stream is attached: orders that
	// open and close before the pipeline ever connected, in a symbol the
	// account never trades again, are beyond any backfill (allOrders needs
	// a symbol) and are not what this run measures.
	sim.SetTrading(false)
	simAddr, stopSim, err := serveSim(ctx, sim)
	if err != nil {
		return rep, err
	}
	defer stopSim()

	cdb, err := openChaosDB(ctx, f, true)
	if err != nil {
		return rep, err
	}
	defer func() {
		if cerr := cdb.close(ctx, f.keep); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	rep.Database = cdb.masked
	if cdb.created != "" && f.keep {
		rep.Notes = append(rep.Notes, "database kept: "+cdb.created)
	}
	if cdb.proxy == nil && f.restartCmd == "" {
		kinds = slices.DeleteFunc(kinds, func(k chaos.Kind) bool { return k == chaos.DatabaseOutage })
		rep.Notes = append(rep.Notes, "database-outage left out: SQLite has no server to cut")
	}

	w := app.New(a.cfg, a.log)
	w.Common, w.Exchange = c, app.Exchange{RESTBase: "http://" + simAddr, WSBase: "ws://" + simAddr, DatabaseURL: cdb.pipelineURL,
		StateDir: filepath.Join(tmp, "state")}
	w.Allowlist = binance.OrderExecutionTypes() // every order execution type: every order the simulator reports must reach the database
	w.Jobs = w.Jobs.WithSweep(chaosSyncEvery, 30*time.Minute)
	var ids []string
	for _, acct := range sim.Accounts() {
		w.Accounts = append(w.Accounts, userdata.Account{ID: acct.ID, APIKey: acct.APIKey, APISecret: acct.APISecret})
		ids = append(ids, acct.ID)
	}
	comps, err := chaosPipeline(ctx, w, userdata.Config{IdleTimeout: chaosIdleTimeout})
	if err != nil {
		return rep, err
	}
	stopPipeline := startPipeline(ctx, w, comps)
	defer func() {
		if perr := stopPipeline(); perr != nil {
			err = errors.Join(err, fmt.Errorf("the pipeline: %w", perr))
		}
	}()

	acctPath, err := accountsFile(tmp, w.Accounts)
	if err != nil {
		return rep, err
	}
	child := &workerChild{logPath: filepath.Join(tmp, "worker-child.log"), log: a.log,
		args: []string{"run", "--components", "orders-sink,trading-worker", "--http-addr", "127.0.0.1:0"},
		env: append(append(os.Environ(), app.OpenBrokerEnv()...), reexecEnv+"=1",
			"KRAITE_BROKERS="+b.Addr(), "KRAITE_TOPIC_PREFIX="+c.TopicPrefix, "KRAITE_LOG_LEVEL="+c.LogLevel,
			"KRAITE_DATABASE_URL="+cdb.pipelineURL, "KRAITE_BINANCE_REST_URL=http://"+simAddr,
			"KRAITE_BINANCE_WS_URL=ws://"+simAddr, "KRAITE_ACCOUNTS_FILE="+acctPath,
			"KRAITE_STATE_DIR="+filepath.Join(tmp, "child-state"), "KRAITE_ORDER_SYNC_EVERY="+chaosSyncEvery.String(),
			"KRAITE_GAP_LOOKBACK=1h")}
	if err := child.start(); err != nil {
		return rep, err
	}
	defer child.stop()

	admCl, err := kgo.NewClient(kclient.BaseOpts([]string{b.Addr()})...)
	if err != nil {
		return rep, fmt.Errorf("creating the admin client: %w", err)
	}
	defer admCl.Close()
	rig := &chaosRig{log: a.log, prefix: c.TopicPrefix, sim: sim, broker: b, adm: kadm.NewClient(admCl), cdb: cdb,
		child: child, brokers: c.Brokers, restartCmd: f.restartCmd}

	fmt.Fprintf(a.stdout, "kraite chaos: broker %s, simulator %s, database %s; warming up\n", b.Addr(), simAddr, cdb.masked)
	if err := waitAttached(ctx, cdb.direct, ids, 2*time.Minute); err != nil {
		return rep, fmt.Errorf("warming up: %w", err)
	}
	sim.SetTrading(true)
	if err := rig.warmUp(ctx, ids, 2*time.Minute); err != nil {
		return rep, fmt.Errorf("warming up: %w\nworker child log:\n%s", err, child.tail())
	}
	plan, err := chaos.Schedule(chaos.ScheduleConfig{Run: f.forDur, Accounts: ids, Seed: f.seed, Kinds: kinds})
	if err != nil {
		return rep, err
	}
	rep.MemoryStart = chaos.SelfMemory()
	child.firstRSS = child.rss()
	rep.ChildStart = chaos.Memory{RSSMiB: child.firstRSS}
	fmt.Fprintf(a.stdout, "kraite chaos: %d faults over %s\n", len(plan), f.forDur)
	start := time.Now()
	run := chaos.Drive(ctx, start, plan, rig, 250*time.Millisecond, a.log)
	sleepCtx(ctx, f.forDur)
	if ctx.Err() != nil {
		run.Wait(ctx)
		return rep, ctx.Err()
	}

	// Stop trading; the sweeps bring every order to its final state.
	sim.SetTrading(false)
	paused := time.Now()
	fmt.Fprintf(a.stdout, "kraite chaos: trading paused; waiting up to %s for recoveries and convergence\n", f.settle)
	sctx, cancel := context.WithTimeout(ctx, f.settle)
	defer cancel()
	opts := func() chaos.Options {
		return chaos.Options{Drops: rig.Drops(), Checks: []chaos.Check{chaos.PositionsCheck(topics.ExchangeBinance)}}
	}
	var res chaos.Result
	for {
		snap := chaos.SnapshotOf(sim, ids, true)
		res, err = chaos.Compare(sctx, cdb.direct, snap, opts())
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
		sleepCtx(sctx, 2*time.Second)
	}
	rep.ConvergedAfter = chaos.Seconds(time.Since(paused))
	wctx, wcancel := context.WithTimeout(ctx, time.Second)
	rep.Faults = run.Wait(wctx)
	wcancel()
	// The reported comparison is a fresh one, after everything settled.
	if res, err = chaos.Compare(ctx, cdb.direct, chaos.SnapshotOf(sim, ids, true), opts()); err != nil {
		return rep, fmt.Errorf("comparing the database with the ground truth: %w", err)
	}
	rep.Result = res
	rep.MemoryEnd = chaos.SelfMemory()
	rep.ChildEnd = chaos.Memory{RSSMiB: child.rss()}
	rep.Notes = append(rep.Notes,
		"recovery is measured from the end of each fault (the start, for socket-silence and the kill's restart)",
		"memory (this proc) includes the embedded broker, which keeps every record in memory, and the simulator")
	return rep, nil
}

// warmUp waits until every account's frames reach the audit table and the
// orders table, and the child has joined its groups.
func (r *chaosRig) warmUp(ctx context.Context, accounts []string, bound time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	prioGroup := r.workerGroup(topics.Priority)
	var last string
	for {
		last = ""
		for _, a := range accounts {
			var frames, orders int
			d := r.cdb.direct
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
func (r *chaosRig) sinksCaughtUp(ctx context.Context) bool {
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
