package main

import (
	"context"
	"strings"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

func cmdRun(ctx context.Context, a *kraite, args []string) error {
	r := app.RunRequest{HTTPAddr: a.cfg.Exchange.HTTPAddr}
	roleNames := strings.Join(app.RoleNames(), ", ")
	fs := a.newFlags("run", "run --role athena|eos|iris|nyx|tyche | --components a,b,...\n\n"+
		"Starts the components of one box against KRAITE_BROKERS and the exchange in\n"+
		"KRAITE_BINANCE_REST_URL / KRAITE_BINANCE_WS_URL; accounts come from KRAITE_ACCOUNTS_FILE\n"+
		"(a JSON list of {\"id\",\"api_key\",\"api_secret\"}, re-read while running).\n"+
		"Components: "+strings.Join(app.ComponentNames(), ", ")+"\nRoles: "+roleNames)
	fs.StringVar(&r.Role, "role", "", "box to run: "+roleNames)
	fs.StringVar(&r.Components, "components", "", "comma-separated components to run instead of a role")
	fs.StringVar(&r.HTTPAddr, "http-addr", r.HTTPAddr, "status page, metrics, /healthz and /readyz (env KRAITE_HTTP_ADDR)")
	if _, err := a.start(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return app.Run(ctx, a.cfg, a.log, r)
}
