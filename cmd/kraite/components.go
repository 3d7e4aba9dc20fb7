package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/health"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/ops"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/producers/markprice"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
	auditsink "github.com/kraite/stream/sinks/audit"
	marksink "github.com/kraite/stream/sinks/markprice"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

// exchangeEnv is where the exchange is and which accounts to stream.
type exchangeEnv struct {
	RESTBase     string        `env:"KRAITE_BINANCE_REST_URL" envDefault:"https://fapi.binance.com"`
	WSBase       string        `env:"KRAITE_BINANCE_WS_URL" envDefault:"wss://fstream.binance.com"`
	AccountsFile string        `env:"KRAITE_ACCOUNTS_FILE"`
	AccountsPoll time.Duration `env:"KRAITE_ACCOUNTS_POLL" envDefault:"10s"`
	// AccountsSource is where the user-data producer's accounts come from:
	// "file" (KRAITE_ACCOUNTS_FILE, every account on this box; dev and
	// bootstrap) or "database" (the accounts table: the producer joins the
	// producer.user-data group and streams the accounts of its
	// kraite.accounts partitions).
	AccountsSource string `env:"KRAITE_ACCOUNTS_SOURCE" envDefault:"file"`
	// HandOverGrace is how long a producer giving up accounts keeps their
	// sockets open so the new owner connects first (make-before-break).
	HandOverGrace time.Duration `env:"KRAITE_HANDOVER_GRACE" envDefault:"15s"`
	// StreamGrace is how long a stream may be down before /readyz says so;
	// StallAfter how long a group may hold waiting records without a commit.
	StreamGrace time.Duration `env:"KRAITE_STREAM_GRACE" envDefault:"1m"`
	StallAfter  time.Duration `env:"KRAITE_STALL_AFTER" envDefault:"2m"`
	HTTPAddr    string        `env:"KRAITE_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	DatabaseURL string        `env:"KRAITE_DATABASE_URL"`
	// StateDir holds goka's local table stores (one directory per process).
	StateDir string `env:"KRAITE_STATE_DIR" envDefault:".kraite/state"`
}

// wiring holds what components share inside one process.
type wiring struct {
	c        common
	ex       exchangeEnv
	log      *slog.Logger
	ops      *ops.Server
	accounts []userdata.Account // static accounts (dev: the simulator's)

	pub      *publisher.Publisher
	pubM     *publisher.Metrics
	closers  []func(context.Context) error // run after every component stopped, in order
	userdata *userdata.Manager
	mark     *markprice.Producer
	intents  *intents.Source
	db       *db.DB
	rest     *binanceapi.Client
	jobs     *jobsEnv // overrides the environment (dev flags)

	acctMu    sync.Mutex // guards the parsed accounts file
	acctCache []userdata.Account
	acctMod   time.Time
	acctSize  int64
	allowlist []string // initial Binance allowlist (nil: the default)
	// controlAlerts are the Alerts of this process's gate and dispatch
	// Runners (refused control records), for the status page.
	controlAlerts []func() []gate.Alert
	// creds reads account credentials for KRAITE_ACCOUNTS_SOURCE=database
	// (nil: opened from the accounts table when needed).
	creds accounts.CredentialSource

	// kafkaReg is kprom's view of ops.Registry (see kafkaHooks).
	kafkaReg *kafkaRegisterer
}

// component is one long-lived piece of a box.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// componentBuilders maps component names to constructors. Roles (DESIGN.md
// section 4) are lists of these names.
var componentBuilders = map[string]func(ctx context.Context, w *wiring) (component, error){
	"userdata-producer":  buildUserData,
	"markprice-producer": buildMarkPrice,
	"dispatch":           buildDispatch,
	"regime":             buildRegime,
	"gate":               buildGate,
	"scheduler":          buildScheduler,
	"gap-watcher":        buildGapWatcher,
	"trading-worker": func(ctx context.Context, w *wiring) (component, error) {
		return buildWorker(ctx, w, "trading-worker", topics.Priority)
	},
	"regime-history-sink": buildRegimeHistorySink,
	"cron-worker": func(ctx context.Context, w *wiring) (component, error) {
		return buildWorker(ctx, w, "cron-worker", topics.Cronjobs)
	},
	"positions-worker": buildPositionsWorker,
	"indicators-worker": func(ctx context.Context, w *wiring) (component, error) {
		return buildWorker(ctx, w, "indicators-worker", topics.Indicators)
	},
	"audit-sink":     buildAuditSink,
	"markprice-sink": buildMarkPriceSink,
	"orders-sink":    buildOrdersSink,
}

func componentNames() []string {
	names := make([]string, 0, len(componentBuilders))
	for n := range componentBuilders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// buildComponents constructs the named components in order.
func buildComponents(ctx context.Context, w *wiring, names []string) ([]component, error) {
	var (
		out  []component
		errs []error
	)
	for _, n := range names {
		b, ok := componentBuilders[n]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown component %q (known: %s)", n, strings.Join(componentNames(), ", ")))
			continue
		}
		c, err := b(ctx, w)
		if err != nil {
			errs = append(errs, fmt.Errorf("building %s: %w", n, err))
			continue
		}
		out = append(out, c)
	}
	if err := errors.Join(errs...); err != nil {
		return out, err
	}
	if w.intents != nil {
		// One validator per process, shared by the gate and the positions
		// worker; its background refresh is a component of its own.
		out = append(out, component{name: "intent-validator", run: w.intents.Run})
	}
	mon, err := w.healthMonitor(names)
	if err != nil {
		return out, err
	}
	if mon != nil {
		out = append(out, component{name: "health-monitor", run: mon.Run})
	}
	return out, nil
}

// healthMonitor makes /readyz tell the truth about what this process
// watches (issue 11 point 5): its streams (down beyond KRAITE_STREAM_GRACE)
// and the consumer groups of its components (records waiting with no
// commit for KRAITE_STALL_AFTER). nil when there is nothing to watch.
func (w *wiring) healthMonitor(names []string) (*health.Monitor, error) {
	var groups []topics.GroupSpec
	all := topics.Groups()
	for _, n := range names {
		for _, g := range all {
			if g.Component == n && !g.Elects && !slices.ContainsFunc(groups, func(x topics.GroupSpec) bool { return x.Suffix == g.Suffix }) {
				groups = append(groups, g)
			}
		}
	}
	if len(groups) == 0 && w.userdata == nil && w.mark == nil {
		return nil, nil
	}
	var adm *kadm.Client
	if len(groups) > 0 {
		cl, err := kgo.NewClient(append(kclient.BaseOpts(w.c.Brokers), kgo.RequestTimeoutOverhead(5*time.Second),
			kgo.ClientID("kraite-health-"+hostname()))...)
		if err != nil {
			return nil, fmt.Errorf("creating the health monitor's admin client: %w", err)
		}
		w.closers = append(w.closers, func(context.Context) error { cl.Close(); return nil })
		adm = kadm.NewClient(cl)
	}
	mon := health.NewMonitor(5*time.Second, adm, w.log.With("component", "health"))
	if mg := w.userdata; mg != nil {
		sw := health.NewStreamWatch("user-data streams")
		if w.ex.StreamGrace > 0 {
			sw.Grace = w.ex.StreamGrace
		}
		mon.Streams("userdata-streams", sw, func() []health.Stream {
			sts := mg.Status()
			out := make([]health.Stream, len(sts))
			for i, s := range sts {
				out[i] = health.Stream{ID: s.ID, Connected: s.Connected}
			}
			return out
		})
		w.ops.Ready("userdata-streams", mon.Check("userdata-streams"))
	}
	if p := w.mark; p != nil {
		sw := health.NewStreamWatch("mark-price stream")
		sw.MaxDownShare = 0
		if w.ex.StreamGrace > 0 {
			sw.Grace = w.ex.StreamGrace
		}
		mon.Streams("markprice-stream", sw, func() []health.Stream {
			return []health.Stream{{ID: topics.ExchangeBinance, Connected: p.Connected()}}
		})
		w.ops.Ready("markprice-stream", mon.Check("markprice-stream"))
	}
	for _, g := range groups {
		sw := health.NewStallWatch(g.Name(w.c.TopicPrefix))
		if w.ex.StallAfter > 0 {
			sw.After = w.ex.StallAfter // kraite dev and chaos build exchangeEnv without the defaults
		}
		name := g.Component + "-progress"
		mon.Group(name, sw)
		w.ops.Ready(name, mon.Check(name))
	}
	return mon, nil
}

// runComponents runs every component until ctx ends or one fails, then
// runs the closers (flushes) with a bounded timeout.
func runComponents(ctx context.Context, w *wiring, comps []component) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		// Every component is in /healthz: alive while its Run runs.
		var ended atomic.Bool
		w.ops.Health(c.name, func() error {
			if ended.Load() && ctx.Err() == nil {
				return errors.New("stopped")
			}
			return nil
		})
		g.Go(func() error {
			defer ended.Store(true)
			if err := c.run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	err := g.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for _, cl := range w.closers {
		err = errors.Join(err, cl(sctx))
	}
	return err
}

func (w *wiring) publisher() (*publisher.Publisher, error) {
	if w.pub != nil {
		return w.pub, nil
	}
	w.pubM = publisher.NewMetrics(w.ops.Registry)
	// franz-go's own client metrics (produce latency, buffered records,
	// broker connections, errors) next to ours on /metrics.
	p, err := publisher.New(publisher.Config{Brokers: w.c.Brokers, ClientID: "kraite-producer-" + hostname(),
		Hooks: w.kafkaHooks()}, w.log, w.pubM)
	if err != nil {
		return nil, err
	}
	w.pub = p
	w.closers = append(w.closers, p.Close)
	producerCheck := func() error {
		if !p.Healthy() {
			return fmt.Errorf("%d records waiting and no acknowledgement recently", p.Buffered())
		}
		return nil
	}
	w.ops.Health("kafka-producer", producerCheck)
	w.ops.Ready("kafka-producer", producerCheck)
	return p, nil
}

func buildUserData(ctx context.Context, w *wiring) (component, error) {
	pub, err := w.publisher()
	if err != nil {
		return component{}, err
	}
	mg, err := userdata.New(userdata.Config{
		TopicPrefix: w.c.TopicPrefix, RESTBase: w.ex.RESTBase, WSBase: w.ex.WSBase,
	}, w.accounts, pub, w.pubM, w.log.With("component", "userdata-producer"))
	if err != nil {
		return component{}, err
	}
	w.userdata = mg
	switch w.ex.AccountsSource {
	case "", accountsSourceFile:
	case accountsSourceDatabase:
		return w.userDataByGroup(ctx, mg)
	default:
		return component{}, fmt.Errorf("KRAITE_ACCOUNTS_SOURCE %q: want %s or %s", w.ex.AccountsSource, accountsSourceFile, accountsSourceDatabase)
	}
	run := mg.Run
	if w.ex.AccountsFile != "" {
		// Checked at start: a missing or invalid file is a startup error,
		// not a box that streams nothing and looks healthy.
		accts, err := userdata.LoadFile(w.ex.AccountsFile)
		if err != nil {
			return component{}, fmt.Errorf("KRAITE_ACCOUNTS_FILE: %w", err)
		}
		mg.SetAccounts(accts)
		var fileErr atomic.Pointer[error]
		w.ops.Ready("accounts-file", func() error {
			if e := fileErr.Load(); e != nil {
				return *e
			}
			return nil
		})
		run = func(ctx context.Context) error {
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return mg.Run(gctx) })
			g.Go(func() error {
				return userdata.WatchFileReport(gctx, w.ex.AccountsFile, w.ex.AccountsPoll, mg, w.log, func(err error) {
					if err == nil {
						fileErr.Store(nil)
					} else {
						fileErr.Store(&err)
					}
				})
			})
			return g.Wait()
		}
	}
	if w.ex.AccountsFile == "" && len(w.accounts) == 0 {
		return component{}, errors.New("KRAITE_ACCOUNTS_FILE is not set: the user-data producer has no accounts to stream " +
			`(a JSON list of {"id","api_key","api_secret"})`)
	}
	return component{name: "userdata-producer", run: run}, nil
}

const (
	accountsSourceFile     = "file"
	accountsSourceDatabase = "database"
)

// userDataByGroup streams the accounts this process owns in the
// producer.user-data group, with credentials from the accounts table.
func (w *wiring) userDataByGroup(ctx context.Context, mg *userdata.Manager) (component, error) {
	src, err := w.credentialSource(ctx)
	if err != nil {
		return component{}, fmt.Errorf("KRAITE_ACCOUNTS_SOURCE=database: %w", err)
	}
	as, err := userdata.NewAssigner(userdata.AssignConfig{
		Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Source: src, Grace: w.ex.HandOverGrace,
		ClientID: "kraite-userdata-" + hostname(), Hooks: w.kafkaHooks(),
		Log: w.log.With("component", "userdata-assigner"),
	}, mg)
	if err != nil {
		return component{}, err
	}
	return component{name: "userdata-producer", run: func(ctx context.Context) error {
		return userdata.RunAssigned(ctx, as, mg)
	}}, nil
}

func buildMarkPrice(ctx context.Context, w *wiring) (component, error) {
	pub, err := w.publisher()
	if err != nil {
		return component{}, err
	}
	p, err := markprice.New(markprice.Config{TopicPrefix: w.c.TopicPrefix, WSBase: w.ex.WSBase},
		pub, w.pubM, w.log.With("component", "markprice-producer"))
	if err != nil {
		return component{}, err
	}
	w.mark = p
	return component{name: "markprice-producer", run: p.Run}, nil
}

// gokaOptions are the options of one goka processor of this process:
// Kafka builders with fresh configs, and LevelDB tables under the state dir
// so a restart recovers only what changed. Each processor (and each
// processor's views, see the builders) gets its own directory: in one
// process two stores of the same table would otherwise share and lock one
// LevelDB directory.
func (w *wiring) gokaOptions(name string) []goka.ProcessorOption {
	return append(kclient.GokaProcessorOptions(w.c.Replication, w.log),
		goka.WithStorageBuilder(storage.DefaultBuilder(filepath.Join(w.ex.StateDir, "goka", name))))
}

func buildDispatch(ctx context.Context, w *wiring) (component, error) {
	m, err := dispatch.NewMetrics(w.ops.Registry)
	if err != nil {
		return component{}, err
	}
	// The allowlist View gets a LevelDB directory of its own, apart from the processor's.
	views := append(kclient.GokaViewOptions(w.c.Replication),
		goka.WithViewStorageBuilder(storage.DefaultBuilder(filepath.Join(w.ex.StateDir, "goka", "dispatch-views"))))
	var initial map[string][]string
	if w.allowlist != nil {
		initial = map[string][]string{topics.ExchangeBinance: w.allowlist}
	}
	p, err := dispatch.New(dispatch.Config{Brokers: w.c.Brokers, ViewOptions: views, Prefix: w.c.TopicPrefix, Metrics: m,
		Allowlists: initial, Log: w.log.With("component", "dispatch")}, w.gokaOptions("dispatch")...)
	if err != nil {
		return component{}, err
	}
	if err := dispatch.RegisterStats(w.ops.Registry, p); err != nil {
		return component{}, err
	}
	w.controlAlerts = append(w.controlAlerts, p.Alerts)
	return w.addProcessor("dispatch", p), nil
}

func buildRegime(ctx context.Context, w *wiring) (component, error) {
	cfg := regime.DefaultConfig(w.c.Brokers, w.c.TopicPrefix)
	cfg.Log = w.log.With("component", "regime")
	cfg.ViewOptions = append(kclient.GokaViewOptions(w.c.Replication),
		goka.WithViewStorageBuilder(storage.DefaultBuilder(filepath.Join(w.ex.StateDir, "goka", "regime-views"))))
	p, err := regime.New(cfg, w.gokaOptions("regime")...)
	if err != nil {
		return component{}, err
	}
	if err := regime.RegisterStats(w.ops.Registry, p); err != nil {
		return component{}, err
	}
	return w.addProcessor("regime", p), nil
}

func buildGate(ctx context.Context, w *wiring) (component, error) {
	cfg := gate.DefaultConfig(w.c.Brokers, w.c.TopicPrefix)
	cfg.Log = w.log.With("component", "gate")
	cfg.ViewOptions = append(kclient.GokaViewOptions(w.c.Replication),
		goka.WithViewStorageBuilder(storage.DefaultBuilder(filepath.Join(w.ex.StateDir, "goka", "gate-views"))))
	src, err := w.intentValidator(ctx)
	if err != nil {
		return component{}, err
	}
	cfg.Validator = src
	p, err := gate.New(cfg, w.gokaOptions("gate")...)
	if err != nil {
		return component{}, err
	}
	if err := gate.RegisterStats(w.ops.Registry, p); err != nil {
		return component{}, err
	}
	w.controlAlerts = append(w.controlAlerts, p.Alerts)
	return w.addProcessor("gate", p), nil
}

// intentValidator is the intents.Source of this process (one, shared by
// the gate and the positions worker): accounts, symbol rules, mark prices
// and positions from the database, refreshed in the background (the
// "intent-validator" component); it refuses every intent while it has no
// fresh snapshot (fail closed). Its readiness is part of /readyz.
func (w *wiring) intentValidator(ctx context.Context) (*intents.Source, error) {
	if w.intents != nil {
		return w.intents, nil
	}
	d, err := w.database(ctx)
	if err != nil {
		return nil, fmt.Errorf("the intent validator needs the database: %w", err)
	}
	var ie intents.Env
	if err := loadEnv(&ie); err != nil {
		return nil, err
	}
	lim, err := ie.Limits()
	if err != nil {
		return nil, err
	}
	src, err := intents.NewSource(intents.SourceConfig{DB: d, Limits: lim, Refresh: ie.Refresh,
		Log: w.log.With("component", "intent-validator"),
		Accounts: func(context.Context) ([]intents.AccountKey, error) {
			accts, err := w.accountList()
			if err != nil {
				return nil, err
			}
			out := make([]intents.AccountKey, len(accts))
			for i, a := range accts {
				out[i] = intents.AccountKey{Exchange: topics.ExchangeBinance, Account: a.ID}
			}
			return out, nil
		}})
	if err != nil {
		return nil, err
	}
	if err := src.Refresh(ctx); err != nil {
		// Not fatal: until a load succeeds every intent is refused with
		// validation_unavailable and /readyz says why.
		w.log.Warn("intent validator: first load failed; intents are refused until it succeeds", "err", err)
	}
	w.intents = src
	w.ops.Ready("intent-validator", func() error { return src.Ready(time.Now()) })
	return src, nil
}

// database opens KRAITE_DATABASE_URL once per process and migrates it.
func (w *wiring) database(ctx context.Context) (*db.DB, error) {
	if w.db != nil {
		return w.db, nil
	}
	if w.ex.DatabaseURL == "" {
		return nil, errors.New("KRAITE_DATABASE_URL is not set (mysql://user:pass@host:port/db, postgres://..., sqlite:///path)")
	}
	d, err := db.Open(ctx, w.ex.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if _, err := d.Migrate(ctx); err != nil {
		d.Close()
		return nil, err
	}
	w.db = d
	w.closers = append(w.closers, func(context.Context) error { return d.Close() })
	return d, nil
}

// sinkDatabase is a pool of the sink's own (db.SinkConns connections) on
// the migrated database, so a slow sink cannot take another's connections.
// SQLite, one writer at a time, keeps the process's one connection.
func (w *wiring) sinkDatabase(ctx context.Context) (*db.DB, error) {
	shared, err := w.database(ctx)
	if err != nil || shared.Dialect == db.SQLite {
		return shared, err
	}
	d, err := db.OpenPool(ctx, w.ex.DatabaseURL, db.SinkConns)
	if err != nil {
		return nil, err
	}
	w.closers = append(w.closers, func(context.Context) error { return d.Close() })
	return d, nil
}

// sink is what every sink offers the wiring.
type sink interface {
	Run(ctx context.Context) error
	Healthy() bool
}

func (w *wiring) addSink(name string, s sink) component {
	check := func() error {
		if !s.Healthy() {
			return errors.New("database writes failing; retrying")
		}
		return nil
	}
	w.ops.Health(name, check)
	w.ops.Ready(name, check)
	return component{name: name, run: s.Run}
}

// processorRunner is what the processors' Runners offer the wiring.
type processorRunner interface {
	Run(ctx context.Context) error
	WaitForReady(ctx context.Context) error
}

// addProcessor makes a goka processor's readiness (its Views recovered,
// its tables restored, partitions assigned) part of /readyz.
func (w *wiring) addProcessor(name string, p processorRunner) component {
	w.ops.Ready(name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := p.WaitForReady(ctx); err != nil {
			return fmt.Errorf("not ready yet (recovering tables or waiting for partitions): %w", err)
		}
		return nil
	})
	return component{name: name, run: p.Run}
}

func buildAuditSink(ctx context.Context, w *wiring) (component, error) {
	d, err := w.sinkDatabase(ctx)
	if err != nil {
		return component{}, err
	}
	s, err := auditsink.New(auditsink.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Group: topics.GroupSinkAudit.Name(w.c.TopicPrefix), Registerer: w.ops.Registry, Hooks: w.kafkaHooks()},
		d, w.log.With("component", "audit-sink"))
	if err != nil {
		return component{}, err
	}
	return w.addSink("audit-sink", s), nil
}

func buildMarkPriceSink(ctx context.Context, w *wiring) (component, error) {
	d, err := w.sinkDatabase(ctx)
	if err != nil {
		return component{}, err
	}
	s, err := marksink.New(marksink.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Group: topics.GroupSinkMarkPrice.Name(w.c.TopicPrefix), Registerer: w.ops.Registry, Hooks: w.kafkaHooks()},
		d, w.log.With("component", "markprice-sink"))
	if err != nil {
		return component{}, err
	}
	return w.addSink("markprice-sink", s), nil
}

func buildOrdersSink(ctx context.Context, w *wiring) (component, error) {
	d, err := w.sinkDatabase(ctx)
	if err != nil {
		return component{}, err
	}
	s, err := orderssink.New(orderssink.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Group: topics.GroupSinkOrders.Name(w.c.TopicPrefix), Registerer: w.ops.Registry, Hooks: w.kafkaHooks()},
		d, w.log.With("component", "orders-sink"))
	if err != nil {
		return component{}, err
	}
	return w.addSink("orders-sink", s), nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// credentialSource is where the user-data producer reads the credentials of
// the accounts it owns.
func (w *wiring) credentialSource(ctx context.Context) (accounts.CredentialSource, error) {
	if w.creds != nil {
		return w.creds, nil
	}
	var kc accounts.KeyConfig
	if err := loadEnv(&kc); err != nil {
		return nil, err
	}
	key, err := kc.Load()
	if err != nil {
		return nil, err
	}
	d, err := w.database(ctx)
	if err != nil {
		return nil, err
	}
	s, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: w.log.With("component", "accounts")})
	if err != nil {
		return nil, err
	}
	w.creds = s
	return s, nil
}
