package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/topics"
)

// devFlags are kraite dev's settings; every listen address is configurable.
type devFlags struct {
	dataDir       string
	forDur        time.Duration
	brokerAddr    string
	simAddr       string
	httpAddr      string
	accounts      int
	seed          int64
	orderInterval time.Duration
	markInterval  time.Duration
	syncEvery     time.Duration
	allowlist     string
	weightLimit   int
	without       string
	syncWrites    bool
	sasl          app.BrokerSASL
}

func cmdDev(ctx context.Context, a *cli, args []string) error {
	var f devFlags
	fs := a.newFlags("dev", "dev [--for 60s] [--data-dir ./.kraite] [flags]\n\n"+
		"Runs the whole pipeline in one process on embedded defaults: the Kafka-protocol broker\n"+
		"(kfake, data on disk), the Binance simulator, both WebSocket producers and every other\n"+
		"component built so far. Ctrl-C stops it gracefully; a second start resumes from --data-dir\n"+
		"(the topics, the database and the simulator's exchange state: order ids continue).")
	fs.StringVar(&f.dataDir, "data-dir", ".kraite", "state directory (broker data under DIR/broker, the simulator's exchange state and admin token under DIR/simulator)")
	fs.BoolVar(&f.syncWrites, "sync", false, "fsync every write of the embedded broker (durable across power loss, slower; without it the broker fsyncs when a segment rolls)")
	fs.DurationVar(&f.forDur, "for", 0, "exit by itself after this long (0 = until Ctrl-C)")
	fs.StringVar(&f.brokerAddr, "broker-addr", "127.0.0.1:9092", "embedded broker listen address")
	fs.StringVar(&f.simAddr, "sim-addr", "127.0.0.1:8090", "exchange simulator listen address")
	fs.StringVar(&f.httpAddr, "http-addr", "127.0.0.1:8080", "status page, metrics, /healthz, /readyz")
	fs.IntVar(&f.accounts, "accounts", 3, "simulated accounts")
	fs.Int64Var(&f.seed, "seed", 1, "simulator seed (same seed, same market and order lifecycles)")
	fs.DurationVar(&f.orderInterval, "order-interval", 2*time.Second, "mean time between order events per account")
	fs.DurationVar(&f.markInterval, "mark-interval", time.Second, "mark price push interval")
	fs.IntVar(&f.weightLimit, "rest-weight-limit", 2400, "the simulator's REST weight limit per minute (time-compressed runs raise it with the sync rate)")
	fs.DurationVar(&f.syncEvery, "sync-every", 5*time.Minute, "order sync safety net period per account")
	fs.StringVar(&f.allowlist, "allowlist", "", "initial Binance dispatch allowlist, comma separated execution types (default "+strings.Join(dispatch.DefaultBinanceAllowlist(), ",")+")")
	registerBrokerSASL(fs, &f.sasl)
	fs.StringVar(&f.without, "without", "", "components not to run, comma separated (e.g. orders-sink, to run it as its own process (kraite run --components orders-sink) that a replay can stop)")
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
	if f.forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.forDur)
		defer cancel()
	}
	return runDev(ctx, a, c, f)
}

func runDev(ctx context.Context, a *cli, c app.Common, f devFlags) error {
	users, sec, err := f.sasl.Build(c)
	if err != nil {
		return err
	}
	b, err := broker.Start(broker.Config{Addr: f.brokerAddr, DataDir: filepath.Join(f.dataDir, "broker"), SyncWrites: f.syncWrites,
		NoAutoCreate: true, Logger: a.log, SASL: users})
	if err != nil {
		return err
	}
	defer b.Close()
	kclient.SetDefault(sec) // every in-process client talks to this broker
	c.Brokers = []string{b.Addr()}
	if _, err := ensureTopics(ctx, c); err != nil {
		return fmt.Errorf("applying the topic catalog: %w", err)
	}

	simDir := filepath.Join(f.dataDir, "simulator")
	adminToken, err := simulator.NewAdminToken(filepath.Join(simDir, "admin-token"))
	if err != nil {
		return err
	}
	sim, err := simulator.New(simulator.Config{Seed: f.seed, Accounts: f.accounts,
		OrderInterval: f.orderInterval, MarkPriceInterval: f.markInterval, WeightLimit: f.weightLimit,
		StateFile: filepath.Join(simDir, "state.json"), AdminToken: adminToken,
		Logger: a.log.With("component", "simulator")})
	if err != nil {
		return err
	}
	simLn, err := net.Listen("tcp", f.simAddr)
	if err != nil {
		return fmt.Errorf("listening for the simulator on %s: %w", f.simAddr, err)
	}
	httpLn, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		simLn.Close()
		return fmt.Errorf("listening for ops http on %s: %w", f.httpAddr, err)
	}

	dbURL, err := devDatabaseURL(a.cfg.Exchange.DatabaseURL, f.dataDir)
	if err != nil {
		simLn.Close()
		httpLn.Close()
		return err
	}
	w := app.New(a.cfg, a.log)
	w.Common = c
	w.Exchange = app.Exchange{RESTBase: "http://" + simLn.Addr().String(), WSBase: "ws://" + simLn.Addr().String(),
		DatabaseURL: dbURL, StateDir: filepath.Join(f.dataDir, "state")}
	// Time-driven work: the environment's, with the sweep period from the flag.
	w.Jobs = w.Jobs.WithSweep(f.syncEvery, 30*time.Minute)
	if f.allowlist != "" {
		w.Allowlist = app.SplitList(f.allowlist)
	}
	if err := w.SeedSimulatorDatabase(ctx, sim.ExchangeInfo()); err != nil {
		simLn.Close()
		httpLn.Close()
		return err
	}
	for _, acct := range sim.Accounts() {
		w.Accounts = append(w.Accounts, userdata.Account{ID: acct.ID, APIKey: acct.APIKey, APISecret: acct.APISecret})
	}
	// The accounts table is the source of truth (issue 15): seed it with
	// the simulator's accounts and publish them to kraite.accounts; the
	// user-data producer streams them as the one member of the
	// producer.user-data group (KRAITE_ACCOUNTS_SOURCE=database), with
	// the credentials read back from the table.
	keyFrom, err := w.SeedSimulatorAccounts(ctx, f.dataDir, w.Accounts)
	if err != nil {
		simLn.Close()
		httpLn.Close()
		return err
	}
	w.Exchange.AccountsSource, w.Exchange.HandOverGrace = app.AccountsSourceDatabase, time.Second // no other producer to hand over to
	names, err := app.Without(app.ComponentNames(), app.SplitList(f.without))
	if err != nil {
		simLn.Close()
		httpLn.Close()
		return fmt.Errorf("--without: %w", err)
	}
	comps, err := w.Components(ctx, names)
	if err == nil {
		var page app.Component
		page, err = w.StatusPage("kraite dev")
		comps = append(comps, page)
	}
	if err != nil {
		simLn.Close()
		httpLn.Close()
		return err
	}
	printDevBanner(a, c.TopicPrefix, b.Addr(), simLn.Addr().String(), httpLn.Addr().String(), dbURL, f, sim)
	fmt.Fprintf(a.stdout, "  accounts   %d in the accounts table and on %s (key %s)\n\n", len(w.Accounts), topics.Accounts.Name(c.TopicPrefix), keyFrom)
	fmt.Fprint(a.stdout, app.SASLHint(users, sec))

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sim.Serve(gctx, simLn) })
	g.Go(func() error { return w.Ops.Serve(gctx, httpLn) })
	g.Go(func() error { return w.Run(gctx, comps) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	a.log.Info("kraite dev stopped", "data_dir", f.dataDir)
	return err
}

// devDatabaseURL is url (KRAITE_DATABASE_URL), or SQLite in the data dir.
func devDatabaseURL(url, dataDir string) (string, error) {
	if url != "" {
		return url, nil
	}
	abs, err := filepath.Abs(filepath.Join(dataDir, "kraite.db"))
	if err != nil {
		return "", fmt.Errorf("resolving the data dir: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", fmt.Errorf("creating the data dir: %w", err)
	}
	return "sqlite://" + abs, nil
}

func printDevBanner(a *cli, prefix, brokerAddr, simAddr, httpAddr, dbURL string, f devFlags, sim *simulator.Simulator) {
	abs, _ := filepath.Abs(f.dataDir)
	fmt.Fprintf(a.stdout, `kraite dev is running (Ctrl-C to stop%s).

  broker     %s   (data in %s)
  simulator  http://%s  ws://%s  (%d accounts, seed %d; state in %s)
  sim admin  curl -H "Authorization: Bearer $(cat %s)" http://%s/admin/accounts
  ops        http://%s/metrics  /healthz  /readyz
  status     http://%s/   (live status page)
  database   %s

Inspect it with rpk:
  rpk -X brokers=%s topic list
  rpk -X brokers=%s topic consume %s -f '%%k %%v\n'
  rpk -X brokers=%s topic consume %s -n 1
  rpk -X brokers=%s group list

`, forNote(f.forDur), brokerAddr, abs, simAddr, simAddr, len(sim.Accounts()), f.seed, filepath.Join(abs, "simulator"),
		filepath.Join(abs, "simulator", "admin-token"), simAddr, httpAddr, httpAddr, db.MaskURL(dbURL), brokerAddr, brokerAddr, topics.UserDataStream.Name(prefix), brokerAddr, topics.MarkPrice.Name(prefix), brokerAddr)
	for _, acct := range sim.Accounts() {
		fmt.Fprintf(a.stdout, "  account %s  api key %s\n", acct.ID, binanceapi.Mask(acct.APIKey))
	}
	fmt.Fprintln(a.stdout)
}

func forNote(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf(", or after %s", d)
}
