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
	var r app.AllowlistRequest
	fs.StringVar(&r.By, "by", app.Hostname(), "who made the change (recorded with it)")
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
	r.Sub, r.Exchange, r.Types = fs.Arg(0), fs.Arg(1), fs.Args()[2:]
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	return app.Allowlist(ctx, c, r, a.stdout)
}
