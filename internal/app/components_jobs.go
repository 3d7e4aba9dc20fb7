package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/queues/scheduler"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// accountList is the accounts this process serves: in database mode
// (KRAITE_ACCOUNTS_SOURCE=database) the enabled accounts of the accounts
// table; otherwise the static list (dev) or the accounts file. The file is
// parsed again only when its size or modification time changed (a stat per
// job, not a read and parse), so changes apply without a restart.
func (w *App) accountList() ([]userdata.Account, error) {
	if w.accountsFromTable() {
		return w.tableAccounts()
	}
	if w.Exchange.AccountsFile == "" {
		return w.Accounts, nil
	}
	st, err := os.Stat(w.Exchange.AccountsFile)
	if err != nil {
		return nil, fmt.Errorf("reading accounts file: %w", err)
	}
	w.acctMu.Lock()
	defer w.acctMu.Unlock()
	if w.acctCache != nil && st.ModTime().Equal(w.acctMod) && st.Size() == w.acctSize {
		return w.acctCache, nil
	}
	accts, err := userdata.LoadFile(w.Exchange.AccountsFile)
	if err != nil {
		return nil, err
	}
	w.acctCache, w.acctMod, w.acctSize = accts, st.ModTime(), st.Size()
	return accts, nil
}

// accountsFromTable: the per-account work reads the accounts table.
func (w *App) accountsFromTable() bool {
	return w.Exchange.AccountsSource == AccountsSourceDatabase
}

// accountsTableFor is how long the accounts table's list is reused: one
// query per scheduler tick at most, not one per job, and an account added
// or disabled with kraite accounts changes the jobs within seconds.
const accountsTableFor = 3 * time.Second

// accountsTableTimeout bounds one read of the accounts table by a job.
const accountsTableTimeout = 10 * time.Second

// openAccountsTable opens, at build time, what the per-account work reads
// in database mode: the database (the list; no key needed) and, with
// creds, the accounts Store (credentials: a missing or wrong key is a
// startup error). Nothing in file mode.
func (w *App) openAccountsTable(ctx context.Context, creds bool) error {
	if !w.accountsFromTable() {
		return nil
	}
	if _, err := w.database(ctx); err != nil {
		return fmt.Errorf("KRAITE_ACCOUNTS_SOURCE=database: %w", err)
	}
	if creds {
		if _, err := w.credentialSource(ctx); err != nil {
			return fmt.Errorf("KRAITE_ACCOUNTS_SOURCE=database: the accounts' credentials: %w", err)
		}
	}
	return nil
}

// tableAccounts are the enabled Binance accounts of the accounts table
// (ids only: no secret is read), reused for accountsTableFor. A failed
// read is an error, never the last list: a disabled account loses its jobs.
func (w *App) tableAccounts() ([]userdata.Account, error) {
	w.acctMu.Lock()
	defer w.acctMu.Unlock()
	if w.acctCache != nil && time.Since(w.acctRead) < accountsTableFor {
		return w.acctCache, nil
	}
	if w.db == nil {
		return nil, errors.New("KRAITE_ACCOUNTS_SOURCE=database: the accounts table is not open on this process")
	}
	ctx, cancel := context.WithTimeout(context.Background(), accountsTableTimeout)
	defer cancel()
	out, err := servedTableAccounts(ctx, w.db)
	if err != nil {
		return nil, err
	}
	w.acctCache, w.acctRead = out, time.Now()
	return out, nil
}

// servedTableAccounts are the accounts of the accounts table a box serves:
// the enabled Binance ones (ids and versions; no secret is read). The
// scheduler, the gate and kraite open's prevalidation all read them here.
func servedTableAccounts(ctx context.Context, d *db.DB) ([]userdata.Account, error) {
	list, err := accounts.ListEnabled(ctx, d)
	if err != nil {
		return nil, err
	}
	out := make([]userdata.Account, 0, len(list))
	for _, i := range list {
		if i.Exchange == topics.ExchangeBinance {
			out = append(out, userdata.Account{ID: i.ID, Version: i.Version})
		}
	}
	return out, nil
}

// accountKeys are the intent validator's keys of served (Binance) accounts.
func accountKeys(accts []userdata.Account) []intents.AccountKey {
	out := make([]intents.AccountKey, len(accts))
	for i, a := range accts {
		out[i] = intents.AccountKey{Exchange: topics.ExchangeBinance, Account: a.ID}
	}
	return out
}

// ErrAccountNotServed refuses the credentials of an account this process
// does not serve (unknown, removed or disabled in the accounts table, or
// on another exchange): no retry can fix it, so the job is parked at once.
var ErrAccountNotServed = fmt.Errorf("account not served: %w", worker.ErrPermanent)

// credentials are the API credentials of a served account: in database
// mode read from the accounts table for each call (a disabled or removed
// account is refused at once), otherwise from the account list.
func (w *App) credentials(id string) (binanceapi.Credentials, error) {
	if w.accountsFromTable() {
		return w.tableCredentials(id)
	}
	a, err := w.account(id)
	return a.Creds(), err
}

func (w *App) tableCredentials(id string) (binanceapi.Credentials, error) {
	src := w.Creds
	if src == nil {
		return binanceapi.Credentials{}, fmt.Errorf("account %q: the accounts table is not open on this process (KRAITE_ACCOUNTS_SOURCE=database)", id)
	}
	ctx, cancel := context.WithTimeout(context.Background(), accountsTableTimeout)
	defer cancel()
	c, err := src.Credentials(ctx, id)
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		return binanceapi.Credentials{}, fmt.Errorf("account %q is not in the accounts table: %w", id, ErrAccountNotServed)
	case err != nil:
		return binanceapi.Credentials{}, fmt.Errorf("the credentials of account %q: %w", id, err)
	case !c.Enabled:
		return binanceapi.Credentials{}, fmt.Errorf("account %q is disabled in the accounts table: %w", id, ErrAccountNotServed)
	case c.Exchange != topics.ExchangeBinance:
		return binanceapi.Credentials{}, fmt.Errorf("account %q is on %q in the accounts table, not %s: %w", id, c.Exchange, topics.ExchangeBinance, ErrAccountNotServed)
	}
	return binanceapi.Credentials{APIKey: c.APIKey, APISecret: c.APISecret}, nil
}

func (w *App) account(id string) (userdata.Account, error) {
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

// restClient is the process's one REST client of the jobs: one weight
// budget per IP. It reads the exchange's weight limit before its first call
// and spends only BackgroundBudget of it, leaving the rest to the user-data
// producers' reconnects (binanceapi: Priorities).
func (w *App) restClient() *binanceapi.Client {
	if w.rest == nil {
		w.rest = binanceapi.NewAt(w.Exchange.RESTBase, binanceapi.BackgroundBudget)
	}
	return w.rest
}

// urgentREST is the process's REST client of the calls that cannot wait for
// the next minute window: order placement (the positions worker) and
// listenKey keep-alives. It spends up to binanceapi.StreamBudget of the
// IP's weight, so a sweep or backfill burst at the background share never
// holds a trade or a stream back.
func (w *App) urgentREST() *binanceapi.Client {
	if w.urgent == nil {
		w.urgent = binanceapi.NewAt(w.Exchange.RESTBase, binanceapi.StreamBudget)
	}
	return w.urgent
}

func buildScheduler(ctx context.Context, w *App) (Component, error) {
	if err := w.openAccountsTable(ctx, false); err != nil {
		return Component{}, err
	}
	schedules := w.Jobs.Schedules()
	s, err := scheduler.New(scheduler.Config{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Schedules: schedules, ID: Hostname() + "-scheduler",
		Accounts: func() []string {
			accts, err := w.accountList()
			if err != nil {
				w.Log.Error("listing accounts for the scheduler", "err", err)
			}
			ids := make([]string, len(accts))
			for i, a := range accts {
				ids[i] = a.ID
			}
			return ids
		}}, w.Log.With("component", "scheduler"))
	if err != nil {
		return Component{}, err
	}
	publish, err := w.accountsPublisher(ctx)
	if err != nil {
		return Component{}, err
	}
	if publish == nil {
		return Component{Name: "scheduler", Run: s.Run}, nil
	}
	return Component{Name: "scheduler", Run: func(ctx context.Context) error {
		g, gctx := errgroup.WithContext(ctx)
		g.Go(func() error { return s.Run(gctx) })
		g.Go(func() error { return publish(gctx) })
		return g.Wait()
	}}, nil
}

// accountsPublishEvery is how often the scheduler's box republishes the
// account changes not yet acknowledged on kraite.accounts.
const accountsPublishEvery = 30 * time.Second

// accountsPublisher returns the loop that publishes pending account
// changes to kraite.accounts (accounts.Store.RunPublisher: a change whose
// publication a crash or a broker outage interrupted is repaired without
// waiting for an operator's next kraite accounts command), or nil when no
// accounts key is configured (a box without the accounts table). It runs
// next to the scheduler, on every replica: publishing is under each row's
// lock and only what is pending, so replicas never double or reorder a
// record. A configured key that is malformed or not the table's is an
// error.
func (w *App) accountsPublisher(ctx context.Context) (func(context.Context) error, error) {
	key := w.devKey
	if !key.Valid() {
		var err error
		if key, err = w.AccountsKey.Load(); errors.Is(err, accounts.ErrNoKey) {
			w.Log.Info("no accounts key (KRAITE_ACCOUNTS_KEY or KRAITE_ACCOUNTS_KEY_FILE): pending account changes are not republished from this box")
			return nil, nil
		} else if err != nil {
			return nil, fmt.Errorf("the accounts publisher: %w", err)
		}
	}
	d, err := w.database(ctx)
	if err != nil {
		return nil, fmt.Errorf("the accounts publisher: %w", err)
	}
	cl, err := w.Kafka().Producer(kgo.ClientID(Hostname() + "-accounts-publisher"))
	if err != nil {
		return nil, fmt.Errorf("creating the accounts publisher's producer: %w", err)
	}
	w.closers = append(w.closers, func(context.Context) error { cl.Close(); return nil })
	st, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: w.Log.With("component", "accounts-publisher"),
		Publisher: accounts.KafkaPublisher{Client: cl, Topic: topics.Accounts.Name(w.Common.TopicPrefix)}})
	if err != nil {
		return nil, fmt.Errorf("the accounts publisher: %w", err)
	}
	return func(ctx context.Context) error { return st.RunPublisher(ctx, accountsPublishEvery) }, nil
}

func buildGapWatcher(ctx context.Context, w *App) (Component, error) {
	g := &reconcile.GapWatcher{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Log: w.Log.With("component", "gap-watcher")}
	return Component{Name: "gap-watcher", Run: g.Run}, nil
}

func buildWorker(ctx context.Context, w *App, name string, queue topics.Spec) (Component, error) {
	d, err := w.database(ctx)
	if err != nil {
		return Component{}, err
	}
	if err := w.openAccountsTable(ctx, true); err != nil {
		return Component{}, err
	}
	prod, err := w.Kafka().Producer(kgo.ClientID(name))
	if err != nil {
		return Component{}, fmt.Errorf("creating %s producer: %w", name, err)
	}
	w.closers = append(w.closers, func(ctx context.Context) error { err := prod.Flush(ctx); prod.Close(); return err })
	handlers, err := w.jobHandlers(name, d, prod)
	if err != nil {
		return Component{}, err
	}
	wk, err := worker.New(worker.Config{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Queue: queue,
		Handler: worker.Jobs(handlers), ClientID: Hostname() + "-" + name,
		RetryFor: jobRetryFor, Backoff: jobBackoff}, w.Log.With("component", name))
	if err != nil {
		return Component{}, err
	}
	return Component{Name: name, Run: wk.Run}, nil
}

// A job failing on a dependency (the database restarting, the exchange
// timing out) retries for a minute, backing off to 5 s, before it is parked;
// a permanent failure (a malformed job) is parked after three attempts.
const jobRetryFor = time.Minute

var jobBackoff = backoff.Policy{Base: 100 * time.Millisecond, Cap: 5 * time.Second, Jitter: backoff.DefaultJitter}

// buildPositionsWorker turns allowed opens on the positions queue into
// exchange orders, idempotently by client order id, and keeps the positions
// table from the orders sink's transitions and the exchange's reports.
func buildPositionsWorker(ctx context.Context, w *App) (Component, error) {
	d, err := w.database(ctx)
	if err != nil {
		return Component{}, err
	}
	if err := w.openAccountsTable(ctx, true); err != nil {
		return Component{}, err
	}
	src, err := w.intentValidator(ctx)
	if err != nil {
		return Component{}, err
	}
	prod, err := w.Kafka().Producer(kgo.ClientID(Hostname() + "-positions-rejections"))
	if err != nil {
		return Component{}, fmt.Errorf("creating the positions rejection producer: %w", err)
	}
	w.closers = append(w.closers, func(ctx context.Context) error { err := prod.Flush(ctx); prod.Close(); return err })
	deps := positions.Deps{Rest: w.urgentREST(), Log: w.Log.With("component", "positions-worker"), Book: &positions.Book{DB: d},
		Account: w.credentials, Validator: src, Reject: positions.KafkaRejections(prod, w.Common.TopicPrefix)}
	if err := deps.Validate(); err != nil {
		return Component{}, err
	}
	wk, err := worker.New(worker.Config{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Queue: topics.Positions,
		Handler: positions.Handler(deps), ClientID: Hostname() + "-positions-worker",
		RetryFor: jobRetryFor, Backoff: jobBackoff}, w.Log.With("component", "positions-worker"))
	if err != nil {
		return Component{}, err
	}
	return Component{Name: "positions-worker", Run: wk.Run}, nil
}
