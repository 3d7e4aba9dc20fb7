package app

import (
	"context"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/queues/scheduler"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// The registry of Kraite: every component by name (roles, internal/roles,
// are lists of these names; the consumer groups a component runs are
// declared in the topic catalog, topics.Groups), the worker of every queue
// topic, and the job-handler table of the workers. A new sink, processor or
// job is its own package plus one line here.

// builders maps component names to constructors.
var builders = map[string]func(ctx context.Context, w *App) (Component, error){
	"userdata-producer":   buildUserData,
	"markprice-producer":  buildMarkPrice,
	"dispatch":            buildDispatch,
	"regime":              buildRegime,
	"gate":                buildGate,
	"scheduler":           buildScheduler,
	"gap-watcher":         buildGapWatcher,
	"regime-history-sink": buildRegimeHistorySink,
	"positions-worker":    buildPositionsWorker,
	"audit-sink":          buildAuditSink,
	"markprice-sink":      buildMarkPriceSink,
	"orders-sink":         buildOrdersSink,
}

// jobWorkers are the components that run the job-handler table on a queue
// topic: one per queue of jobs. kraite.default has one too, so a job
// published there is handled, or parked on kraite.quarantine when no
// handler knows its type, instead of waiting forever.
var jobWorkers = map[string]topics.Spec{
	"trading-worker":    topics.Priority,
	"cron-worker":       topics.Cronjobs,
	"indicators-worker": topics.Indicators,
	"default-worker":    topics.Default,
}

func init() {
	for name, queue := range jobWorkers {
		builders[name] = func(ctx context.Context, w *App) (Component, error) {
			return buildWorker(ctx, w, name, queue)
		}
	}
}

// Schedules are the scheduler's schedules: the periodic jobs, each on its
// queue. Per-account schedules are spread over their period
// (scheduler.Spreaded), so a thousand accounts' syncs do not all start at
// the same instant.
func (je Jobs) Schedules() []scheduler.Schedule {
	return []scheduler.Schedule{
		scheduler.Spreaded(scheduler.Schedule{Name: reconcile.JobOrderSync, Every: je.OrderSyncEvery, Queue: topics.Cronjobs, PerAccount: true}),
		scheduler.Spreaded(scheduler.Schedule{Name: reconcile.JobKeepAlive, Every: je.KeepAliveEvery, Queue: topics.Priority, PerAccount: true}),
		{Name: marketjobs.JobKlineFetch, Every: je.KlineEvery, Jitter: je.KlineEvery / 12, Queue: topics.Cronjobs},
		{Name: marketjobs.JobIndicators, Every: je.KlineEvery, Jitter: je.KlineEvery / 4, Queue: topics.Indicators},
		scheduler.Spreaded(scheduler.Schedule{Name: marketjobs.JobBalanceSnapshot, Every: je.BalanceEvery, Queue: topics.Cronjobs, PerAccount: true}),
		{Name: marketjobs.JobSymbolRefresh, Every: je.SymbolsEvery, Jitter: je.SymbolsEvery / 48, Queue: topics.Cronjobs},
	}
}

// QueueConsumers maps every queue topic (suffix) to the components that
// consume it: the queue's worker, or the processors and sinks of the
// user-data and orders queues, from the groups of the topic catalog.
func QueueConsumers() map[string][]string {
	out := map[string][]string{}
	for _, q := range topics.Queues() {
		for _, g := range topics.Groups() {
			if g.Component != "" && g.Consumes("", q.Suffix) {
				out[q.Suffix] = append(out[q.Suffix], g.Component)
			}
		}
		sort.Strings(out[q.Suffix])
	}
	return out
}

// jobHandlers is the job-handler table of the worker name: every job type
// of the queue packages, each registered once.
func (w *App) jobHandlers(name string, d *db.DB, prod *kgo.Client) (map[string]worker.JobHandler, error) {
	rest, log, je := w.restClient(), w.Log.With("component", name), w.Jobs
	tables := []map[string]worker.JobHandler{
		reconcile.Handlers(reconcile.Deps{Exchange: topics.ExchangeBinance, Prefix: w.Common.TopicPrefix,
			REST: rest, KeepAliveREST: w.urgentREST(), DB: d, Producer: prod, Account: w.credentials, Log: log, Book: &positions.Book{DB: d},
			Every: je.OrderSyncEvery, GapLookback: je.GapLookback, DriftGrace: je.DriftGrace}),
		marketjobs.Handlers(marketjobs.Deps{Rest: rest, DB: d, Log: log, Symbols: je.KlineSymbols, Account: w.credentials}),
	}
	return mergeHandlers(tables...)
}

// mergeHandlers is one table of several; a job type two packages claim is
// an error, not a silent override.
func mergeHandlers(tables ...map[string]worker.JobHandler) (map[string]worker.JobHandler, error) {
	out := map[string]worker.JobHandler{}
	for _, t := range tables {
		for typ, h := range t {
			if _, dup := out[typ]; dup {
				return nil, fmt.Errorf("job type %q has two handlers", typ)
			}
			out[typ] = h
		}
	}
	return out, nil
}
