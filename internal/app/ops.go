package app

// kraite replay, status and rebuild: the consumer groups and offsets of the
// running system.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/topics"
)

// opsRequestTimeout bounds each planning or applying round trip, so an
// unreachable broker fails the command instead of hanging it.
const opsRequestTimeout = 30 * time.Second

// opsAdmin builds the admin client of replay, status and rebuild; call the
// returned func to close it.
func opsAdmin(c Common) (*kadm.Client, func(), error) {
	cl, err := KafkaClient(context.Background(), c.Brokers, kgo.RequestTimeoutOverhead(5*time.Second), kgo.ClientID("kraite-ops-"+Hostname()))
	if err != nil {
		return nil, nil, fmt.Errorf("creating admin client: %w", err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}

// ReplayRequest is what `kraite replay` is asked to do.
type ReplayRequest struct {
	Group, Topic, From, To, Account string
	DryRun, Wait, Progress, JSON    bool
	Create                          bool // allow a group that is not declared and has no commits on the topic
	WaitTimeout, Interval           time.Duration
	Term                            string // TERM: a dumb terminal gets no redrawn progress bar
}

// Validate names the first missing or bad field, as its flag.
func (r ReplayRequest) Validate() error {
	switch {
	case r.Group == "":
		return errors.New("--group is required")
	case r.Topic == "":
		return errors.New("--topic is required")
	case r.From == "":
		return errors.New("--from is required (earliest, latest, an offset, an RFC 3339 time or -DURATION)")
	case r.Interval <= 0:
		return fmt.Errorf("--progress-interval %s must be positive", r.Interval)
	case r.WaitTimeout < 0:
		return fmt.Errorf("--wait-timeout %s must not be negative", r.WaitTimeout)
	}
	return nil
}

// Replay resets the committed offsets of r.Group on r.Topic (names in full
// or by catalog suffix, under c's prefix) on c's brokers to r.From,
// printing the plan on stdout, then follows the group's progress (on
// stderr with JSON).
func Replay(ctx context.Context, c Common, r ReplayRequest, stdout, stderr io.Writer) error {
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	return replay(ctx, adm, c.TopicPrefix, r, stdout, stderr)
}

func replay(ctx context.Context, adm *kadm.Client, prefix string, r ReplayRequest, stdout, stderr io.Writer) error {
	topic := r.Topic
	if s, ok := topics.Lookup(prefix, topic); ok {
		topic = s.Name(prefix)
	}
	from, err := groupadmin.ParsePosition(r.From)
	if err != nil {
		return fmt.Errorf("reading --from: %w", err)
	}
	var to *groupadmin.Position
	if r.To != "" {
		p, err := groupadmin.ParsePosition(r.To)
		if err != nil {
			return fmt.Errorf("reading --to: %w", err)
		}
		to = &p
	}
	cctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
	group, err := groupadmin.CheckTarget(cctx, adm, prefix, r.Group, topic, r.Create)
	cancel()
	if err != nil {
		return err
	}
	r.Group = group
	plan, err := planReplay(ctx, adm, r.Group, topic, from, to, r.Account)
	if err != nil {
		return err
	}
	if err := groupadmin.WritePlan(stdout, plan, r.JSON); err != nil {
		return err
	}
	say := stdout
	if r.JSON {
		say = stderr
	}
	if r.DryRun {
		fmt.Fprintln(say, "dry run: nothing changed; run again without --dry-run to apply")
		return nil
	}
	if plan, err = applyReplay(ctx, adm, plan, r, stdout, say); err != nil {
		return err
	}
	fmt.Fprintf(say, "reset applied: group %s resumes %s at the targets above (%d records to replay)\n", plan.Group, plan.Topic, plan.Total())
	if !r.Progress || plan.Total() == 0 {
		return nil
	}
	fmt.Fprintf(say, "start the consumers of %s; following progress (Ctrl-C stops watching, the reset stands)\n", plan.Group)
	_, err = groupadmin.Progress(ctx, adm, plan, groupadmin.ProgressOptions{Out: say, TTY: isTerminal(say, r.Term), Interval: r.Interval})
	if ctx.Err() != nil {
		fmt.Fprintln(say, "stopped watching; the reset stands")
		return nil
	}
	return err
}

// applyReplay applies plan, or with Wait waits for the group to empty and
// re-plans (ends and commits moved meanwhile) before applying. It returns
// the plan that was applied.
func applyReplay(ctx context.Context, adm *kadm.Client, plan groupadmin.ReplayPlan, r ReplayRequest, stdout, say io.Writer) (groupadmin.ReplayPlan, error) {
	err := applyWithin(ctx, adm, plan)
	var live *groupadmin.LiveMembersError
	if !errors.As(err, &live) {
		return plan, err
	}
	groupadmin.WriteLiveMembers(say, live)
	if !r.Wait {
		return plan, fmt.Errorf("refusing to reset group %s: %w (stop them, or add --wait)", plan.Group, groupadmin.ErrLiveMembers)
	}
	wctx := ctx
	if r.WaitTimeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeout(ctx, r.WaitTimeout)
		defer cancel()
	}
	fmt.Fprintf(say, "waiting for group %s to empty...\n", plan.Group)
	last := live.Hosts()
	err = groupadmin.WaitEmpty(wctx, adm, plan.Group, r.Interval, func(le *groupadmin.LiveMembersError) {
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
	if err := groupadmin.WritePlan(stdout, plan, r.JSON); err != nil {
		return plan, err
	}
	return plan, applyWithin(ctx, adm, plan)
}

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

// isTerminal reports whether w is a terminal (progress redraws in place) of
// a kind other than dumb (term is TERM).
func isTerminal(w io.Writer, term string) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0 && !strings.EqualFold(term, "dumb")
}

// StatusRequest is what `kraite status` is asked to show.
type StatusRequest struct {
	Groups []string      // only these groups (none: every group)
	JSON   bool          // JSON for machines
	Watch  time.Duration // redraw every Watch until ctx ends (0: print once)
}

// Validate names a bad flag.
func (r StatusRequest) Validate() error {
	if r.Watch < 0 {
		return fmt.Errorf("--watch %s must not be negative", r.Watch)
	}
	return nil
}

// Status writes the consumer groups on c's brokers (members, assignments,
// lag per partition) to w, once or every r.Watch until ctx ends.
func Status(ctx context.Context, c Common, r StatusRequest, w io.Writer) error {
	if err := r.Validate(); err != nil {
		return err
	}
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	return status(ctx, adm, r, w)
}

func status(ctx context.Context, adm *kadm.Client, r StatusRequest, w io.Writer) error {
	for {
		if err := statusOnce(ctx, w, adm, r.Groups, r.JSON); err != nil {
			return err
		}
		if r.Watch == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.Watch):
			fmt.Fprintf(w, "\n--- %s\n", time.Now().UTC().Format(time.RFC3339))
		}
	}
}

func statusOnce(ctx context.Context, w io.Writer, adm *kadm.Client, groups []string, asJSON bool) error {
	qctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
	defer cancel()
	sts, err := groupadmin.Status(qctx, adm, groups...)
	if err != nil {
		return err
	}
	var unknown []string
	for _, g := range sts {
		if len(groups) > 0 && g.State == "Dead" && len(g.Partitions) == 0 {
			unknown = append(unknown, g.Group)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("no such consumer group: %s (kraite status without --group lists them)", strings.Join(unknown, ", "))
	}
	if asJSON {
		if sts == nil {
			sts = []groupadmin.GroupStatus{}
		}
		return writeIndentedJSON(w, sts)
	}
	if len(sts) == 0 {
		fmt.Fprintln(w, "no consumer groups")
		return nil
	}
	for i, g := range sts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := groupadmin.WriteStatus(w, g); err != nil {
			return err
		}
	}
	return nil
}

// writeIndentedJSON writes v to w as JSON indented by two spaces.
func writeIndentedJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// RebuildRequest is what `kraite rebuild` is asked to do.
type RebuildRequest struct {
	Into        string // the database to fill
	Topics      string // comma separated catalog suffixes (orders, user-data-stream, mark-price)
	GroupSuffix string // names the rebuild groups (empty: the unix time)
	Force       bool   // replay into a database whose order tables hold rows
	Interval    time.Duration
}

// rebuildTopics are the topics a rebuild can replay, each with its sink.
var rebuildTopics = []topics.Spec{topics.Orders, topics.UserDataStream, topics.MarkPrice}

// Validate names the first missing or bad field, as its flag.
func (r RebuildRequest) Validate() error {
	if r.Into == "" {
		return errors.New("--into is required (mysql://user:pass@host:3306/db, postgres://..., sqlite:///path)")
	}
	if _, err := db.ParseURL(r.Into); err != nil {
		return fmt.Errorf("--into: %w", err)
	}
	if _, err := r.specs(); err != nil {
		return err
	}
	if strings.ContainsAny(r.GroupSuffix, " ,") {
		return fmt.Errorf("--group-suffix %q must not contain spaces or commas", r.GroupSuffix)
	}
	if r.Interval <= 0 {
		return fmt.Errorf("--progress-interval %s must be positive", r.Interval)
	}
	return nil
}

// specs resolves Topics (catalog suffixes) to catalog entries.
func (r RebuildRequest) specs() ([]topics.Spec, error) {
	var out []topics.Spec
	seen := map[string]bool{}
	for _, name := range SplitList(r.Topics) {
		var found bool
		for _, s := range rebuildTopics {
			if s.Suffix == name && !seen[name] {
				out, found, seen[name] = append(out, s), true, true
			}
		}
		if !found && !seen[name] {
			return nil, fmt.Errorf("--topics: %q is not one of orders, user-data-stream, mark-price", name)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--topics: name at least one of orders, user-data-stream, mark-price")
	}
	return out, nil
}

// RebuildInto fills the empty database r.Into from the retained topics
// (Rebuild), progress on stderr, and prints what it did on stdout.
func RebuildInto(ctx context.Context, c Common, log *slog.Logger, r RebuildRequest, stdout, stderr io.Writer) error {
	if r.GroupSuffix == "" {
		r.GroupSuffix = strconv.FormatInt(time.Now().Unix(), 10)
	}
	if err := r.Validate(); err != nil {
		return err
	}
	specs, _ := r.specs()
	rc := RebuildConfig{Into: r.Into, Topics: specs, GroupSuffix: r.GroupSuffix, Force: r.Force, Interval: r.Interval, Progress: stderr}
	d, err := OpenRebuildTarget(ctx, rc)
	if err != nil {
		return err
	}
	defer d.Close()
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	rep, err := Rebuild(ctx, c, adm, log, d, rc)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "rebuilt %s from %d records in %s (%s records/s); groups deleted: %s\n",
		db.MaskURL(r.Into), rep.Records, rep.Elapsed.Round(100*time.Millisecond), Rate(rep.Records, rep.Elapsed), strings.Join(rep.Groups, ", "))
	return nil
}
