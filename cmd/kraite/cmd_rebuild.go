package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/db"
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

func cmdRebuild(ctx context.Context, a *kraite, args []string) error {
	f := rebuildFlags{topics: "orders,user-data-stream,mark-price"}
	fs := a.newFlags("rebuild", rebuildSynopsis)
	fs.StringVar(&f.into, "into", "", "database to fill: mysql://..., postgres://..., sqlite:///path")
	fs.StringVar(&f.topics, "topics", f.topics, "topics to replay, comma separated catalog suffixes")
	fs.StringVar(&f.suffix, "group-suffix", f.suffix, "names the rebuild groups <prefix>rebuild-<S>-<sink> (default: the unix time)")
	fs.BoolVar(&f.force, "force", false, "replay into a database whose order tables already hold rows")
	fs.DurationVar(&f.interval, "progress-interval", time.Second, "how often progress is measured and printed")
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
	if f.suffix == "" {
		f.suffix = strconv.FormatInt(time.Now().Unix(), 10)
	}
	if err := f.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	specs, _ := f.specs()
	rc := app.RebuildConfig{Into: f.into, Topics: specs, GroupSuffix: f.suffix, Force: f.force, Interval: f.interval, Progress: a.stderr}
	d, err := app.OpenRebuildTarget(ctx, rc)
	if err != nil {
		return err
	}
	defer d.Close()
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	rep, err := app.Rebuild(ctx, c, adm, a.log, d, rc)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "rebuilt %s from %d records in %s (%s records/s); groups deleted: %s\n",
		db.MaskURL(f.into), rep.Records, rep.Elapsed.Round(100*time.Millisecond), app.Rate(rep.Records, rep.Elapsed), strings.Join(rep.Groups, ", "))
	return nil
}
