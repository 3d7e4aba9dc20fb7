package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/topics"
)

// Dev is what `kraite dev` runs: every listen address, the data directory
// and the simulator's settings.
type Dev struct {
	DataDir       string
	BrokerAddr    string
	SimAddr       string
	HTTPAddr      string
	Accounts      int
	Seed          int64
	OrderInterval time.Duration
	MarkInterval  time.Duration
	SyncEvery     time.Duration // order-sync sweep period per account
	Allowlist     []string      // initial Binance allowlist (nil: the default)
	WeightLimit   int           // the simulator's REST weight per minute
	Without       []string      // components not to run
	SyncWrites    bool          // fsync every write of the broker
	SASL          BrokerSASL
}

// DevStarted is what a started kraite dev tells the person running it.
type DevStarted struct {
	Broker, Sim, HTTP string // listen addresses
	DatabaseURL       string // unmasked: mask it to print it
	Accounts          []simulator.Account
	KeyFrom           string // where the accounts table's key came from
	SASLHint          string // how to reach a SASL broker ("" without)
}

// RunDev runs the whole pipeline in one process until ctx ends: the
// embedded broker (data in DataDir/broker), the simulator (its exchange in
// DataDir/simulator), every component but d.Without on the database of
// cfg (or SQLite in DataDir), with the accounts table seeded from the
// simulator's accounts. started is called once everything is built,
// before it runs (the banner).
func RunDev(ctx context.Context, cfg *Config, log *slog.Logger, d Dev, started func(DevStarted)) error {
	c := cfg.Common
	users, sec, err := d.SASL.Build(c)
	if err != nil {
		return err
	}
	b, err := broker.Start(broker.Config{Addr: d.BrokerAddr, DataDir: filepath.Join(d.DataDir, "broker"), SyncWrites: d.SyncWrites,
		NoAutoCreate: true, Logger: log, SASL: users})
	if err != nil {
		return err
	}
	defer b.Close()
	kclient.SetDefault(sec) // every in-process client talks to this broker
	c.Brokers = []string{b.Addr()}
	if _, err := EnsureTopics(ctx, c); err != nil {
		return fmt.Errorf("applying the topic catalog: %w", err)
	}

	simDir := filepath.Join(d.DataDir, "simulator")
	adminToken, err := simulator.NewAdminToken(filepath.Join(simDir, "admin-token"))
	if err != nil {
		return err
	}
	sim, err := simulator.New(simulator.Config{Seed: d.Seed, Accounts: d.Accounts,
		OrderInterval: d.OrderInterval, MarkPriceInterval: d.MarkInterval, WeightLimit: d.WeightLimit,
		StateFile: filepath.Join(simDir, "state.json"), AdminToken: adminToken,
		Logger: log.With("component", "simulator")})
	if err != nil {
		return err
	}
	simLn, err := net.Listen("tcp", d.SimAddr)
	if err != nil {
		return fmt.Errorf("listening for the simulator on %s: %w", d.SimAddr, err)
	}
	httpLn, err := net.Listen("tcp", d.HTTPAddr)
	if err != nil {
		simLn.Close()
		return fmt.Errorf("listening for ops http on %s: %w", d.HTTPAddr, err)
	}
	w, comps, info, err := buildDev(ctx, cfg, log, d, c, sim, simLn.Addr().String())
	if err != nil {
		simLn.Close()
		httpLn.Close()
		return err
	}
	info.Broker, info.HTTP, info.SASLHint = b.Addr(), httpLn.Addr().String(), SASLHint(users, sec)
	started(info)

	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return sim.Serve(gctx, simLn) })
	g.Go(func() error { return w.Ops.Serve(gctx, httpLn) })
	g.Go(func() error { return w.Run(gctx, comps) })
	err = g.Wait()
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		err = nil
	}
	log.Info("kraite dev stopped", "data_dir", d.DataDir)
	return err
}

// buildDev builds the App of kraite dev on the simulator at simAddr: its
// database seeded with the symbols, the simulator's rules and accounts, and
// every component but d.Without.
func buildDev(ctx context.Context, cfg *Config, log *slog.Logger, d Dev, c Common, sim *simulator.Simulator, simAddr string) (*App, []Component, DevStarted, error) {
	var st DevStarted
	dbURL, err := devDatabaseURL(cfg.Exchange.DatabaseURL, d.DataDir)
	if err != nil {
		return nil, nil, st, err
	}
	w := New(cfg, log)
	w.Common = c
	w.Exchange = Exchange{RESTBase: "http://" + simAddr, WSBase: "ws://" + simAddr, DatabaseURL: dbURL, StateDir: filepath.Join(d.DataDir, "state")}
	// Time-driven work: the environment's, with the sweep period of kraite dev.
	w.Jobs = w.Jobs.WithSweep(d.SyncEvery, 30*time.Minute)
	w.Allowlist = d.Allowlist
	if err := w.SeedSimulatorDatabase(ctx, sim.ExchangeInfo()); err != nil {
		return nil, nil, st, err
	}
	for _, acct := range sim.Accounts() {
		w.Accounts = append(w.Accounts, userdata.Account{ID: acct.ID, APIKey: acct.APIKey, APISecret: acct.APISecret})
	}
	// The accounts table is the source of truth (issue 15): seed it with
	// the simulator's accounts and publish them to kraite.accounts; the
	// user-data producer streams them as the one member of the
	// producer.user-data group (KRAITE_ACCOUNTS_SOURCE=database), with
	// the credentials read back from the table.
	keyFrom, err := w.SeedSimulatorAccounts(ctx, d.DataDir, w.Accounts)
	if err != nil {
		return nil, nil, st, err
	}
	w.Exchange.AccountsSource, w.Exchange.HandOverGrace = AccountsSourceDatabase, time.Second // no other producer to hand over to
	names, err := Without(ComponentNames(), d.Without)
	if err != nil {
		return nil, nil, st, fmt.Errorf("--without: %w", err)
	}
	comps, err := w.Components(ctx, names)
	if err != nil {
		return nil, nil, st, err
	}
	page, err := w.StatusPage("kraite dev")
	if err != nil {
		return nil, nil, st, err
	}
	return w, append(comps, page), DevStarted{Sim: simAddr, DatabaseURL: dbURL, Accounts: sim.Accounts(), KeyFrom: keyFrom}, nil
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

// Develop is `kraite dev`: RunDev, stopping by itself after forDur (0:
// when ctx ends), with the banner (addresses, rpk recipes, accounts) on w
// once everything is built.
func Develop(ctx context.Context, cfg *Config, log *slog.Logger, d Dev, forDur time.Duration, w io.Writer) error {
	if forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, forDur)
		defer cancel()
	}
	prefix := cfg.TopicPrefix
	return RunDev(ctx, cfg, log, d, func(st DevStarted) {
		writeDevBanner(w, prefix, st, d, forDur)
		fmt.Fprintf(w, "  accounts   %d in the accounts table and on %s (key %s)\n\n", len(st.Accounts), topics.Accounts.Name(prefix), st.KeyFrom)
		fmt.Fprint(w, st.SASLHint)
	})
}

func writeDevBanner(w io.Writer, prefix string, st DevStarted, d Dev, forDur time.Duration) {
	brokerAddr, simAddr, httpAddr := st.Broker, st.Sim, st.HTTP
	abs, _ := filepath.Abs(d.DataDir)
	fmt.Fprintf(w, `kraite dev is running (Ctrl-C to stop%s).

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

`, forNote(forDur), brokerAddr, abs, simAddr, simAddr, len(st.Accounts), d.Seed, filepath.Join(abs, "simulator"),
		filepath.Join(abs, "simulator", "admin-token"), simAddr, httpAddr, httpAddr, db.MaskURL(st.DatabaseURL), brokerAddr, brokerAddr, topics.UserDataStream.Name(prefix), brokerAddr, topics.MarkPrice.Name(prefix), brokerAddr)
	for _, acct := range st.Accounts {
		fmt.Fprintf(w, "  account %s  api key %s\n", acct.ID, binanceapi.Mask(acct.APIKey))
	}
	fmt.Fprintln(w)
}

func forNote(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf(", or after %s", d)
}
