package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
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
	if _, err := a.start(fs, args); err != nil {
		return err
	}
	return app.RunSimulator(ctx, e, a.log, a.stdout)
}
