package streambench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/e2e"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/queues/worker"
	auditsink "github.com/kraite/stream/sinks/audit"
	orderssink "github.com/kraite/stream/sinks/orders"
	"github.com/kraite/stream/topics"
)

// pipeline is the database side of a failover run, in the parent process:
// dispatch, the audit sink (api_data_stream) and the orders sink (orders,
// order_fills) on a scratch database, and the gap backfill (the gap
// watcher and a priority-queue worker running the order sync against the
// simulator's REST API), so the outage's events come back from REST.
type pipeline struct {
	d      *db.DB
	drop   func()
	adm    *kadm.Client
	prod   *kgo.Client
	prefix string
	stop   func()
	done   chan error
}

// startPipeline creates a scratch database on the MariaDB/MySQL server of
// serverURL and starts the components writing it.
func startPipeline(ctx context.Context, env *Env, serverURL string, log *slog.Logger) (*pipeline, error) {
	d, drop, err := e2e.ScratchDB(ctx, serverURL, env.Sim.ExchangeInfo())
	if err != nil {
		return nil, fmt.Errorf("the failover's database: %w", err)
	}
	brokers := []string{env.Broker.Addr()}
	kf := kclient.ForBrokers(brokers...)
	p := &pipeline{d: d, drop: drop, adm: kadm.NewClient(env.cl), prefix: env.Prefix}
	fail := func(err error) (*pipeline, error) { p.close(); return nil, err }
	if p.prod, err = kf.Producer(kgo.ClientID("bench-failover-backfill")); err != nil {
		return fail(err)
	}
	// Every order execution type is dispatched (as kraite chaos does), so
	// every order the simulator reports must reach the orders table.
	disp, err := dispatch.New(dispatch.Config{Brokers: brokers, Prefix: env.Prefix, Log: log.With("component", "dispatch"),
		Allowlists:  map[string][]string{topics.ExchangeBinance: binance.OrderExecutionTypes()},
		ViewOptions: append(kf.GokaViewOptions(1), goka.WithViewStorageBuilder(storage.MemoryBuilder()))},
		append(kf.WithLog(log).GokaProcessorOptions(1), goka.WithStorageBuilder(storage.MemoryBuilder()))...)
	if err != nil {
		return fail(err)
	}
	audit, err := auditsink.New(auditsink.Config{Kafka: kf, Prefix: env.Prefix, Group: topics.GroupSinkAudit.Name(env.Prefix)},
		d, log.With("component", "audit-sink"))
	if err != nil {
		return fail(err)
	}
	orders, err := orderssink.New(orderssink.Config{Kafka: kf, Prefix: env.Prefix, Group: topics.GroupSinkOrders.Name(env.Prefix)},
		d, log.With("component", "orders-sink"))
	if err != nil {
		return fail(err)
	}
	creds := map[string]binanceapi.Credentials{}
	for _, a := range env.Accounts {
		creds[a.ID] = binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}
	}
	sync := reconcile.OrderSyncHandler(reconcile.Deps{Exchange: topics.ExchangeBinance, Prefix: env.Prefix,
		REST: binanceapi.New("http://" + env.SimAddr), DB: d, Producer: p.prod, Log: log.With("component", "backfill"),
		Account: func(id string) (binanceapi.Credentials, error) {
			c, ok := creds[id]
			if !ok {
				return c, fmt.Errorf("account %s is not a simulated account", id)
			}
			return c, nil
		},
		Every: syncEvery, GapLookback: 10 * time.Minute})
	wk, err := worker.New(worker.Config{Kafka: kf, Prefix: env.Prefix, Queue: topics.Priority,
		Handler: worker.Jobs(map[string]worker.JobHandler{reconcile.JobOrderSync: sync,
			reconcile.JobDrift: func(_ context.Context, j topics.Job) error {
				log.Warn("drift between the database and the exchange", "account", j.Account, "detail", string(j.Payload))
				return nil
			}}),
		RetryFor: time.Minute}, log.With("component", "priority-worker"))
	if err != nil {
		return fail(err)
	}
	gaps := &reconcile.GapWatcher{Kafka: kf, Prefix: env.Prefix, Log: log.With("component", "gap-watcher")}

	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	g, gctx := errgroup.WithContext(rctx)
	for _, c := range []struct {
		name string
		run  func(context.Context) error
	}{{"dispatch", disp.Run}, {"audit-sink", audit.Run}, {"orders-sink", orders.Run}, {"gap-watcher", gaps.Run}, {"priority-worker", wk.Run}} {
		g.Go(func() error {
			if err := c.run(gctx); err != nil && gctx.Err() == nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	p.stop, p.done = stop, make(chan error, 1)
	go func() { p.done <- g.Wait() }()
	if err := disp.WaitForReady(gctx); err != nil {
		return fail(fmt.Errorf("waiting for dispatch: %w", err))
	}
	return p, nil
}

// close stops the components and drops the scratch database.
func (p *pipeline) close() {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	if p.prod != nil {
		p.prod.Close()
	}
	p.drop()
}

// failed returns the error of a component that stopped, if one did.
func (p *pipeline) failed() error {
	select {
	case err := <-p.done:
		p.done <- err
		if err == nil {
			err = errors.New("the pipeline stopped")
		}
		return err
	default:
		return nil
	}
}

// caughtUp reports whether the sinks, the gap watcher and the worker have
// committed everything on their topics.
func (p *pipeline) caughtUp(ctx context.Context) bool {
	groups := []string{topics.GroupSinkAudit.Name(p.prefix), topics.GroupSinkOrders.Name(p.prefix), p.prefix + "gap-watcher",
		p.prefix + "worker." + topics.Priority.Suffix}
	lags, err := p.adm.Lag(ctx, groups...)
	if err != nil {
		return false
	}
	for _, g := range groups {
		l, ok := lags[g]
		if !ok || l.Error() != nil || l.Lag.Total() > 0 {
			return false
		}
	}
	return true
}

// DatabaseResult is the database after a failover run, compared with the
// simulator's ground truth (harness/chaos.Compare).
type DatabaseResult struct {
	chaos.Result
	// LostBeforeSweep are the orders and algo orders the gap backfill did
	// not bring back, before the order-sync sweep (an order opened and
	// closed during the outage in a symbol the database did not know for
	// the account: the exchange lists past orders by symbol only).
	LostBeforeSweep int
	Converged       bool          // nothing lost and every group caught up within the bound
	ConvergedAfter  time.Duration // from the end of trading
}

// syncEvery is the order-sync period the sweep of a run assumes: its first
// sweep reads two periods back, over the whole run.
const syncEvery = 30 * time.Minute

// settle stops trading, lets the sinks and the gap backfill catch up,
// compares, then runs one order-sync sweep per account (what the scheduler
// does every KRAITE_ORDER_SYNC_EVERY) and waits until the database holds
// the ground truth (every order in its state, every pushed frame audited,
// nothing in flight) or within passes, and compares again. drops are the
// sockets killed with their producer: a frame pushed in the instant before
// may never have been read (its events come back through the backfill).
func (p *pipeline) settle(ctx context.Context, env *Env, drops []chaos.Drop, within time.Duration) (DatabaseResult, error) {
	env.Sim.SetTrading(false)
	var ids []string
	for _, a := range env.Accounts {
		ids = append(ids, a.ID)
	}
	opts := chaos.Options{Drops: drops, Overlaps: true}
	var res DatabaseResult
	paused := time.Now()
	sctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	compare := func() (chaos.Result, bool, error) {
		if err := p.failed(); err != nil {
			return chaos.Result{}, false, err
		}
		r, err := chaos.Compare(sctx, p.d, chaos.SnapshotOf(env.Sim, ids, true), opts)
		return r, err == nil && r.LostTotal() == 0 && r.Phantom == 0 && p.caughtUp(sctx), err
	}
	// The sinks and the gap backfill first.
	for sctx.Err() == nil && !p.caughtUp(sctx) {
		backoff.Sleep(sctx, time.Second)
	}
	backoff.Sleep(sctx, time.Second)
	r, _, err := compare()
	if err != nil && sctx.Err() == nil {
		return res, err
	}
	res.LostBeforeSweep = r.Lost.Orders + r.Lost.AlgoOrders
	// Then the sweep.
	now := time.Now()
	var jobs []*kgo.Record
	for _, id := range ids {
		v, _ := json.Marshal(topics.Job{ID: "bench-sweep@" + id, Type: reconcile.JobOrderSync, Account: id, ScheduledMs: now.UnixMilli()})
		jobs = append(jobs, &kgo.Record{Topic: topics.Priority.Name(p.prefix), Key: []byte(id), Value: v})
	}
	if err := p.prod.ProduceSync(sctx, jobs...).FirstErr(); err != nil {
		return res, fmt.Errorf("raising the order-sync sweeps: %w", err)
	}
	for {
		_, ok, err := compare()
		if ok {
			res.Converged = true
			break
		}
		if err != nil && sctx.Err() == nil {
			return res, err
		}
		if sctx.Err() != nil {
			break
		}
		backoff.Sleep(sctx, time.Second)
	}
	res.ConvergedAfter = time.Since(paused)
	res.Result, err = chaos.Compare(ctx, p.d, chaos.SnapshotOf(env.Sim, ids, true), opts)
	return res, err
}
