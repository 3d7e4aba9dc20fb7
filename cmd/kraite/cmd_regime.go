package main

import (
	"context"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/topics"
)

func cmdRegime(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("regime", "regime status [--exchange binance] | override allow|block|clear --for 1h --reason \"...\"\n\n"+
		"  status    score, band, gate, cooldown, override and inputs from the regime table\n"+
		"  override  allow or block new opens for a while (beats the cooldown), or clear;\n"+
		"            recorded on the regime-overrides topic, expires by itself")
	exchange := fs.String("exchange", topics.ExchangeBinance, "exchange whose regime to show")
	var r app.OverrideRequest
	fs.DurationVar(&r.For, "for", time.Hour, "how long the override lasts")
	fs.StringVar(&r.Reason, "reason", "", "why (required for allow and block; recorded)")
	fs.StringVar(&r.By, "by", app.Hostname(), "who made the override (recorded)")
	// Flags may follow the subcommand and the action: regime override allow --for 1h --reason x.
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "status":
		if err := cli.NoArgs(fs, 1); err != nil {
			return err
		}
	case "override":
		r.Action = fs.Arg(1)
		if err := r.Validate(); err != nil {
			return cli.UsageErr(fs.Name(), err)
		}
		if err := cli.NoArgs(fs, 2); err != nil {
			return err
		}
	case "":
		return cli.Usagef(fs, "regime needs a subcommand: status or override")
	default:
		return cli.Usagef(fs, "unknown regime subcommand %q: status or override", fs.Arg(0))
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	if fs.Arg(0) == "status" {
		return app.ShowRegime(ctx, c, *exchange, a.stdout)
	}
	return app.Override(ctx, c, r, a.stdout)
}
