package main

import (
	"context"
	"strings"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

func cmdAllowlist(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("allowlist", "allowlist get <exchange> | set <exchange> [TYPE...] | reset <exchange>\n\n"+
		"  get    print the dispatch allowlist the running processors use\n"+
		"  set    replace it (no TYPE = shadow mode: nothing dispatched, everything audited);\n"+
		"         takes effect on the next record, without a restart\n"+
		"  reset  set it back to the built-in default of the exchange\n\n"+
		"Exchanges: "+strings.Join(app.AllowlistExchanges(), " ")+"\n"+
		"Types: "+strings.Join(app.ExecutionTypes(), " ")+"\n\n"+
		"An unknown type is refused here and by dispatch (a record dispatch cannot read is\n"+
		"quarantined and the last good list stays), so there is no way to set one.")
	by := fs.String("by", app.Hostname(), "who made the change (recorded with it)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "get", "set", "reset":
	case "":
		return cli.Usagef(fs, "allowlist needs a subcommand and an exchange")
	default:
		return cli.Usagef(fs, "unknown allowlist subcommand %q", fs.Arg(0))
	}
	if fs.NArg() < 2 {
		return cli.Usagef(fs, "allowlist needs a subcommand and an exchange")
	}
	exchange := fs.Arg(1)
	def, known := app.DefaultAllowlist(exchange)
	if !known {
		return cli.Usagef(fs, "unknown exchange %q: dispatch has allowlists for %s", exchange, strings.Join(app.AllowlistExchanges(), ", "))
	}
	switch fs.Arg(0) {
	case "get":
		if err := cli.NoArgs(fs, 2); err != nil {
			return err
		}
	case "set":
		if err := app.CheckExecutionTypes(fs.Args()[2:]); err != nil {
			return cli.UsageErr(fs.Name(), err)
		}
	case "reset":
		if fs.NArg() > 2 {
			return cli.Usagef(fs, "allowlist reset takes only the exchange (got %q)", fs.Args()[2:])
		}
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "get":
		return app.ShowAllowlist(ctx, c, exchange, a.stdout)
	case "set":
		return app.SetAllowlist(ctx, c, exchange, fs.Args()[2:], *by, a.stdout)
	default: // reset
		return app.SetAllowlist(ctx, c, exchange, def, *by, a.stdout)
	}
}
