package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/topics"
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

// replayFlags is what `kraite replay` reads from its command line.
type replayFlags struct {
	group, topic, from, to, account string
	dryRun, wait, progress, asJSON  bool
	create                          bool
	waitTimeout, interval           time.Duration
}

// Validate names the first missing or bad flag.
func (f replayFlags) Validate() error {
	switch {
	case f.group == "":
		return errors.New("--group is required")
	case f.topic == "":
		return errors.New("--topic is required")
	case f.from == "":
		return errors.New("--from is required (earliest, latest, an offset, an RFC 3339 time or -DURATION)")
	case f.interval <= 0:
		return fmt.Errorf("--progress-interval %s must be positive", f.interval)
	case f.waitTimeout < 0:
		return fmt.Errorf("--wait-timeout %s must not be negative", f.waitTimeout)
	}
	return nil
}

func cmdReplay(ctx context.Context, a *kraite, args []string) error {
	var f replayFlags
	fs := a.newFlags("replay", replaySynopsis)
	fs.StringVar(&f.group, "group", "", "consumer group to reset, full name or catalog suffix (e.g. kraite.sink.orders, sink.orders, dispatch)")
	fs.BoolVar(&f.create, "create", false, "allow a group that is not declared and has no commits on the topic (it is created)")
	fs.StringVar(&f.topic, "topic", "", "topic to replay, full name or catalog suffix (e.g. orders)")
	fs.StringVar(&f.from, "from", "", "where to resume: earliest|latest|OFFSET|RFC3339 time|-DURATION")
	fs.StringVar(&f.to, "to", "", "end of the replayed range for the plan and progress bar only (same forms as --from)")
	fs.StringVar(&f.account, "account", "", "reset only the partition holding this account's key")
	fs.BoolVar(&f.dryRun, "dry-run", false, "print the plan and change nothing")
	fs.BoolVar(&f.wait, "wait", false, "if the group has live members, wait until they are stopped, then apply")
	fs.DurationVar(&f.waitTimeout, "wait-timeout", 0, "give up waiting for the group to empty after this long (0: no limit)")
	fs.BoolVar(&f.progress, "progress", true, "after applying, follow the group until it has replayed the plan")
	fs.DurationVar(&f.interval, "progress-interval", time.Second, "how often progress is polled")
	fs.BoolVar(&f.asJSON, "json", false, "print the plan as JSON (progress then goes to stderr)")
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
	if err := f.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	return runReplay(ctx, a, adm, c.TopicPrefix, f)
}

func runReplay(ctx context.Context, a *kraite, adm *kadm.Client, prefix string, f replayFlags) error {
	topic := f.topic
	if s, ok := topics.Lookup(prefix, topic); ok {
		topic = s.Name(prefix)
	}
	from, err := groupadmin.ParsePosition(f.from)
	if err != nil {
		return fmt.Errorf("reading --from: %w", err)
	}
	var to *groupadmin.Position
	if f.to != "" {
		p, err := groupadmin.ParsePosition(f.to)
		if err != nil {
			return fmt.Errorf("reading --to: %w", err)
		}
		to = &p
	}
	cctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
	group, err := groupadmin.CheckTarget(cctx, adm, prefix, f.group, topic, f.create)
	cancel()
	if err != nil {
		return err
	}
	f.group = group
	plan, err := planReplay(ctx, adm, f.group, topic, from, to, f.account)
	if err != nil {
		return err
	}
	if err := groupadmin.WritePlan(a.stdout, plan, f.asJSON); err != nil {
		return err
	}
	say := a.stdout
	if f.asJSON {
		say = a.stderr
	}
	if f.dryRun {
		fmt.Fprintln(say, "dry run: nothing changed; run again without --dry-run to apply")
		return nil
	}
	if plan, err = applyReplay(ctx, a, adm, plan, f, say); err != nil {
		return err
	}
	fmt.Fprintf(say, "reset applied: group %s resumes %s at the targets above (%d records to replay)\n", plan.Group, plan.Topic, plan.Total())
	if !f.progress || plan.Total() == 0 {
		return nil
	}
	fmt.Fprintf(say, "start the consumers of %s; following progress (Ctrl-C stops watching, the reset stands)\n", plan.Group)
	_, err = groupadmin.Progress(ctx, adm, plan, groupadmin.ProgressOptions{Out: say, TTY: opsIsTerminal(say, a.cfg.Session.Term), Interval: f.interval})
	if ctx.Err() != nil {
		fmt.Fprintln(say, "stopped watching; the reset stands")
		return nil
	}
	return err
}

// applyReplay applies plan, or with --wait waits for the group to empty and
// re-plans (ends and commits moved meanwhile) before applying. It returns
// the plan that was applied.
func applyReplay(ctx context.Context, a *kraite, adm *kadm.Client, plan groupadmin.ReplayPlan, f replayFlags, say io.Writer) (groupadmin.ReplayPlan, error) {
	err := applyWithin(ctx, adm, plan)
	var live *groupadmin.LiveMembersError
	if !errors.As(err, &live) {
		return plan, err
	}
	groupadmin.WriteLiveMembers(say, live)
	if !f.wait {
		return plan, fmt.Errorf("refusing to reset group %s: %w (stop them, or add --wait)", plan.Group, groupadmin.ErrLiveMembers)
	}
	wctx := ctx
	if f.waitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, f.waitTimeout)
		defer cancel()
	}
	fmt.Fprintf(say, "waiting for group %s to empty...\n", plan.Group)
	last := live.Hosts()
	err = groupadmin.WaitEmpty(wctx, adm, plan.Group, f.interval, func(le *groupadmin.LiveMembersError) {
		if h := le.Hosts(); h != last {
			last = h
			fmt.Fprintf(say, "still live: %s\n", h)
		}
	})
	if err != nil {
		return plan, err
	}
	fmt.Fprintf(say, "group %s is empty; re-planning and applying\n", plan.Group)
	plan, err = planReplay(ctx, adm, plan.Group, plan.Topic, plan.From, plan.To, plan.Account)
	if err != nil {
		return plan, err
	}
	if err := groupadmin.WritePlan(a.stdout, plan, f.asJSON); err != nil {
		return plan, err
	}
	return plan, applyWithin(ctx, adm, plan)
}

// opsRequestTimeout bounds each planning or applying round trip, so an
// unreachable broker fails the command instead of hanging it.
const opsRequestTimeout = 30 * time.Second

func planReplay(ctx context.Context, adm *kadm.Client, group, topic string, from groupadmin.Position, to *groupadmin.Position, account string) (groupadmin.ReplayPlan, error) {
	ctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
	defer cancel()
	return groupadmin.Plan(ctx, adm, group, topic, from, to, account, nil)
}

func applyWithin(ctx context.Context, adm *kadm.Client, plan groupadmin.ReplayPlan) error {
	ctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
	defer cancel()
	return groupadmin.Apply(ctx, adm, plan)
}

// opsIsTerminal reports whether w is a terminal (progress redraws in
// place) of a kind other than dumb (term is TERM).
func opsIsTerminal(w io.Writer, term string) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(term, "dumb")
}
