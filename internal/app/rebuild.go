package app

// kraite rebuild: fill an empty database from the retained topics.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/queues/positions"
	auditsink "github.com/kraite/stream/sinks/audit"
	marksink "github.com/kraite/stream/sinks/markprice"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

// opsTimeout bounds each admin round trip of an operator command, so an
// unreachable broker fails instead of hanging.
const opsTimeout = 30 * time.Second

// OpenRebuildTarget opens, migrates and seeds the target database of a
// rebuild, and refuses one whose order tables hold rows unless f.Force.
func OpenRebuildTarget(ctx context.Context, f RebuildConfig) (*db.DB, error) {
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d, err := db.Open(octx, f.Into)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", db.MaskURL(f.Into), err)
	}
	if _, err := d.Migrate(octx); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrating %s: %w", db.MaskURL(f.Into), err)
	}
	var held []string
	for _, table := range []string{"orders", "algo_orders", "order_fills"} {
		var n int64
		if err := d.QueryRowContext(octx, "SELECT COUNT(*) FROM "+table).Scan(&n); err != nil {
			d.Close()
			return nil, fmt.Errorf("counting the rows of %s: %w", table, err)
		}
		if n > 0 {
			held = append(held, fmt.Sprintf("%s has %d rows", table, n))
		}
	}
	if len(held) > 0 && !f.Force {
		d.Close()
		return nil, fmt.Errorf("refusing to rebuild into %s: it is not empty (%s); rebuild fills an empty database. "+
			"To replay into it anyway add --force (rows only move forward, so nothing newer is overwritten); "+
			"to repair the live database use kraite replay instead (see the Recovery section of the README)",
			db.MaskURL(f.Into), strings.Join(held, ", "))
	}
	if len(held) > 0 {
		fmt.Fprintf(f.Progress, "rebuild: --force: replaying into a database that is not empty (%s)\n", strings.Join(held, ", "))
	}
	// Mark prices update existing symbol rows: they must be there first.
	if _, err := d.SeedUniverse(octx); err != nil {
		d.Close()
		return nil, fmt.Errorf("seeding symbols into %s: %w", db.MaskURL(f.Into), err)
	}
	return d, nil
}

// rebuildJob is one sink replaying one topic under a fresh group.
type rebuildJob struct {
	spec  topics.Spec
	sink  string // orders, audit, markprice
	group string
	plan  groupadmin.ReplayPlan
	run   func(ctx context.Context) error
}

// rebuildGroup is the declared group of this rebuild run for sink
// (topics.RebuildGroup); a run name it refuses is an error.
func rebuildGroup(prefix, run string, sink topics.GroupSpec) (string, error) {
	g, ok := topics.RebuildGroup(sink, run)
	if !ok {
		return "", fmt.Errorf("--group-suffix %q: not a rebuild group name (no spaces, commas or control characters, at most 200 bytes)", run)
	}
	return g.Name(prefix), nil
}

// RebuildConfig is what a rebuild fills and how it reports progress.
type RebuildConfig struct {
	Into        string        // the database URL to fill
	Topics      []topics.Spec // of orders, user-data-stream, mark-price
	GroupSuffix string        // names the groups <prefix>rebuild-<suffix>-<sink>
	Force       bool          // replay into a database whose order tables hold rows
	Interval    time.Duration // between progress lines
	Progress    io.Writer     // progress lines
}

// RebuildReport is what a finished rebuild did.
type RebuildReport struct {
	Records int64
	Elapsed time.Duration
	Groups  []string // the rebuild groups, deleted
}

// Rebuild fills d (the empty target, OpenRebuildTarget) from the retained
// topics: the sinks of f.Topics run under fresh consumer groups from the
// earliest offset until each committed the end offsets taken at the start,
// with progress (records, rate, ETA) on f.Progress; then the groups are
// deleted and, after orders, the observed positions are refolded (the
// sinks publish no transitions in a rebuild).
func Rebuild(ctx context.Context, c Common, adm *kadm.Client, log *slog.Logger, d *db.DB, f RebuildConfig) (RebuildReport, error) {
	var rep RebuildReport
	jobs, err := rebuildJobs(c, d, log, f.Topics, f.GroupSuffix)
	if err != nil {
		return rep, err
	}
	for i := range jobs {
		j := &jobs[i]
		pctx, cancel := context.WithTimeout(ctx, opsTimeout)
		j.plan, err = groupadmin.Plan(pctx, adm, j.group, j.spec.Name(c.TopicPrefix), groupadmin.Position{Kind: groupadmin.Earliest}, nil, "", nil)
		cancel()
		if err != nil {
			return rep, fmt.Errorf("taking the end offsets of %s: %w", j.spec.Name(c.TopicPrefix), err)
		}
		for _, pp := range j.plan.Partitions {
			if pp.Committed >= 0 {
				return rep, fmt.Errorf("group %s already has commits: pick another --group-suffix", j.group)
			}
		}
	}
	var total int64
	for _, j := range jobs {
		total += j.plan.Total()
		fmt.Fprintf(f.Progress, "rebuild: %s -> %s sink as group %s: %d records\n", j.plan.Topic, j.sink, j.group, j.plan.Total())
	}

	start := time.Now()
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	g, gctx := errgroup.WithContext(sctx)
	for _, j := range jobs {
		g.Go(func() error {
			if err := j.run(gctx); err != nil {
				return fmt.Errorf("%s sink: %w", j.sink, err)
			}
			return nil
		})
	}
	followErr := followRebuild(gctx, f.Progress, adm, jobs, total, start, f.Interval)
	stop()
	runErr := g.Wait()
	// The rebuild groups served once; a left-behind group would only
	// clutter kraite status. Delete them even when interrupted.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opsTimeout)
	defer cancel()
	delErr := deleteRebuildGroups(dctx, adm, jobs)
	switch {
	case runErr != nil:
		return rep, errors.Join(runErr, delErr)
	case followErr != nil && ctx.Err() != nil:
		fmt.Fprintln(f.Progress, "rebuild: interrupted; the database holds what was written so far (run again with --force to finish)")
		return rep, errors.Join(ctx.Err(), delErr)
	case followErr != nil:
		return rep, errors.Join(followErr, delErr)
	case delErr != nil:
		return rep, delErr
	}
	for _, j := range jobs {
		if j.spec.Suffix != topics.Orders.Suffix {
			continue
		}
		n, err := (&positions.Book{DB: d}).RefoldAll(ctx)
		if err != nil {
			return rep, err
		}
		fmt.Fprintf(f.Progress, "rebuild: refolded the observed positions of %d (account, symbol) pairs from the rebuilt orders\n", n)
	}
	rep.Records, rep.Elapsed = total, time.Since(start)
	for _, j := range jobs {
		rep.Groups = append(rep.Groups, j.group)
	}
	return rep, nil
}

// rebuildJobs builds one sink per topic on the target database, each in
// its own fresh group reading from the start.
func rebuildJobs(c Common, d *db.DB, log *slog.Logger, specs []topics.Spec, suffix string) ([]rebuildJob, error) {
	var jobs []rebuildJob
	for _, spec := range specs {
		j := rebuildJob{spec: spec}
		var err error
		switch spec.Suffix {
		case topics.Orders.Suffix:
			j.sink = "orders"
			if j.group, err = rebuildGroup(c.TopicPrefix, suffix, topics.GroupSinkOrders); err != nil {
				return nil, err
			}
			s, err := orderssink.New(orderssink.Config{
				SinkConfig:         orderssink.SinkConfig{Kafka: kclient.ForBrokers(c.Brokers...), Prefix: c.TopicPrefix, Group: j.group},
				DiscardTransitions: true}, d, log.With("component", "rebuild-orders"))
			if err != nil {
				return nil, err
			}
			j.run = s.Run
		case topics.UserDataStream.Suffix:
			j.sink = "audit"
			if j.group, err = rebuildGroup(c.TopicPrefix, suffix, topics.GroupSinkAudit); err != nil {
				return nil, err
			}
			s, err := auditsink.New(auditsink.Config{SinkConfig: auditsink.SinkConfig{
				Kafka: kclient.ForBrokers(c.Brokers...), Prefix: c.TopicPrefix, Group: j.group}},
				d, log.With("component", "rebuild-audit"))
			if err != nil {
				return nil, err
			}
			j.run = s.Run
		case topics.MarkPrice.Suffix:
			j.sink = "markprice"
			if j.group, err = rebuildGroup(c.TopicPrefix, suffix, topics.GroupSinkMarkPrice); err != nil {
				return nil, err
			}
			s, err := marksink.New(marksink.Config{Kafka: kclient.ForBrokers(c.Brokers...), Prefix: c.TopicPrefix, Group: j.group, FromStart: true},
				d, log.With("component", "rebuild-markprice"))
			if err != nil {
				return nil, err
			}
			j.run = s.Run
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// followRebuild prints progress every interval until every job's group has
// committed past the end offsets of its plan, or ctx ends.
func followRebuild(ctx context.Context, w io.Writer, adm *kadm.Client, jobs []rebuildJob, total int64, start time.Time, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var done int64
		parts := make([]string, 0, len(jobs))
		caughtUp := true
		for _, j := range jobs {
			fctx, cancel := context.WithTimeout(ctx, opsTimeout)
			committed, err := adm.FetchOffsetsForTopics(fctx, j.group, j.plan.Topic)
			cancel()
			if errors.Is(err, kerr.GroupIDNotFound) {
				err = nil // the sink has not joined yet
			}
			if err != nil && ctx.Err() == nil {
				return fmt.Errorf("fetching the commits of %s: %w", j.group, err)
			}
			st := groupadmin.Measure(j.plan, committed)
			done += st.Done
			caughtUp = caughtUp && st.CaughtUp()
			parts = append(parts, fmt.Sprintf("%s %d/%d", j.sink, st.Done, st.Total))
		}
		el := time.Since(start)
		eta := "-"
		if done > 0 && done < total {
			eta = (time.Duration(float64(el) / float64(done) * float64(total-done))).Round(time.Second).String()
		} else if done >= total {
			eta = "0s"
		}
		fmt.Fprintf(w, "rebuild: %d/%d records (%.1f%%)  %s records/s  ETA %s  [%s]\n",
			done, total, percent(done, total), Rate(done, el), eta, strings.Join(parts, ", "))
		if caughtUp {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func deleteRebuildGroups(ctx context.Context, adm *kadm.Client, jobs []rebuildJob) error {
	names := make([]string, 0, len(jobs))
	for _, j := range jobs {
		names = append(names, j.group)
	}
	var last error
	// A member that just left may still be on its way out: retry briefly.
	for range 10 {
		resps, err := adm.DeleteGroups(ctx, names...)
		if err == nil {
			names = names[:0]
			for g, r := range resps {
				if r.Err != nil && !errors.Is(r.Err, kerr.GroupIDNotFound) {
					names = append(names, g)
					err = r.Err
				}
			}
		}
		if err == nil {
			return nil
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("deleting the rebuild groups %s: %w", strings.Join(names, ", "), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("deleting the rebuild groups %s: %w", strings.Join(names, ", "), last)
}

func percent(done, total int64) float64 {
	if total == 0 {
		return 100
	}
	return 100 * float64(done) / float64(total)
}

// Rate is n per second of el, rounded, or - without time.
func Rate(n int64, el time.Duration) string {
	if el <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/el.Seconds(), 'f', 0, 64)
}
