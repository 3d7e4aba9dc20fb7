package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/kraite/stream/internal/simulator"
)

// simulatorEnv is the environment of `kraite simulator`; flags override it.
type simulatorEnv struct {
	Addr          string        `env:"KRAITE_SIM_ADDR" envDefault:"127.0.0.1:8090"`
	Seed          int64         `env:"KRAITE_SIM_SEED" envDefault:"1"`
	Accounts      int           `env:"KRAITE_SIM_ACCOUNTS" envDefault:"3"`
	OrderInterval time.Duration `env:"KRAITE_SIM_ORDER_INTERVAL" envDefault:"2s"`
	MarkInterval  time.Duration `env:"KRAITE_SIM_MARK_INTERVAL" envDefault:"1s"`
}

// cmdSimulator runs the Binance USD-M exchange simulator until ctx ends.
func cmdSimulator(ctx context.Context, a *app, args []string) error {
	var e simulatorEnv
	if err := loadEnv(&e); err != nil {
		return err
	}
	fs := a.newFlags("simulator", "simulator [flags]\n\n"+
		"Serves a Binance USD-M compatible exchange (REST + WebSocket) that trades against\n"+
		"itself deterministically from a seed. Faults: POST /admin/fault; accounts with\n"+
		"their secrets: GET /admin/accounts.")
	fs.StringVar(&e.Addr, "addr", e.Addr, "listen address (env KRAITE_SIM_ADDR)")
	fs.Int64Var(&e.Seed, "seed", e.Seed, "seed of markets, accounts and order lifecycles (env KRAITE_SIM_SEED)")
	fs.IntVar(&e.Accounts, "accounts", e.Accounts, "number of accounts (env KRAITE_SIM_ACCOUNTS)")
	fs.DurationVar(&e.OrderInterval, "order-interval", e.OrderInterval, "mean gap between lifecycle steps per account; negative = never (env KRAITE_SIM_ORDER_INTERVAL)")
	fs.DurationVar(&e.MarkInterval, "mark-interval", e.MarkInterval, "mark price push interval (env KRAITE_SIM_MARK_INTERVAL)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	if e.Accounts < 1 {
		return fmt.Errorf("--accounts: %d must be at least 1", e.Accounts)
	}
	if e.MarkInterval <= 0 {
		return fmt.Errorf("--mark-interval: %v must be positive", e.MarkInterval)
	}
	orderInterval := e.OrderInterval
	if orderInterval == 0 {
		orderInterval = -1 // 0 on the command line means never, not the default
	}
	sim, err := simulator.New(simulator.Config{
		Seed: e.Seed, Accounts: e.Accounts, OrderInterval: orderInterval, MarkPriceInterval: e.MarkInterval,
		Logger: a.log.With("component", "simulator"),
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.Addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", e.Addr, err)
	}
	printSimulatorBanner(a, ln.Addr().String(), e, sim)
	err = sim.Serve(ctx, ln)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}

func printSimulatorBanner(a *app, addr string, e simulatorEnv, sim *simulator.Simulator) {
	fmt.Fprintf(a.stdout, `kraite simulator is running (Ctrl-C to stop): seed %d, %d accounts.

  REST base   http://%[3]s
  WS base     ws://%[3]s
  user data   ws://%[3]s/private/ws?listenKey=<key from POST /fapi/v1/listenKey>
  mark price  ws://%[3]s/market/ws/!markPrice@arr@1s
  faults      curl -X POST http://%[3]s/admin/fault -d '{"fault":"drop","account":"acct-0001"}'
  secrets     curl http://%[3]s/admin/accounts

`, e.Seed, e.Accounts, addr)
	for _, acct := range sim.Accounts() {
		fmt.Fprintf(a.stdout, "  %s  api key %s  secret %s\n", acct.ID, acct.APIKey, maskLast4(acct.APISecret))
	}
	fmt.Fprintln(a.stdout)
}

// maskLast4 hides a secret except its last four characters.
func maskLast4(secret string) string {
	if len(secret) <= 4 {
		return "****"
	}
	return "****" + secret[len(secret)-4:]
}
