package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/topics"
)

func cmdAllowlist(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("allowlist", "allowlist get <exchange> | set <exchange> [TYPE...] | reset <exchange>\n\n"+
		"  get    print the dispatch allowlist the running processors use\n"+
		"  set    replace it (no TYPE = shadow mode: nothing dispatched, everything audited);\n"+
		"         takes effect on the next record, without a restart\n"+
		"  reset  set it back to the built-in default of the exchange\n\n"+
		"Exchanges: "+strings.Join(cli.SortedKeys(dispatch.DefaultAllowlists()), " ")+"\n"+
		"Types: "+strings.Join(binance.ExecutionTypes(), " ")+"\n\n"+
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
	if _, ok := dispatch.DefaultAllowlists()[exchange]; !ok {
		return cli.Usagef(fs, "unknown exchange %q: dispatch has allowlists for %s", exchange,
			strings.Join(cli.SortedKeys(dispatch.DefaultAllowlists()), ", "))
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
		return allowlistGet(ctx, a, c, exchange)
	case "set":
		return allowlistSet(ctx, a, c, exchange, fs.Args()[2:], *by)
	default: // reset
		return allowlistSet(ctx, a, c, exchange, dispatch.DefaultAllowlists()[exchange], *by)
	}
}

func allowlistGet(ctx context.Context, a *kraite, c app.Common, exchange string) error {
	v, isDefault, err := app.AllowlistGet(ctx, c, exchange)
	if err != nil {
		return err
	}
	if isDefault {
		fmt.Fprintf(a.stdout, "%s: %s (configured default; nothing set on %s)\n", exchange, strings.Join(v.Types, " "), topics.Allowlist.Name(c.TopicPrefix))
		return nil
	}
	printAllowlist(a, v)
	return nil
}

func printAllowlist(a *kraite, v topics.AllowlistValue) {
	list := strings.Join(v.Types, " ")
	if len(v.Types) == 0 {
		list = "(empty: shadow mode, nothing dispatched)"
	}
	fmt.Fprintf(a.stdout, "%s: %s (set %s by %s)\n", v.Exchange, list,
		time.UnixMilli(v.UpdatedMs).UTC().Format(time.RFC3339), v.By)
}

func allowlistSet(ctx context.Context, a *kraite, c app.Common, exchange string, types []string, by string) error {
	v, err := app.AllowlistSet(ctx, c, exchange, types, by, time.Now())
	if err != nil {
		return err
	}
	printAllowlist(a, v)
	return nil
}
