package main

import (
	"context"
	"time"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
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

func cmdRebuild(ctx context.Context, a *kraite, args []string) error {
	r := app.RebuildRequest{Topics: "orders,user-data-stream,mark-price"}
	fs := a.newFlags("rebuild", rebuildSynopsis)
	fs.StringVar(&r.Into, "into", "", "database to fill: mysql://..., postgres://..., sqlite:///path")
	fs.StringVar(&r.Topics, "topics", r.Topics, "topics to replay, comma separated catalog suffixes")
	fs.StringVar(&r.GroupSuffix, "group-suffix", "", "names the rebuild groups <prefix>rebuild-<S>-<sink> (default: the unix time)")
	fs.BoolVar(&r.Force, "force", false, "replay into a database whose order tables already hold rows")
	fs.DurationVar(&r.Interval, "progress-interval", time.Second, "how often progress is measured and printed")
	c, err := a.start(fs, args)
	if err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return app.RebuildInto(ctx, c, a.log, r, a.stdout, a.stderr)
}
