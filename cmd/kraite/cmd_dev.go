package main

import (
	"context"
	"strings"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/topics"
)

func cmdDev(ctx context.Context, a *kraite, args []string) error {
	var d app.Dev
	binanceDefault, _ := app.DefaultAllowlist(topics.ExchangeBinance)
	fs := a.newFlags("dev", "dev [--for 60s] [--data-dir ./.kraite] [flags]\n\n"+
		"Runs the whole pipeline in one process on embedded defaults: the Kafka-protocol broker\n"+
		"(kfake, data on disk), the Binance simulator, both WebSocket producers and every other\n"+
		"component built so far. Ctrl-C stops it gracefully; a second start resumes from --data-dir\n"+
		"(the topics, the database and the simulator's exchange state: order ids continue).")
	fs.StringVar(&d.DataDir, "data-dir", ".kraite", "state directory (broker data under DIR/broker, the simulator's exchange state and admin token under DIR/simulator)")
	fs.BoolVar(&d.SyncWrites, "sync", false, "fsync every write of the embedded broker (durable across power loss, slower; without it the broker fsyncs when a segment rolls)")
	forDur := fs.Duration("for", 0, "exit by itself after this long (0 = until Ctrl-C)")
	fs.StringVar(&d.BrokerAddr, "broker-addr", "127.0.0.1:9092", "embedded broker listen address")
	fs.StringVar(&d.SimAddr, "sim-addr", "127.0.0.1:8090", "exchange simulator listen address")
	fs.StringVar(&d.HTTPAddr, "http-addr", "127.0.0.1:8080", "status page, metrics, /healthz, /readyz")
	fs.IntVar(&d.Accounts, "accounts", 3, "simulated accounts")
	fs.Int64Var(&d.Seed, "seed", 1, "simulator seed (same seed, same market and order lifecycles)")
	fs.DurationVar(&d.OrderInterval, "order-interval", 2*time.Second, "mean time between order events per account")
	fs.DurationVar(&d.MarkInterval, "mark-interval", time.Second, "mark price push interval")
	fs.IntVar(&d.WeightLimit, "rest-weight-limit", 2400, "the simulator's REST weight limit per minute (time-compressed runs raise it with the sync rate)")
	fs.DurationVar(&d.SyncEvery, "sync-every", 5*time.Minute, "order sync safety net period per account")
	allowlist := fs.String("allowlist", "", "initial Binance dispatch allowlist, comma separated execution types (default "+strings.Join(binanceDefault, ",")+")")
	registerBrokerSASL(fs, &d.SASL)
	without := fs.String("without", "", "components not to run, comma separated (e.g. orders-sink, to run it as its own process (kraite run --components orders-sink) that a replay can stop)")
	if _, err := a.start(fs, args); err != nil {
		return err
	}
	d.Allowlist, d.Without = app.SplitList(*allowlist), app.SplitList(*without)
	return app.Develop(ctx, a.cfg, a.log, d, *forDur, a.stdout)
}
