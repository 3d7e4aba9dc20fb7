package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

func cmdTopics(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("topics", "topics list|apply\n\n  list   print the catalog (name, partitions, cleanup, key, value)\n  apply  create missing topics and converge existing ones on KRAITE_BROKERS (idempotent)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "list", "apply":
	case "":
		return cli.Usagef(fs, "topics needs a subcommand: list or apply")
	default:
		return cli.Usagef(fs, "unknown topics subcommand %q: list or apply", fs.Arg(0))
	}
	if err := cli.NoArgs(fs, 1); err != nil {
		return err
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	if fs.Arg(0) == "list" {
		return listTopics(a, c.TopicPrefix)
	}
	return applyTopics(ctx, a, c)
}

// catalog is every topic Kraite declares up front: the catalog plus the goka
// group table the gate looks up before the regime processor may have run.

func listTopics(a *kraite, prefix string) error {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITIONS\tRETENTION\tKEY\tVALUE")
	for _, s := range app.Catalog() {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\n", s.Name(prefix), s.Partitions, s.RetentionString(), s.Key, s.Value)
	}
	return tw.Flush()
}

func applyTopics(ctx context.Context, a *kraite, c app.Common) error {
	results, err := app.EnsureTopics(ctx, c)
	for _, r := range results {
		fmt.Fprintf(a.stdout, "%-32s %s", r.Topic, r.Action)
		for _, ch := range r.Changes {
			fmt.Fprintf(a.stdout, "; %s", ch)
		}
		fmt.Fprintln(a.stdout)
	}
	return err
}
