// Package app is the application object of Kraite stream: one App per
// process holds what its components share (configuration, logger, ops
// server, the Kafka producer, the database, the REST client, the accounts)
// and builds and runs the components by name. Roles (internal/roles) are
// lists of these names; cmd/kraite parses flags and calls into this package.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/health"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/ops"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/producers/markprice"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/topics"
)

// App holds what the components of one process share. Set the exported
// fields before building components; the rest is created on first use.
type App struct {
	Common   Common
	Exchange Exchange
	// Jobs is the time-driven work (dev and chaos compress its periods:
	// Jobs.WithSweep).
	Jobs        Jobs
	Intents     intents.Env
	AccountsKey accounts.KeyConfig
	Log         *slog.Logger
	// Ops is the process's ops server (status page, /metrics, /healthz,
	// /readyz); every component registers its checks there.
	Ops *ops.Server
	// Accounts are static accounts (dev and chaos: the simulator's).
	Accounts []userdata.Account
	// Allowlist is the initial Binance dispatch allowlist (nil: the default).
	Allowlist []string
	// Creds reads account credentials for KRAITE_ACCOUNTS_SOURCE=database
	// (nil: opened from the accounts table when needed).
	Creds accounts.CredentialSource
	// devKey is the accounts key kraite dev seeded the table with (its data
	// directory's when KRAITE_ACCOUNTS_KEY(_FILE) is unset).
	devKey accounts.Key

	pub      *publisher.Publisher
	pubM     *publisher.Metrics
	closers  []func(context.Context) error // run after every component stopped, in order
	userdata *userdata.Manager
	mark     *markprice.Producer
	intents  *intents.Source
	db       *db.DB
	rest     *binanceapi.Client // the jobs' (background share)
	urgent   *binanceapi.Client // placement and keep-alives (stream share)

	acctMu    sync.Mutex // guards the parsed accounts file, or the accounts table's list
	acctCache []userdata.Account
	acctMod   time.Time
	acctSize  int64
	acctRead  time.Time // when acctCache was read from the accounts table
	// controlAlerts are the Alerts of this process's gate and dispatch
	// Runners (refused control records), for the status page.
	controlAlerts []func() []gate.Alert

	// kf builds the components' Kafka clients (see Kafka).
	kf     *kclient.Factory
	kfOnce sync.Once
}

// New is the App of one process configured by cfg, with its own ops
// server.
func New(cfg *Config, log *slog.Logger) *App {
	return &App{Common: cfg.Common, Exchange: cfg.Exchange, Jobs: cfg.Jobs, Intents: cfg.Intents, AccountsKey: cfg.AccountsKey,
		Log: log, Ops: ops.NewServer(log)}
}

// Component is one long-lived piece of a box.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

// ComponentNames are the names of every component, sorted.
func ComponentNames() []string {
	names := make([]string, 0, len(builders))
	for n := range builders {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// IsComponent reports whether name is a component.
func IsComponent(name string) bool {
	_, ok := builders[name]
	return ok
}

// Without is names minus skip; an unknown name in skip is an error.
func Without(names, skip []string) ([]string, error) {
	drop := map[string]bool{}
	for _, s := range skip {
		if !IsComponent(s) {
			return nil, fmt.Errorf("unknown component %q (components: %s)", s, strings.Join(ComponentNames(), ", "))
		}
		drop[s] = true
	}
	var out []string
	for _, n := range names {
		if !drop[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// Components constructs the named components in order, then the shared
// ones they need (the intent validator's refresh, the health monitor).
func (w *App) Components(ctx context.Context, names []string) ([]Component, error) {
	var (
		out  []Component
		errs []error
	)
	for _, n := range names {
		b, ok := builders[n]
		if !ok {
			errs = append(errs, fmt.Errorf("unknown component %q (known: %s)", n, strings.Join(ComponentNames(), ", ")))
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
		out = append(out, Component{Name: "intent-validator", Run: w.intents.Run})
	}
	mon, err := w.healthMonitor(names)
	if err != nil {
		return out, err
	}
	if mon != nil {
		out = append(out, Component{Name: "health-monitor", Run: mon.Run})
	}
	return out, nil
}

// healthMonitor makes /readyz tell the truth about what this process
// watches (issue 11 point 5): its streams (down beyond KRAITE_STREAM_GRACE)
// and the consumer groups of its components (records waiting with no
// commit for KRAITE_STALL_AFTER). nil when there is nothing to watch.
func (w *App) healthMonitor(names []string) (*health.Monitor, error) {
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
		cl, err := w.Kafka().Unmetered().Client(kgo.RequestTimeoutOverhead(5*time.Second),
			kgo.ClientID("kraite-health-"+Hostname()))
		if err != nil {
			return nil, fmt.Errorf("creating the health monitor's admin client: %w", err)
		}
		w.closers = append(w.closers, func(context.Context) error { cl.Close(); return nil })
		adm = kadm.NewClient(cl)
	}
	mon := health.NewMonitor(5*time.Second, adm, w.Log.With("component", "health"))
	if mg := w.userdata; mg != nil {
		sw := health.NewStreamWatch("user-data streams")
		if w.Exchange.StreamGrace > 0 {
			sw.Grace = w.Exchange.StreamGrace
		}
		mon.Streams("userdata-streams", sw, func() []health.Stream {
			sts := mg.Status()
			out := make([]health.Stream, 0, len(sts))
			for _, s := range sts {
				if s.Closed == "" { // a disabled account is not a down stream
					out = append(out, health.Stream{ID: s.ID, Connected: s.Connected})
				}
			}
			return out
		})
		w.Ops.Ready("userdata-streams", mon.Check("userdata-streams"))
	}
	if p := w.mark; p != nil {
		sw := health.NewStreamWatch("mark-price stream")
		sw.MaxDownShare = 0
		if w.Exchange.StreamGrace > 0 {
			sw.Grace = w.Exchange.StreamGrace
		}
		mon.Streams("markprice-stream", sw, func() []health.Stream {
			return []health.Stream{{ID: topics.ExchangeBinance, Connected: p.Connected()}}
		})
		w.Ops.Ready("markprice-stream", mon.Check("markprice-stream"))
	}
	for _, g := range groups {
		sw := health.NewStallWatch(g.Name(w.Common.TopicPrefix))
		if w.Exchange.StallAfter > 0 {
			sw.After = w.Exchange.StallAfter // kraite dev and chaos build Exchange without the defaults
		}
		name := g.Component + "-progress"
		mon.Group(name, sw)
		w.Ops.Ready(name, mon.Check(name))
	}
	return mon, nil
}

// Run runs every component until ctx ends or one fails, then runs the
// closers (flushes) with a bounded timeout.
func (w *App) Run(ctx context.Context, comps []Component) error {
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range comps {
		// Every component is in /healthz: alive while its Run runs.
		var ended atomic.Bool
		w.Ops.Health(c.Name, func() error {
			if ended.Load() && ctx.Err() == nil {
				return errors.New("stopped")
			}
			return nil
		})
		g.Go(func() error {
			defer ended.Store(true)
			if err := c.Run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
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

// RunBox runs one box (kraite run) until ctx ends or a component fails:
// it applies the topic catalog, builds the named components and the status
// page (naming the box process), and serves the ops server on
// Exchange.HTTPAddr.
func (w *App) RunBox(ctx context.Context, names []string, process string) error {
	if _, err := EnsureTopics(ctx, w.Common); err != nil {
		return fmt.Errorf("applying the topic catalog: %w", err)
	}
	comps, err := w.Components(ctx, names)
	if err != nil {
		return err
	}
	page, err := w.StatusPage(process)
	if err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return w.Ops.Run(gctx, w.Exchange.HTTPAddr) })
	g.Go(func() error { return w.Run(gctx, append(comps, page)) })
	return g.Wait()
}

// OnClose adds f to what Run does after every component stopped (flushes,
// closing clients), in the order added.
func (w *App) OnClose(f func(context.Context) error) { w.closers = append(w.closers, f) }

// SetUserData makes mg the process's user-data manager (a producer built
// outside Components: chaos), for the status page.
func (w *App) SetUserData(mg *userdata.Manager) { w.userdata = mg }

// Publisher is the process's one Kafka producer of raw frames and its
// metrics, created on first use; Run flushes and closes it.
func (w *App) Publisher() (*publisher.Publisher, *publisher.Metrics, error) {
	p, err := w.publisher()
	return p, w.pubM, err
}

func (w *App) publisher() (*publisher.Publisher, error) {
	if w.pub != nil {
		return w.pub, nil
	}
	w.pubM = publisher.NewMetrics(w.Ops.Registry)
	// franz-go's own client metrics (produce latency, buffered records,
	// broker connections, errors) next to ours on /metrics.
	p, err := publisher.New(publisher.Config{Kafka: w.Kafka(), ClientID: "kraite-producer-" + Hostname()}, w.Log, w.pubM)
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
	w.Ops.Health("kafka-producer", producerCheck)
	w.Ops.Ready("kafka-producer", producerCheck)
	return p, nil
}

// Hostname names this process in logs and client ids.
func Hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "kraite"
	}
	return strings.SplitN(h, ".", 2)[0]
}

// SplitList splits a comma-separated list, dropping blanks.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
