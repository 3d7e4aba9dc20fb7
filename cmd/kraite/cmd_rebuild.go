package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/queues/positions"
	auditsink "github.com/kraite/stream/sinks/audit"
	marksink "github.com/kraite/stream/sinks/markprice"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

const rebuildSynopsis = `rebuild --into DATABASE_URL [--topics orders,user-data-stream,mark-price] [--group-suffix S] [--force]

Fills an EMPTY database from what Kafka still retains: it migrates the
database, seeds the symbols, then runs the sinks of the chosen topics under
fresh consumer groups (<prefix>rebuild-<S>-orders, -audit, -markprice, so the
live groups are never touched) from the earliest retained offset until each
has committed the end offsets taken at the start. Progress (records done /
total, rate, ETA) goes to stderr every second. Then the sinks stop and the
rebuild groups are deleted. The live system keeps running meanwhile.

  topic              sink        table
  orders             orders      orders, algo_orders, order_fills
  user-data-stream   audit       api_data_stream
  mark-price         mark price  exchange_symbols.mark_price

Recipe: the database is lost and the backup is unusable, or a new database is
needed (another server, another dialect):

  kraite rebuild --into mysql://kraite:secret@db2:3306/kraite
  # compare, then point KRAITE_DATABASE_URL of every box at it and restart them

What is rebuilt is what is retained: orders and user-data-stream keep 7 days,
mark-price 1 day. Orders older than the retention come back only through the
order-sync sweep (from the exchange's REST API). Order state transitions are
recorded as already published (the positions topic got them when they
happened); instead the observed positions are refolded from the rebuilt
orders at the end. The exchange's side of the positions comes with the next
ACCOUNT_UPDATE or order-sync sweep.

A database whose orders, algo_orders or order_fills already hold rows is
refused; --force replays into it anyway (rows only move forward, fills are
recorded once, audit rows once per source offset).

Flags:`

// rebuildFlags is what `kraite rebuild` reads from its command line.
type rebuildFlags struct {
	into, topics, suffix string
	force                bool
	interval             time.Duration
}

// rebuildTopics are the topics a rebuild can replay, each with its sink.
var rebuildTopics = []topics.Spec{topics.Orders, topics.UserDataStream, topics.MarkPrice}

// Validate names the first missing or bad flag.
func (f rebuildFlags) Validate() error {
	if f.into == "" {
		return errors.New("--into is required (mysql://user:pass@host:3306/db, postgres://..., sqlite:///path)")
	}
	if _, err := db.ParseURL(f.into); err != nil {
		return fmt.Errorf("--into: %w", err)
	}
	if _, err := f.specs(); err != nil {
		return err
	}
	if strings.ContainsAny(f.suffix, " ,") {
		return fmt.Errorf("--group-suffix %q must not contain spaces or commas", f.suffix)
	}
	if f.interval <= 0 {
		return fmt.Errorf("--progress-interval %s must be positive", f.interval)
	}
	return nil
}

// specs resolves --topics (catalog suffixes) to catalog entries.
func (f rebuildFlags) specs() ([]topics.Spec, error) {
	var out []topics.Spec
	seen := map[string]bool{}
	for _, name := range app.SplitList(f.topics) {
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

func cmdRebuild(ctx context.Context, a *cli, args []string) error {
	f := rebuildFlags{topics: "orders,user-data-stream,mark-price"}
	fs := a.newFlags("rebuild", rebuildSynopsis)
	fs.StringVar(&f.into, "into", "", "database to fill: mysql://..., postgres://..., sqlite:///path")
	fs.StringVar(&f.topics, "topics", f.topics, "topics to replay, comma separated catalog suffixes")
	fs.StringVar(&f.suffix, "group-suffix", f.suffix, "names the rebuild groups <prefix>rebuild-<S>-<sink> (default: the unix time)")
	fs.BoolVar(&f.force, "force", false, "replay into a database whose order tables already hold rows")
	fs.DurationVar(&f.interval, "progress-interval", time.Second, "how often progress is measured and printed")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	if f.suffix == "" {
		f.suffix = strconv.FormatInt(time.Now().Unix(), 10)
	}
	if err := f.Validate(); err != nil {
		return usageErr(fs.Name(), err)
	}
	specs, _ := f.specs()
	d, err := openRebuildTarget(ctx, a, f)
	if err != nil {
		return err
	}
	defer d.Close()
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	return runRebuild(ctx, a, c, adm, d, specs, f)
}

// openRebuildTarget opens, migrates and seeds the target database, and
// refuses one whose order tables hold rows unless --force.
func openRebuildTarget(ctx context.Context, a *cli, f rebuildFlags) (*db.DB, error) {
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	d, err := db.Open(octx, f.into)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", db.MaskURL(f.into), err)
	}
	if _, err := d.Migrate(octx); err != nil {
		d.Close()
		return nil, fmt.Errorf("migrating %s: %w", db.MaskURL(f.into), err)
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
	if len(held) > 0 && !f.force {
		d.Close()
		return nil, fmt.Errorf("refusing to rebuild into %s: it is not empty (%s); rebuild fills an empty database. "+
			"To replay into it anyway add --force (rows only move forward, so nothing newer is overwritten); "+
			"to repair the live database use kraite replay instead (see the Recovery section of the README)",
			db.MaskURL(f.into), strings.Join(held, ", "))
	}
	if len(held) > 0 {
		fmt.Fprintf(a.stderr, "rebuild: --force: replaying into a database that is not empty (%s)\n", strings.Join(held, ", "))
	}
	// Mark prices update existing symbol rows: they must be there first.
	if _, err := d.SeedUniverse(octx); err != nil {
		d.Close()
		return nil, fmt.Errorf("seeding symbols into %s: %w", db.MaskURL(f.into), err)
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

func rebuildGroup(prefix, suffix, sink string) string {
	return prefix + "rebuild-" + suffix + "-" + sink
}

func runRebuild(ctx context.Context, a *cli, c app.Common, adm *kadm.Client, d *db.DB, specs []topics.Spec, f rebuildFlags) error {
	jobs, err := rebuildJobs(c, d, a, specs, f.suffix)
	if err != nil {
		return err
	}
	for i := range jobs {
		j := &jobs[i]
		pctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
		j.plan, err = groupadmin.Plan(pctx, adm, j.group, j.spec.Name(c.TopicPrefix), groupadmin.Position{Kind: groupadmin.Earliest}, nil, "", nil)
		cancel()
		if err != nil {
			return fmt.Errorf("taking the end offsets of %s: %w", j.spec.Name(c.TopicPrefix), err)
		}
		for _, pp := range j.plan.Partitions {
			if pp.Committed >= 0 {
				return fmt.Errorf("group %s already has commits: pick another --group-suffix", j.group)
			}
		}
	}
	var total int64
	for _, j := range jobs {
		total += j.plan.Total()
		fmt.Fprintf(a.stderr, "rebuild: %s -> %s sink as group %s: %d records\n", j.plan.Topic, j.sink, j.group, j.plan.Total())
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
	followErr := followRebuild(gctx, a.stderr, adm, jobs, total, start, f.interval)
	stop()
	runErr := g.Wait()
	// The rebuild groups served once; a left-behind group would only
	// clutter kraite status. Delete them even when interrupted.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), opsRequestTimeout)
	defer cancel()
	delErr := deleteRebuildGroups(dctx, adm, jobs)
	switch {
	case runErr != nil:
		return errors.Join(runErr, delErr)
	case followErr != nil && ctx.Err() != nil:
		fmt.Fprintln(a.stderr, "rebuild: interrupted; the database holds what was written so far (run again with --force to finish)")
		return errors.Join(ctx.Err(), delErr)
	case followErr != nil:
		return errors.Join(followErr, delErr)
	case delErr != nil:
		return delErr
	}
	for _, j := range jobs {
		if j.spec.Suffix != topics.Orders.Suffix {
			continue
		}
		n, err := refoldPositions(ctx, d)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "rebuild: refolded the observed positions of %d (account, symbol) pairs from the rebuilt orders\n", n)
	}
	el := time.Since(start)
	fmt.Fprintf(a.stdout, "rebuilt %s from %d records in %s (%s records/s); groups deleted: %s\n",
		db.MaskURL(f.into), total, el.Round(100*time.Millisecond), rate(total, el), groupNames(jobs))
	return nil
}

// rebuildJobs builds one sink per topic on the target database, each in
// its own fresh group reading from the start.
func rebuildJobs(c app.Common, d *db.DB, a *cli, specs []topics.Spec, suffix string) ([]rebuildJob, error) {
	var jobs []rebuildJob
	for _, spec := range specs {
		j := rebuildJob{spec: spec}
		switch spec.Suffix {
		case topics.Orders.Suffix:
			j.sink, j.group = "orders", rebuildGroup(c.TopicPrefix, suffix, "orders")
			s, err := orderssink.New(orderssink.Config{Kafka: kclient.ForBrokers(c.Brokers...), Prefix: c.TopicPrefix, Group: j.group,
				DiscardTransitions: true}, d, a.log.With("component", "rebuild-orders"))
			if err != nil {
				return nil, err
			}
			j.run = s.Run
		case topics.UserDataStream.Suffix:
			j.sink, j.group = "audit", rebuildGroup(c.TopicPrefix, suffix, "audit")
			s, err := auditsink.New(auditsink.Config{Kafka: kclient.ForBrokers(c.Brokers...), Prefix: c.TopicPrefix, Group: j.group},
				d, a.log.With("component", "rebuild-audit"))
			if err != nil {
				return nil, err
			}
			j.run = s.Run
		case topics.MarkPrice.Suffix:
			j.sink, j.group = "markprice", rebuildGroup(c.TopicPrefix, suffix, "markprice")
			s, err := marksink.New(marksink.Config{Kafka: kclient.ForBrokers(c.Brokers...), Prefix: c.TopicPrefix, Group: j.group, FromStart: true},
				d, a.log.With("component", "rebuild-markprice"))
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
			fctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
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
			done, total, percent(done, total), rate(done, el), eta, strings.Join(parts, ", "))
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

func groupNames(jobs []rebuildJob) string {
	names := make([]string, 0, len(jobs))
	for _, j := range jobs {
		names = append(names, j.group)
	}
	return strings.Join(names, ", ")
}

func percent(done, total int64) float64 {
	if total == 0 {
		return 100
	}
	return 100 * float64(done) / float64(total)
}

func rate(n int64, el time.Duration) string {
	if el <= 0 {
		return "-"
	}
	return strconv.FormatFloat(float64(n)/el.Seconds(), 'f', 0, 64)
}

// refoldPositions recomputes the observed positions of every symbol an
// account traded from the rebuilt orders table. Live, the positions worker
// refolds on each transition; a rebuild publishes none (Config.
// DiscardTransitions), so it folds them itself. The exchange's side of each
// position comes with the next ACCOUNT_UPDATE or order-sync sweep.
func refoldPositions(ctx context.Context, d *db.DB) (int, error) {
	type pair struct{ exchange, account, symbol string }
	rows, err := d.QueryContext(ctx, "SELECT DISTINCT exchange, account, symbol FROM orders")
	if err != nil {
		return 0, fmt.Errorf("listing the traded symbols: %w", err)
	}
	var pairs []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.exchange, &p.account, &p.symbol); err != nil {
			rows.Close()
			return 0, fmt.Errorf("listing the traded symbols: %w", err)
		}
		pairs = append(pairs, p)
	}
	rows.Close() // before refolding: SQLite has one connection
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("listing the traded symbols: %w", err)
	}
	b := &positions.Book{DB: d}
	for _, p := range pairs {
		if err := b.Refold(ctx, p.exchange, p.account, p.symbol); err != nil {
			return 0, fmt.Errorf("refolding the position of %s %s: %w", p.account, p.symbol, err)
		}
	}
	return len(pairs), nil
}
