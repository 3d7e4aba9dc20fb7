package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/producers/markprice"
	"github.com/kraite/stream/producers/userdata"
	auditsink "github.com/kraite/stream/sinks/audit"
	marksink "github.com/kraite/stream/sinks/markprice"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

func buildUserData(ctx context.Context, w *App) (Component, error) {
	pub, err := w.publisher()
	if err != nil {
		return Component{}, err
	}
	mg, err := userdata.New(userdata.Config{
		TopicPrefix: w.Common.TopicPrefix, RESTBase: w.Exchange.RESTBase, WSBase: w.Exchange.WSBase,
	}, w.Accounts, pub, w.pubM, w.Log.With("component", "userdata-producer"))
	if err != nil {
		return Component{}, err
	}
	w.userdata = mg
	switch w.Exchange.AccountsSource {
	case "", AccountsSourceFile:
	case AccountsSourceDatabase:
		return w.userDataByGroup(ctx, mg)
	default:
		return Component{}, fmt.Errorf("KRAITE_ACCOUNTS_SOURCE %q: want %s or %s", w.Exchange.AccountsSource, AccountsSourceFile, AccountsSourceDatabase)
	}
	run := mg.Run
	if w.Exchange.AccountsFile != "" {
		// Checked at start: a missing or invalid file is a startup error,
		// not a box that streams nothing and looks healthy.
		accts, err := userdata.LoadFile(w.Exchange.AccountsFile)
		if err != nil {
			return Component{}, fmt.Errorf("KRAITE_ACCOUNTS_FILE: %w", err)
		}
		mg.SetAccounts(accts)
		var fileErr atomic.Pointer[error]
		w.Ops.Ready("accounts-file", func() error {
			if e := fileErr.Load(); e != nil {
				return *e
			}
			return nil
		})
		run = func(ctx context.Context) error {
			g, gctx := errgroup.WithContext(ctx)
			g.Go(func() error { return mg.Run(gctx) })
			g.Go(func() error {
				return userdata.WatchFileReport(gctx, w.Exchange.AccountsFile, w.Exchange.AccountsPoll, mg, w.Log, func(err error) {
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
	if w.Exchange.AccountsFile == "" && len(w.Accounts) == 0 {
		return Component{}, errors.New("KRAITE_ACCOUNTS_FILE is not set: the user-data producer has no accounts to stream " +
			`(a JSON list of {"id","api_key","api_secret"})`)
	}
	return Component{Name: "userdata-producer", Run: run}, nil
}

// KRAITE_ACCOUNTS_SOURCE values: the accounts file or the accounts table.
const (
	AccountsSourceFile     = "file"
	AccountsSourceDatabase = "database"
)

// userDataByGroup streams the accounts this process owns in the
// producer.user-data group, with credentials from the accounts table.
func (w *App) userDataByGroup(ctx context.Context, mg *userdata.Manager) (Component, error) {
	src, err := w.credentialSource(ctx)
	if err != nil {
		return Component{}, fmt.Errorf("KRAITE_ACCOUNTS_SOURCE=database: %w", err)
	}
	as, err := userdata.NewAssigner(userdata.AssignConfig{
		Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Source: src, Grace: w.Exchange.HandOverGrace,
		ClientID: "kraite-userdata-" + Hostname(),
		Log:      w.Log.With("component", "userdata-assigner"),
	}, mg)
	if err != nil {
		return Component{}, err
	}
	return Component{Name: "userdata-producer", Run: func(ctx context.Context) error {
		return userdata.RunAssigned(ctx, as, mg)
	}}, nil
}

func buildMarkPrice(ctx context.Context, w *App) (Component, error) {
	pub, err := w.publisher()
	if err != nil {
		return Component{}, err
	}
	p, err := markprice.New(markprice.Config{TopicPrefix: w.Common.TopicPrefix, WSBase: w.Exchange.WSBase},
		pub, w.pubM, w.Log.With("component", "markprice-producer"))
	if err != nil {
		return Component{}, err
	}
	w.mark = p
	return Component{Name: "markprice-producer", Run: p.Run}, nil
}

// gokaOptions are the options of one goka processor of this process:
// Kafka builders with fresh configs, and LevelDB tables under the state dir
// so a restart recovers only what changed. Each processor (and each
// processor's views, see the builders) gets its own directory: in one
// process two stores of the same table would otherwise share and lock one
// LevelDB directory.
func (w *App) gokaOptions(name string) []goka.ProcessorOption {
	return append(w.Kafka().GokaProcessorOptions(w.Common.Replication),
		goka.WithStorageBuilder(storage.DefaultBuilder(filepath.Join(w.Exchange.StateDir, "goka", name))))
}

func buildDispatch(ctx context.Context, w *App) (Component, error) {
	m, err := dispatch.NewMetrics(w.Ops.Registry)
	if err != nil {
		return Component{}, err
	}
	// The allowlist View gets a LevelDB directory of its own, apart from the processor's.
	views := append(w.Kafka().GokaViewOptions(w.Common.Replication),
		goka.WithViewStorageBuilder(storage.DefaultBuilder(filepath.Join(w.Exchange.StateDir, "goka", "dispatch-views"))))
	var initial map[string][]string
	if w.Allowlist != nil {
		initial = map[string][]string{topics.ExchangeBinance: w.Allowlist}
	}
	p, err := dispatch.New(dispatch.Config{Brokers: w.Common.Brokers, Kafka: w.Kafka(), ViewOptions: views, Prefix: w.Common.TopicPrefix, Metrics: m,
		Allowlists: initial, Log: w.Log.With("component", "dispatch")}, w.gokaOptions("dispatch")...)
	if err != nil {
		return Component{}, err
	}
	if err := dispatch.RegisterStats(w.Ops.Registry, p); err != nil {
		return Component{}, err
	}
	w.controlAlerts = append(w.controlAlerts, p.Alerts)
	return w.addProcessor("dispatch", p), nil
}

func buildRegime(ctx context.Context, w *App) (Component, error) {
	cfg := regime.DefaultConfig(w.Common.Brokers, w.Common.TopicPrefix)
	cfg.Log = w.Log.With("component", "regime")
	cfg.Kafka = w.Kafka()
	cfg.ViewOptions = append(w.Kafka().GokaViewOptions(w.Common.Replication),
		goka.WithViewStorageBuilder(storage.DefaultBuilder(filepath.Join(w.Exchange.StateDir, "goka", "regime-views"))))
	p, err := regime.New(cfg, w.gokaOptions("regime")...)
	if err != nil {
		return Component{}, err
	}
	if err := regime.RegisterStats(w.Ops.Registry, p); err != nil {
		return Component{}, err
	}
	return w.addProcessor("regime", p), nil
}

func buildGate(ctx context.Context, w *App) (Component, error) {
	cfg := gate.DefaultConfig(w.Common.Brokers, w.Common.TopicPrefix)
	cfg.Log = w.Log.With("component", "gate")
	cfg.Kafka = w.Kafka()
	cfg.ViewOptions = append(w.Kafka().GokaViewOptions(w.Common.Replication),
		goka.WithViewStorageBuilder(storage.DefaultBuilder(filepath.Join(w.Exchange.StateDir, "goka", "gate-views"))))
	src, err := w.intentValidator(ctx)
	if err != nil {
		return Component{}, err
	}
	cfg.Validator = src
	p, err := gate.New(cfg, w.gokaOptions("gate")...)
	if err != nil {
		return Component{}, err
	}
	if err := gate.RegisterStats(w.Ops.Registry, p); err != nil {
		return Component{}, err
	}
	w.controlAlerts = append(w.controlAlerts, p.Alerts)
	return w.addProcessor("gate", p), nil
}

// intentValidator is the intents.Source of this process (one, shared by
// the gate and the positions worker): accounts, symbol rules, mark prices
// and positions from the database, refreshed in the background (the
// "intent-validator" component); it refuses every intent while it has no
// fresh snapshot (fail closed). Its readiness is part of /readyz.
func (w *App) intentValidator(ctx context.Context) (*intents.Source, error) {
	if w.intents != nil {
		return w.intents, nil
	}
	d, err := w.database(ctx)
	if err != nil {
		return nil, fmt.Errorf("the intent validator needs the database: %w", err)
	}
	if err := w.openAccountsTable(ctx, false); err != nil {
		return nil, err
	}
	ie := w.Intents
	lim, err := ie.Limits()
	if err != nil {
		return nil, err
	}
	src, err := intents.NewSource(intents.SourceConfig{DB: d, Limits: lim, Refresh: ie.Refresh,
		Log: w.Log.With("component", "intent-validator"),
		Accounts: func(context.Context) ([]intents.AccountKey, error) {
			accts, err := w.accountList()
			if err != nil {
				return nil, err
			}
			return accountKeys(accts), nil
		}})
	if err != nil {
		return nil, err
	}
	if err := src.Refresh(ctx); err != nil {
		// Not fatal: until a load succeeds every intent is refused with
		// validation_unavailable and /readyz says why.
		w.Log.Warn("intent validator: first load failed; intents are refused until it succeeds", "err", err)
	}
	w.intents = src
	w.Ops.Ready("intent-validator", func() error { return src.Ready(time.Now()) })
	return src, nil
}

// database opens KRAITE_DATABASE_URL once per process and migrates it.
func (w *App) database(ctx context.Context) (*db.DB, error) {
	if w.db != nil {
		return w.db, nil
	}
	if w.Exchange.DatabaseURL == "" {
		return nil, errors.New("KRAITE_DATABASE_URL is not set (mysql://user:pass@host:port/db, postgres://..., sqlite:///path)")
	}
	d, err := db.Open(ctx, w.Exchange.DatabaseURL)
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
func (w *App) sinkDatabase(ctx context.Context) (*db.DB, error) {
	shared, err := w.database(ctx)
	if err != nil || shared.Dialect == db.SQLite {
		return shared, err
	}
	d, err := db.OpenPool(ctx, w.Exchange.DatabaseURL, db.SinkConns)
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

func (w *App) addSink(name string, s sink) Component {
	check := func() error {
		if !s.Healthy() {
			return errors.New("database writes failing; retrying")
		}
		return nil
	}
	w.Ops.Health(name, check)
	w.Ops.Ready(name, check)
	return Component{Name: name, Run: s.Run}
}

// processorRunner is what the processors' Runners offer the wiring.
type processorRunner interface {
	Run(ctx context.Context) error
	WaitForReady(ctx context.Context) error
}

// addProcessor makes a goka processor's readiness (its Views recovered,
// its tables restored, partitions assigned) part of /readyz.
func (w *App) addProcessor(name string, p processorRunner) Component {
	w.Ops.Ready(name, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := p.WaitForReady(ctx); err != nil {
			return fmt.Errorf("not ready yet (recovering tables or waiting for partitions): %w", err)
		}
		return nil
	})
	return Component{Name: name, Run: p.Run}
}

// buildSink builds the sink name with newSink on a database pool of its
// own (sinkDatabase), its health and readiness on the ops server.
func buildSink[S sink](ctx context.Context, w *App, name string, newSink func(d *db.DB, log *slog.Logger) (S, error)) (Component, error) {
	d, err := w.sinkDatabase(ctx)
	if err != nil {
		return Component{}, err
	}
	s, err := newSink(d, w.Log.With("component", name))
	if err != nil {
		return Component{}, err
	}
	return w.addSink(name, s), nil
}

// sinkConfig is the consumer part of a batching sink's configuration (the
// audit, orders and regime-history sinks share one type): the process's
// client factory and metrics registry, the topic prefix and group's name.
func (w *App) sinkConfig(group topics.GroupSpec) auditsink.SinkConfig {
	return auditsink.SinkConfig{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Group: group.Name(w.Common.TopicPrefix), Registerer: w.Ops.Registry}
}

func buildAuditSink(ctx context.Context, w *App) (Component, error) {
	return buildSink(ctx, w, "audit-sink", func(d *db.DB, log *slog.Logger) (*auditsink.Sink, error) {
		return auditsink.New(auditsink.Config{SinkConfig: w.sinkConfig(topics.GroupSinkAudit)}, d, log)
	})
}

func buildMarkPriceSink(ctx context.Context, w *App) (Component, error) {
	return buildSink(ctx, w, "markprice-sink", func(d *db.DB, log *slog.Logger) (*marksink.Sink, error) {
		return marksink.New(marksink.Config{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix,
			Group: topics.GroupSinkMarkPrice.Name(w.Common.TopicPrefix), Registerer: w.Ops.Registry}, d, log)
	})
}

func buildOrdersSink(ctx context.Context, w *App) (Component, error) {
	return buildSink(ctx, w, "orders-sink", func(d *db.DB, log *slog.Logger) (*orderssink.Sink, error) {
		return orderssink.New(orderssink.Config{SinkConfig: w.sinkConfig(topics.GroupSinkOrders)}, d, log)
	})
}

// credentialSource is where the user-data producer reads the credentials of
// the accounts it owns.
func (w *App) credentialSource(ctx context.Context) (accounts.CredentialSource, error) {
	if w.Creds != nil {
		return w.Creds, nil
	}
	key, err := w.AccountsKey.Load()
	if err != nil {
		return nil, err
	}
	d, err := w.database(ctx)
	if err != nil {
		return nil, err
	}
	s, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: w.Log.With("component", "accounts")})
	if err != nil {
		return nil, err
	}
	w.Creds = s
	return s, nil
}
