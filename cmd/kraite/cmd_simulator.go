package main

import (
	"context"
	"fmt"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/cli"
)

// cmdSimulator runs the Binance USD-M exchange simulator until ctx ends.
func cmdSimulator(ctx context.Context, a *kraite, args []string) error {
	e := a.cfg.Simulator
	fs := a.newFlags("simulator", "simulator [flags]\n\n"+
		"Serves a Binance USD-M compatible exchange (REST + WebSocket) that trades against\n"+
		"itself deterministically from a seed. Its exchange state (accounts, orders, positions,\n"+
		"id sequences) is kept in --data-dir, so a restart continues where it stopped.\n"+
		"The admin API (faults: POST /admin/fault; the accounts as an accounts file with their\n"+
		"secrets: GET /admin/accounts) needs \"Authorization: Bearer <token>\": the token is\n"+
		"KRAITE_SIM_ADMIN_TOKEN, or one generated into DATA_DIR/admin-token. It listens on\n"+
		"loopback only and answers loopback clients only, unless --allow-remote.")
	fs.StringVar(&e.Addr, "addr", e.Addr, "listen address (env KRAITE_SIM_ADDR)")
	fs.Int64Var(&e.Seed, "seed", e.Seed, "seed of markets, accounts and order lifecycles (env KRAITE_SIM_SEED)")
	fs.IntVar(&e.Accounts, "accounts", e.Accounts, "number of accounts (env KRAITE_SIM_ACCOUNTS)")
	fs.DurationVar(&e.OrderInterval, "order-interval", e.OrderInterval, "mean gap between lifecycle steps per account; negative = never (env KRAITE_SIM_ORDER_INTERVAL)")
	fs.DurationVar(&e.MarkInterval, "mark-interval", e.MarkInterval, "mark price push interval (env KRAITE_SIM_MARK_INTERVAL)")
	fs.StringVar(&e.DataDir, "data-dir", e.DataDir, "exchange state and generated admin token; '' keeps nothing (env KRAITE_SIM_DATA_DIR)")
	fs.BoolVar(&e.AllowRemote, "allow-remote", e.AllowRemote, "listen on a non-loopback address and answer admin calls from other hosts (with the token) (env KRAITE_SIM_ALLOW_REMOTE)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
		return err
	}
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	sim, err := simulator.Listen(simulator.StandaloneConfig{Addr: e.Addr, Seed: e.Seed, Accounts: e.Accounts,
		OrderInterval: e.OrderInterval, MarkInterval: e.MarkInterval, DataDir: e.DataDir, AdminToken: e.AdminToken,
		AllowRemote: e.AllowRemote, Logger: a.log.With("component", "simulator")})
	if err != nil {
		return err
	}
	printSimulatorBanner(a, e, sim)
	return sim.Serve(ctx)
}

func printSimulatorBanner(a *kraite, e app.Simulator, sim *simulator.Standalone) {
	state := "none kept (--data-dir '')"
	if f := sim.StateFile; f != "" {
		state = f
	}
	fmt.Fprintf(a.stdout, `kraite simulator is running (Ctrl-C to stop): seed %d, %d accounts, state %s.

  REST base      http://%[4]s
  WS base        ws://%[4]s
  user data      ws://%[4]s/private/ws?listenKey=<key from POST /fapi/v1/listenKey>
  mark price     ws://%[4]s/market/ws/!markPrice@arr@1s
  faults         curl -H "Authorization: Bearer %[5]s" -X POST http://%[4]s/admin/fault -d '{"fault":"drop","account":"acct-0001"}'
  accounts file  curl -H "Authorization: Bearer %[5]s" http://%[4]s/admin/accounts > accounts.json   (KRAITE_ACCOUNTS_FILE; with secrets)

`, e.Seed, len(sim.Accounts()), state, sim.Addr, sim.TokenHint)
	for _, acct := range sim.Accounts() {
		fmt.Fprintf(a.stdout, "  %s  api key %s\n", acct.ID, binanceapi.Mask(acct.APIKey))
	}
	fmt.Fprintln(a.stdout)
}
