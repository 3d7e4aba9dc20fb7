package streambench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
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
	behind string // what caughtUp last found behind
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
	disp, err := dispatch.New(dispatch.Config{Kafka: kf, Brokers: brokers, Prefix: env.Prefix, Log: log.With("component", "dispatch"),
		Allowlists:  map[string][]string{topics.ExchangeBinance: binance.OrderExecutionTypes()},
		ViewOptions: append(kf.GokaViewOptions(1), goka.WithViewStorageBuilder(storage.MemoryBuilder()))},
		append(kf.WithLog(log).GokaProcessorOptions(1), goka.WithStorageBuilder(storage.MemoryBuilder()))...)
	if err != nil {
		return fail(err)
	}
	audit, err := auditsink.New(auditsink.Config{SinkConfig: auditsink.SinkConfig{
		Kafka: kf, Prefix: env.Prefix, Group: topics.GroupSinkAudit.Name(env.Prefix)}},
		d, log.With("component", "audit-sink"))
	if err != nil {
		return fail(err)
	}
	orders, err := orderssink.New(orderssink.Config{SinkConfig: orderssink.SinkConfig{
		Kafka: kf, Prefix: env.Prefix, Group: topics.GroupSinkOrders.Name(env.Prefix)}},
		d, log.With("component", "orders-sink"))
	if err != nil {
		return fail(err)
	}
	creds := map[string]binanceapi.Credentials{}
	for _, a := range env.Accounts {
		creds[a.ID] = binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}
	}
	sync := reconcile.OrderSyncHandler(reconcile.Deps{Exchange: topics.ExchangeBinance, Prefix: env.Prefix,
		REST: binanceapi.NewAt("http://"+env.SimAddr, binanceapi.BackgroundBudget), DB: d, Producer: p.prod, Log: log.With("component", "backfill"),
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
// committed everything on their topics; behind names the first that has
// not.
func (p *pipeline) caughtUp(ctx context.Context) bool {
	p.behind = ""
	groups := []string{topics.GroupSinkAudit.Name(p.prefix), topics.GroupSinkOrders.Name(p.prefix), topics.GroupGapWatcher.Name(p.prefix),
		topics.WorkerGroup(topics.Priority).Name(p.prefix)}
	lags, err := p.adm.Lag(ctx, groups...)
	if err != nil {
		p.behind = err.Error()
		return false
	}
	for _, g := range groups {
		l, ok := lags[g]
		switch {
		case !ok:
			p.behind = "group " + g + ": no lag reported"
		case l.Error() != nil:
			p.behind = fmt.Sprintf("group %s: %v", g, l.Error())
		case l.Lag.Total() > 0:
			p.behind = fmt.Sprintf("group %s: %d records behind", g, l.Lag.Total())
		default:
			continue
		}
		return false
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
	// Unreachable are the orders and algo orders of the ground truth the
	// database lacks, of an account that had an outage (its producer was
	// killed), in a symbol it holds nothing of for that account: no
	// frame of theirs was pushed (they opened and closed while no socket
	// was attached) and no REST read can find them (the exchange lists
	// past orders by symbol only, and the sync reads the symbols the
	// database, the open orders, the positions and the commissions name:
	// so only in a symbol where the account filled nothing in the run).
	// Counted in Lost, reported apart.
	Unreachable        int
	UnreachableDetails []string
	Converged          bool          // nothing lost but Unreachable, and every group caught up, within the bound
	Behind             string        // when not converged: the group still behind, if one was
	ConvergedAfter     time.Duration // from the end of trading
}

// OK reports whether nothing was lost but the unreachable orders, nothing
// doubled, nothing unknown to the exchange and nothing moved backwards.
func (r DatabaseResult) OK() bool {
	return r.Converged && r.LostTotal() == r.Unreachable && r.DuplicateTotal() == 0 && r.Phantom == 0 && r.Regressions == 0
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
		snap := chaos.SnapshotOf(env.Sim, ids, true)
		r, err := chaos.Compare(sctx, p.d, snap, opts)
		if err != nil {
			return r, false, err
		}
		n, details, err := unreachable(sctx, p.d, snap, drops)
		res.Unreachable, res.UnreachableDetails = n, details
		return r, err == nil && r.LostTotal() == n && r.Phantom == 0 && p.caughtUp(sctx), err
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
	if !res.Converged {
		res.Behind = p.behind
	}
	snap := chaos.SnapshotOf(env.Sim, ids, true)
	if res.Result, err = chaos.Compare(ctx, p.d, snap, opts); err != nil {
		return res, err
	}
	res.Unreachable, res.UnreachableDetails, err = unreachable(ctx, p.d, snap, drops)
	return res, err
}

// unreachable lists the orders and algo orders of snap the database lacks
// in a symbol in which it holds no order or algo order of that account and
// in which the account filled nothing (a fill pays commission, and the
// sync reads the symbols of the commissions), for the accounts that had an
// outage only (those of drops): in any other account such an order is
// lost, not excused.
func unreachable(ctx context.Context, d *db.DB, snap chaos.Snapshot, drops []chaos.Drop) (int, []string, error) {
	outage := map[string]bool{}
	for _, dr := range drops {
		outage[dr.Account] = true
	}
	type acctSym struct{ account, symbol string }
	known := map[acctSym]bool{}
	have := map[string]bool{} // account/o|a/id
	for _, q := range []struct{ sql, kind string }{
		{"SELECT account, symbol, order_id FROM orders WHERE exchange = ?", "o"},
		{"SELECT account, symbol, algo_id FROM algo_orders WHERE exchange = ?", "a"},
	} {
		rows, err := d.QueryContext(ctx, d.Rebind(q.sql), topics.ExchangeBinance)
		if err != nil {
			return 0, nil, fmt.Errorf("reading the stored orders: %w", err)
		}
		for rows.Next() {
			var a, sym string
			var id int64
			if err := rows.Scan(&a, &sym, &id); err != nil {
				rows.Close()
				return 0, nil, fmt.Errorf("reading the stored orders: %w", err)
			}
			known[acctSym{a, sym}] = true
			have[fmt.Sprintf("%s/%s/%d", a, q.kind, id)] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, nil, fmt.Errorf("reading the stored orders: %w", err)
		}
	}
	n := 0
	var details []string
	note := func(format string, args ...any) {
		n++
		if len(details) < 20 {
			details = append(details, fmt.Sprintf(format, args...))
		}
	}
	for _, a := range snap.Accounts {
		for _, o := range snap.Orders[a] {
			if q, err := strconv.ParseFloat(o.ExecutedQty, 64); err == nil && q > 0 {
				known[acctSym{a, o.Symbol}] = true
			}
		}
	}
	for _, a := range snap.Accounts {
		if !outage[a] {
			continue
		}
		for _, o := range snap.Orders[a] {
			if !have[fmt.Sprintf("%s/o/%d", a, o.OrderID)] && !known[acctSym{a, o.Symbol}] {
				note("%s order %d (%s %s %s cum %s)", a, o.OrderID, o.Symbol, o.Type, o.Status, o.ExecutedQty)
			}
		}
		for _, g := range snap.Algos[a] {
			if !have[fmt.Sprintf("%s/a/%d", a, g.AlgoID)] && !known[acctSym{a, g.Symbol}] {
				note("%s algo order %d (%s %s)", a, g.AlgoID, g.Symbol, g.Status)
			}
		}
	}
	return n, details, nil
}
