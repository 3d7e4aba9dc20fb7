package main

import (
	"context"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

const replaySynopsis = `replay --group G --topic T --from POS [--to POS] [--account A] [--dry-run] [--wait]

Resets the committed offsets of consumer group G on topic T so the group
re-reads T from POS, then follows the group with a progress bar while it
catches up (Ctrl-C stops watching; the reset stands).

POS is one of:
  earliest | latest             the log start / end of each partition
  12345                         one offset, used in every partition (clamped)
  2026-11-22T10:00:00Z          the first record at or after this time (RFC 3339)
  -10m, -2h                     that long before now

A group can only be reset while it has NO live members: Kafka rejects an admin
commit for a running group, and its members would overwrite it anyway. Without
--wait, kraite replay prints the members (client id and host) to stop and
exits; with --wait it waits until they are gone, then applies.

--to does NOT stop the consumer: a Kafka group always reads on to the end of
the partition. --to bounds the plan and the progress bar ([from, to)); stop the
consumer there yourself, or let it run on (every Kraite sink is idempotent, so
re-reading newer records changes nothing).

--account A resets only the partition that holds A's key. The WHOLE partition
replays: other accounts keyed to it are delivered again (idempotent sinks
absorb the duplicates).

--dry-run prints the plan (per partition: committed, target, records) and
changes nothing.

Topics and groups may be named in full or by catalog suffix (user-data-stream,
sink.orders). A group the catalog declares must consume the topic; any other
group must already have commits on it, unless --create (a typo would otherwise
create a stray group).
` + "`kraite status`" + ` lists the groups, their members and their lag.

Flags:`

func cmdReplay(ctx context.Context, a *kraite, args []string) error {
	r := app.ReplayRequest{Term: a.cfg.Session.Term}
	fs := a.newFlags("replay", replaySynopsis)
	fs.StringVar(&r.Group, "group", "", "consumer group to reset, full name or catalog suffix (e.g. kraite.sink.orders, sink.orders, dispatch)")
	fs.BoolVar(&r.Create, "create", false, "allow a group that is not declared and has no commits on the topic (it is created)")
	fs.StringVar(&r.Topic, "topic", "", "topic to replay, full name or catalog suffix (e.g. orders)")
	fs.StringVar(&r.From, "from", "", "where to resume: earliest|latest|OFFSET|RFC3339 time|-DURATION")
	fs.StringVar(&r.To, "to", "", "end of the replayed range for the plan and progress bar only (same forms as --from)")
	fs.StringVar(&r.Account, "account", "", "reset only the partition holding this account's key")
	fs.BoolVar(&r.DryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&r.Wait, "wait", false, "if the group has live members, wait until they are stopped, then apply")
	fs.DurationVar(&r.WaitTimeout, "wait-timeout", 0, "give up waiting for the group to empty after this long (0: no limit)")
	fs.BoolVar(&r.Progress, "progress", true, "after applying, follow the group until it has replayed the plan")
	fs.DurationVar(&r.Interval, "progress-interval", time.Second, "how often progress is polled")
	fs.BoolVar(&r.JSON, "json", false, "print the plan as JSON (progress then goes to stderr)")
	c, err := a.start(fs, args)
	if err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return app.Replay(ctx, c, r, a.stdout, a.stderr)
}
