package main

import (
	"context"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

func cmdRegime(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("regime", "regime status [--exchange binance] | override allow|block|clear --for 1h --reason \"...\"\n\n"+
		"  status    score, band, gate, cooldown, override and inputs from the regime table\n"+
		"  override  allow or block new opens for a while (beats the cooldown), or clear;\n"+
		"            recorded on the regime-overrides topic, expires by itself")
	exchange := fs.String("exchange", topics.ExchangeBinance, "exchange whose regime to show")
	dur := fs.Duration("for", time.Hour, "how long the override lasts")
	reason := fs.String("reason", "", "why (required for allow and block; recorded)")
	by := fs.String("by", app.Hostname(), "who made the override (recorded)")
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
		if fs.NArg() < 2 {
			return cli.Usagef(fs, "override needs an action: allow, block or clear")
		}
		switch fs.Arg(1) {
		case "allow", "block", "clear":
		default:
			return cli.Usagef(fs, "unknown override action %q (allow, block or clear)", fs.Arg(1))
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
		return regimeStatus(ctx, a, c, *exchange)
	}
	return regimeOverride(ctx, a, c, fs.Arg(1), *dur, *reason, *by)
}

func regimeOverride(ctx context.Context, a *kraite, c app.Common, action string, dur time.Duration, reason, by string) error {
	ov, err := app.RegimeOverride(ctx, c, action, dur, reason, by, time.Now())
	if err != nil {
		return err
	}
	if action == "clear" {
		fmt.Fprintln(a.stdout, "override cleared")
		return nil
	}
	fmt.Fprintf(a.stdout, "override %s until %s: %s\n", action, time.UnixMilli(ov.UntilMs).UTC().Format(time.RFC3339), reason)
	return nil
}

func regimeStatus(ctx context.Context, a *kraite, c app.Common, exchange string) error {
	v, err := app.RegimeStatus(ctx, c, exchange, time.Now())
	if err != nil {
		return err
	}
	printRegime(a, v)
	return nil
}

func printRegime(a *kraite, v app.RegimeView) {
	st, ov := v.State, v.Override
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	defer tw.Flush()
	ts := func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
	fmt.Fprintf(tw, "exchange\t%s\n", v.Exchange)
	fmt.Fprintf(tw, "gate now\t%s (opens %s): %s\n", v.Gate, map[bool]string{true: "allowed", false: "refused"}[regimestate.Allowed(v.Gate)], v.Reason)
	if st == nil {
		fmt.Fprintln(tw, "state\tnone yet (is the regime processor running and mark prices flowing?)")
		return
	}
	fmt.Fprintf(tw, "score\t%.2f\n", st.Score)
	fmt.Fprintf(tw, "band\t%s since %s\n", st.Band, ts(st.SinceMs))
	fmt.Fprintf(tw, "last input\t%s (event time, %d records)\n", ts(st.AtMs), st.Records)
	if st.CooldownUntilMs > 0 {
		fmt.Fprintf(tw, "cooldown until\t%s\n", ts(st.CooldownUntilMs))
	}
	if ov != nil {
		fmt.Fprintf(tw, "override\t%s until %s by %s: %s\n", ov.Action, ts(ov.UntilMs), ov.By, ov.Reason)
	}
	if v.OverrideUnreadable {
		fmt.Fprintln(tw, "override record\tthe newest record is unreadable (quarantined); the last good override stays in force")
	}
	if st.Degraded != "" {
		fmt.Fprintf(tw, "degraded\t%s\n", st.Degraded)
	}
	in := st.Inputs.Map()
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(tw, "input %s\t%g\n", k, in[k])
	}
}
