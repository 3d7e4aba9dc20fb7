package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/queues/scheduler"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// jobsEnv configures time-driven work.
type jobsEnv struct {
	OrderSyncEvery time.Duration `env:"KRAITE_ORDER_SYNC_EVERY" envDefault:"5m"`
	KeepAliveEvery time.Duration `env:"KRAITE_KEEPALIVE_EVERY" envDefault:"30m"`
	GapLookback    time.Duration `env:"KRAITE_GAP_LOOKBACK" envDefault:"1h"`
	KlineEvery     time.Duration `env:"KRAITE_KLINE_EVERY" envDefault:"1m"`
	BalanceEvery   time.Duration `env:"KRAITE_BALANCE_EVERY" envDefault:"1h"`
	SymbolsEvery   time.Duration `env:"KRAITE_SYMBOL_REFRESH_EVERY" envDefault:"24h"`
	// KlineSymbols are the symbols of kline-fetch and indicators jobs.
	KlineSymbols []string `env:"KRAITE_KLINE_SYMBOLS" envSeparator:"," envDefault:"BTCUSDT,ETHUSDT"`
	// DriftGrace is how long the observed and the exchange's position may
	// disagree before a priority alert: longer than a sweep period, so frames
	// lost on a socket and recovered by the next sweep raise nothing.
	DriftGrace time.Duration `env:"KRAITE_POSITION_DRIFT_GRACE" envDefault:"6m"`
}

// accountList is the accounts this process serves: the static list (dev) or
// the accounts file. The file is parsed again only when its size or
// modification time changed (a stat per job, not a read and parse), so
// changes apply without a restart.
func (w *wiring) accountList() ([]userdata.Account, error) {
	if w.ex.AccountsFile == "" {
		return w.accounts, nil
	}
	st, err := os.Stat(w.ex.AccountsFile)
	if err != nil {
		return nil, fmt.Errorf("reading accounts file: %w", err)
	}
	w.acctMu.Lock()
	defer w.acctMu.Unlock()
	if w.acctCache != nil && st.ModTime().Equal(w.acctMod) && st.Size() == w.acctSize {
		return w.acctCache, nil
	}
	data, err := os.ReadFile(w.ex.AccountsFile)
	if err != nil {
		return nil, fmt.Errorf("reading accounts file: %w", err)
	}
	accts, err := userdata.ParseAccounts(data)
	if err != nil {
		return nil, err
	}
	w.acctCache, w.acctMod, w.acctSize = accts, st.ModTime(), st.Size()
	return accts, nil
}

// credentials are the API credentials of a configured account.
func (w *wiring) credentials(id string) (binanceapi.Credentials, error) {
	a, err := w.account(id)
	return a.Creds(), err
}

func (w *wiring) account(id string) (userdata.Account, error) {
	accts, err := w.accountList()
	if err != nil {
		return userdata.Account{}, err
	}
	for _, a := range accts {
		if a.ID == id {
			return a, nil
		}
	}
	return userdata.Account{}, fmt.Errorf("account %q is not configured", id)
}

// restClient is the process's one REST client: one weight budget per IP.
// It reads the exchange's weight limit before its first call.
func (w *wiring) restClient() *binanceapi.Client {
	if w.rest == nil {
		w.rest = binanceapi.New(w.ex.RESTBase)
	}
	return w.rest
}

// jobsConfig is the time-driven work's configuration: the environment, read
// once per process, unless a command set it (dev, chaos: from the
// environment too, with their flags applied).
func (w *wiring) jobsConfig() (jobsEnv, error) {
	if w.jobs == nil {
		var je jobsEnv
		if err := loadEnv(&je); err != nil {
			return je, err
		}
		w.jobs = &je
	}
	return *w.jobs, nil
}

func buildScheduler(ctx context.Context, w *wiring) (component, error) {
	je, err := w.jobsConfig()
	if err != nil {
		return component{}, err
	}
	// Per-account schedules are spread over their period (see spread), so
	// a thousand accounts' syncs do not all start at the same instant.
	schedules := []scheduler.Schedule{
		spread(scheduler.Schedule{Name: reconcile.JobOrderSync, Every: je.OrderSyncEvery, Queue: topics.Cronjobs, PerAccount: true}),
		spread(scheduler.Schedule{Name: "listenkey-keepalive", Every: je.KeepAliveEvery, Queue: topics.Priority, PerAccount: true}),
		{Name: marketjobs.JobKlineFetch, Every: je.KlineEvery, Jitter: je.KlineEvery / 12, Queue: topics.Cronjobs},
		{Name: marketjobs.JobIndicators, Every: je.KlineEvery, Jitter: je.KlineEvery / 4, Queue: topics.Indicators},
		spread(scheduler.Schedule{Name: marketjobs.JobBalanceSnapshot, Every: je.BalanceEvery, Queue: topics.Cronjobs, PerAccount: true}),
		{Name: marketjobs.JobSymbolRefresh, Every: je.SymbolsEvery, Jitter: je.SymbolsEvery / 48, Queue: topics.Cronjobs},
	}
	s, err := scheduler.New(scheduler.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Schedules: schedules, ID: hostname() + "-scheduler", Hooks: w.kafkaHooks(),
		Accounts: func() []string {
			accts, err := w.accountList()
			if err != nil {
				w.log.Error("listing accounts for the scheduler", "err", err)
			}
			ids := make([]string, len(accts))
			for i, a := range accts {
				ids[i] = a.ID
			}
			return ids
		}}, w.log.With("component", "scheduler"))
	if err != nil {
		return component{}, err
	}
	return component{name: "scheduler", run: s.Run}, nil
}

// spread staggers a per-account schedule over its period in up to 60
// sub-slots of at least a second each, with a jitter of a tenth of a
// sub-slot.
func spread(s scheduler.Schedule) scheduler.Schedule {
	for n := 60; n > 1; n-- {
		if sub := s.Every / time.Duration(n); s.Every%time.Duration(n) == 0 && sub >= time.Second && sub%time.Millisecond == 0 {
			s.Spread, s.Jitter = n, sub/10
			return s
		}
	}
	s.Jitter = s.Every / 10
	return s
}

func buildGapWatcher(ctx context.Context, w *wiring) (component, error) {
	g := &reconcile.GapWatcher{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Log: w.log.With("component", "gap-watcher"), Hooks: w.kafkaHooks()}
	return component{name: "gap-watcher", run: g.Run}, nil
}

func buildWorker(ctx context.Context, w *wiring, name string, queue topics.Spec) (component, error) {
	d, err := w.database(ctx)
	if err != nil {
		return component{}, err
	}
	je, err := w.jobsConfig()
	if err != nil {
		return component{}, err
	}
	prod, err := kgo.NewClient(append(kclient.ProducerOpts(w.c.Brokers, nil), kgo.ClientID(name))...)
	if err != nil {
		return component{}, fmt.Errorf("creating %s producer: %w", name, err)
	}
	w.closers = append(w.closers, func(ctx context.Context) error { err := prod.Flush(ctx); prod.Close(); return err })
	rest := w.restClient()
	handlers := map[string]worker.JobHandler{
		reconcile.JobOrderSync: reconcile.OrderSyncHandler(reconcile.Deps{Exchange: topics.ExchangeBinance, Prefix: w.c.TopicPrefix,
			REST: rest, DB: d, Producer: prod, Account: w.credentials, Log: w.log.With("component", name), Book: &positions.Book{DB: d},
			Every: je.OrderSyncEvery, GapLookback: je.GapLookback, DriftGrace: je.DriftGrace}),
		"listenkey-keepalive": func(ctx context.Context, j topics.Job) error {
			a, err := w.account(j.Account)
			if err != nil {
				return err
			}
			err = rest.KeepAliveListenKey(ctx, a.Creds())
			if binanceapi.IsListenKeyGone(err) {
				return nil // the account's stream re-creates its key on its own
			}
			return err
		},
		reconcile.JobDrift: func(ctx context.Context, j topics.Job) error {
			w.log.Error("drift between the database and the exchange", "account", j.Account, "detail", string(j.Payload))
			return nil
		},
		positions.JobDrift: func(ctx context.Context, j topics.Job) error {
			w.log.Error("position drift: the observed position disagrees with the exchange's", "account", j.Account, "detail", string(j.Payload))
			return nil
		},
	}
	for typ, h := range marketjobs.Handlers(marketjobs.Deps{Rest: rest, DB: d, Log: w.log.With("component", name), Symbols: je.KlineSymbols,
		Account: w.credentials}) {
		handlers[typ] = h
	}
	wk, err := worker.New(worker.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Queue: queue,
		Handler: worker.Jobs(handlers), ClientID: hostname() + "-" + name, Hooks: w.kafkaHooks(),
		RetryFor: jobRetryFor, Backoff: jobBackoff}, w.log.With("component", name))
	if err != nil {
		return component{}, err
	}
	return component{name: name, run: wk.Run}, nil
}

// A job failing on a dependency (the database restarting, the exchange
// timing out) retries for a minute, backing off to 5 s, before it is parked;
// a permanent failure (a malformed job) is parked after three attempts.
const jobRetryFor = time.Minute

var jobBackoff = backoff.Policy{Base: 100 * time.Millisecond, Cap: 5 * time.Second, Jitter: backoff.DefaultJitter}

// buildPositionsWorker turns allowed opens on the positions queue into
// exchange orders, idempotently by client order id, and keeps the positions
// table from the orders sink's transitions and the exchange's reports.
func buildPositionsWorker(ctx context.Context, w *wiring) (component, error) {
	d, err := w.database(ctx)
	if err != nil {
		return component{}, err
	}
	src, err := w.intentValidator(ctx)
	if err != nil {
		return component{}, err
	}
	prod, err := kgo.NewClient(append(kclient.ProducerOpts(w.c.Brokers, nil), kgo.ClientID(hostname()+"-positions-rejections"))...)
	if err != nil {
		return component{}, fmt.Errorf("creating the positions rejection producer: %w", err)
	}
	w.closers = append(w.closers, func(ctx context.Context) error { err := prod.Flush(ctx); prod.Close(); return err })
	deps := positions.Deps{Rest: w.restClient(), Log: w.log.With("component", "positions-worker"), Book: &positions.Book{DB: d},
		Account: w.credentials, Validator: src, Reject: positions.KafkaRejections(prod, w.c.TopicPrefix)}
	if err := deps.Validate(); err != nil {
		return component{}, err
	}
	wk, err := worker.New(worker.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix, Queue: topics.Positions,
		Handler: positions.Handler(deps), ClientID: hostname() + "-positions-worker", Hooks: w.kafkaHooks(),
		RetryFor: jobRetryFor, Backoff: jobBackoff}, w.log.With("component", "positions-worker"))
	if err != nil {
		return component{}, err
	}
	return component{name: "positions-worker", run: wk.Run}, nil
}
