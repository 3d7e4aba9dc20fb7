package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

const statusSynopsis = `status [--group G[,G2]] [--json] [--watch 5s]

Shows every consumer group on KRAITE_BROKERS (or the named ones): its state,
protocol and members (client id, host, assigned partitions), then per topic
and partition the committed offset, the end offset, the lag and the member
that owns it. Scaling a consumer = starting another process with the same
group; this is where you see the partitions move to it.

Flags:`

func cmdStatus(ctx context.Context, a *kraite, args []string) error {
	var r app.StatusRequest
	fs := a.newFlags("status", statusSynopsis)
	groups := fs.String("group", "", "only these groups, comma separated (default: every group)")
	fs.BoolVar(&r.JSON, "json", false, "print JSON for machines")
	fs.DurationVar(&r.Watch, "watch", 0, "redraw every interval until interrupted (0: print once)")
	c, err := a.start(fs, args)
	if err != nil {
		return err
	}
	r.Groups = app.SplitList(*groups)
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return app.Status(ctx, c, r, a.stdout)
}
