package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/processors/dispatch"
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

func cmdDev(ctx context.Context, a *kraite, args []string) error {
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
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
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
	d := app.Dev{DataDir: f.dataDir, BrokerAddr: f.brokerAddr, SimAddr: f.simAddr, HTTPAddr: f.httpAddr, Accounts: f.accounts,
		Seed: f.seed, OrderInterval: f.orderInterval, MarkInterval: f.markInterval, SyncEvery: f.syncEvery,
		Allowlist: app.SplitList(f.allowlist), WeightLimit: f.weightLimit, Without: app.SplitList(f.without),
		SyncWrites: f.syncWrites, SASL: f.sasl}
	return app.RunDev(ctx, a.cfg, a.log, d, func(st app.DevStarted) {
		printDevBanner(a, c.TopicPrefix, st, f)
		fmt.Fprintf(a.stdout, "  accounts   %d in the accounts table and on %s (key %s)\n\n", len(st.Accounts), topics.Accounts.Name(c.TopicPrefix), st.KeyFrom)
		fmt.Fprint(a.stdout, st.SASLHint)
	})
}

func printDevBanner(a *kraite, prefix string, st app.DevStarted, f devFlags) {
	brokerAddr, simAddr, httpAddr := st.Broker, st.Sim, st.HTTP
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

`, forNote(f.forDur), brokerAddr, abs, simAddr, simAddr, len(st.Accounts), f.seed, filepath.Join(abs, "simulator"),
		filepath.Join(abs, "simulator", "admin-token"), simAddr, httpAddr, httpAddr, db.MaskURL(st.DatabaseURL), brokerAddr, brokerAddr, topics.UserDataStream.Name(prefix), brokerAddr, topics.MarkPrice.Name(prefix), brokerAddr)
	for _, acct := range st.Accounts {
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
