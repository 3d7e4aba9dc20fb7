package main

import (
	"context"

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
		return app.ListTopics(a.stdout, c.TopicPrefix)
	}
	return app.ApplyTopics(ctx, c, a.stdout)
}
