package main

import (
	"context"
	"strings"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

func cmdRun(ctx context.Context, a *kraite, args []string) error {
	ex := a.cfg.Exchange
	roleNames := app.RoleNames()
	fs := a.newFlags("run", "run --role athena|eos|iris|nyx|tyche | --components a,b,...\n\n"+
		"Starts the components of one box against KRAITE_BROKERS and the exchange in\n"+
		"KRAITE_BINANCE_REST_URL / KRAITE_BINANCE_WS_URL; accounts come from KRAITE_ACCOUNTS_FILE\n"+
		"(a JSON list of {\"id\",\"api_key\",\"api_secret\"}, re-read while running).\n"+
		"Components: "+strings.Join(app.ComponentNames(), ", ")+"\nRoles: "+strings.Join(roleNames, ", "))
	role := fs.String("role", "", "box to run: "+strings.Join(roleNames, ", "))
	comps := fs.String("components", "", "comma-separated components to run instead of a role")
	fs.StringVar(&ex.HTTPAddr, "http-addr", ex.HTTPAddr, "status page, metrics, /healthz and /readyz (env KRAITE_HTTP_ADDR)")
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
	var names []string
	switch {
	case *role != "" && *comps != "":
		return cli.Usagef(fs, "give --role or --components, not both")
	case *role != "":
		var ok bool
		if names, ok = app.RoleComponents(*role); !ok {
			return cli.Usagef(fs, "unknown role %q (roles: %s)", *role, strings.Join(roleNames, ", "))
		}
	case *comps != "":
		names = app.SplitList(*comps)
	default:
		return cli.Usagef(fs, "give --role or --components")
	}
	w := app.New(a.cfg, a.log)
	w.Common, w.Exchange = c, ex
	return w.RunBox(ctx, names, app.RunProcessName(*role, names))
}
