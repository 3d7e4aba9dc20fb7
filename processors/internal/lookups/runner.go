// Package lookups runs a goka processor together with the Views its
// callbacks read, so that no View is ever closed under a running callback.
//
// # Why not goka.Lookup
//
// goka v1.1.17's Processor.Run starts its Lookup views and its partition
// processors under one context. On cancellation a View closes at once and
// sets its partitions to nil (view.go close) while a callback may still be
// inside ctx.Lookup reading them: a data race, and a possible index panic,
// whenever records are still flowing at shutdown. The Runner owns the
// Views instead: they run under a context of their own, the processor
// starts only after every View has recovered (what goka's
// waitForStartupTables did), and the Views are cancelled only after the
// processor's Run returned, i.e. after every callback finished.
//
// A View that fails on its own is closed by goka before its Run returns;
// the Runner then stops the processor and returns the View's error, as a
// failing Lookup stopped the processor before.
//
// Guarded Views (guard.go) keep garbage out of a control table; Decoded
// (decoded.go) decodes a guarded View's value once per write instead of
// once per read.
package lookups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/processors/internal/gokastats"
)

// recoveredPoll is how often Run re-checks a View that reports running but
// not yet recovered in every partition.
const recoveredPoll = 10 * time.Millisecond

// Runner runs one goka processor and the Views its callbacks read.
type Runner struct {
	p       *goka.Processor
	views   map[goka.Table]*goka.View
	guards  []*Guard
	ran     atomic.Bool
	started chan struct{} // closed when the processor is started
	done    chan struct{} // closed when Run returned

	mu  sync.Mutex
	err error // what Run returned
}

// New returns a Runner for p and the Views its callbacks read. Each View
// must be used only through this Runner (do not Run it elsewhere).
func New(p *goka.Processor, views ...*goka.View) *Runner {
	r := &Runner{p: p, views: make(map[goka.Table]*goka.View, len(views)),
		started: make(chan struct{}), done: make(chan struct{})}
	for _, v := range views {
		r.views[goka.Table(v.Topic())] = v
	}
	return r
}

// Guard adds the Guards of the Runner's guarded Views: Run closes them
// after the Views stopped, Alerts lists theirs. Call it before Run.
func (r *Runner) Guard(gs ...*Guard) *Runner {
	r.guards = append(r.guards, gs...)
	return r
}

// Guards are the Runner's Guards.
func (r *Runner) Guards() []*Guard { return slices.Clone(r.guards) }

// Alerts are the current alerts of every guarded View of the Runner: the
// control-topic keys whose last record was refused as garbage. Safe to
// call at any time (a status page polls it).
func (r *Runner) Alerts() []Alert {
	var out []Alert
	for _, g := range r.guards {
		out = append(out, g.Alerts()...)
	}
	return out
}

// RegisterStats registers on reg a collector of the processor's goka
// statistics (kraite_goka_*, labelled with its group), read at scrape time
// (see processors/internal/gokastats), and each Guard's alerts
// (kraite_control_alert, kraite_control_records_refused_total).
func (r *Runner) RegisterStats(reg prometheus.Registerer) error {
	if err := gokastats.Register(reg, r.p); err != nil {
		return err
	}
	for _, g := range r.guards {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("registering control alerts of %s: %w", g.Table(), err)
		}
	}
	return nil
}

// Processor is the goka processor (Stop, Get, Stats, Partitions). Stop
// ends Run as cancelling its context does.
func (r *Runner) Processor() *goka.Processor { return r.p }

// View is the runner's View of table, or nil when it has none.
func (r *Runner) View(table goka.Table) *goka.View { return r.views[table] }

// Run starts the Views, waits until all of them have recovered, runs the
// processor until ctx ends or it fails, and only then stops the Views and
// waits for them. It returns nil when ctx ends before the processor's
// first rebalance (a shutdown during start-up is no failure). Run can be
// called once.
func (r *Runner) Run(ctx context.Context) (rerr error) {
	if !r.ran.CompareAndSwap(false, true) {
		return errors.New("running processor: Run can be called only once")
	}
	defer func() {
		r.mu.Lock()
		r.err = rerr
		r.mu.Unlock()
		close(r.done)
	}()

	// The Views' context is not ctx: it ends only when stopViews cancels
	// it, or (through the errgroup) when a View fails.
	vctx, cancelViews := context.WithCancel(context.Background())
	defer cancelViews()
	g, gctx := errgroup.WithContext(vctx)
	for table, v := range r.views {
		g.Go(func() error {
			if err := v.Run(gctx); err != nil {
				return fmt.Errorf("running view of %s: %w", table, err)
			}
			return nil
		})
	}
	stopViews := func(err error) error {
		cancelViews()
		err = errors.Join(err, g.Wait())
		for _, gd := range r.guards {
			err = errors.Join(err, gd.Close())
		}
		return err
	}

	if err := r.waitRecovered(ctx, gctx); err != nil {
		return stopViews(err)
	}
	if ctx.Err() != nil {
		return stopViews(nil)
	}

	pctx, cancelProc := context.WithCancel(ctx)
	defer cancelProc()
	setup := r.p.StateReader().WaitForStateMin(goka.ProcStateSetup)
	perr := make(chan error, 1)
	close(r.started)
	go func() { perr <- r.p.Run(pctx) }()
	var err error
	select {
	case err = <-perr:
	case <-gctx.Done(): // a View failed; vctx is cancelled only by stopViews
		cancelProc()
		err = <-perr
	}
	if err != nil && ctx.Err() != nil && !isClosed(setup) {
		// Asked to stop before its first rebalance, goka's Run may fail
		// with "context closed while waiting for startup tables": that is
		// the requested shutdown, not a failure.
		err = nil
	}
	if err != nil {
		err = fmt.Errorf("running processor: %w", err)
	}
	return stopViews(err)
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// waitRecovered blocks until every View is running and recovered in all
// its partitions. It returns nil when ctx ends, and an error when a View
// stopped first (the View's own error comes from the errgroup).
func (r *Runner) waitRecovered(ctx, views context.Context) error {
	tick := time.NewTicker(recoveredPoll)
	defer tick.Stop()
	for table, v := range r.views {
		select {
		case <-v.WaitRunning():
		case <-ctx.Done():
			return nil
		case <-views.Done():
			return fmt.Errorf("view of %s stopped before recovering", table)
		}
		// The merged View state can read "running" for a moment before
		// every partition reported; Recovered checks each partition.
		for !v.Recovered() {
			select {
			case <-tick.C:
			case <-ctx.Done():
				return nil
			case <-views.Done():
				return fmt.Errorf("view of %s stopped before recovering", table)
			}
		}
	}
	return nil
}

// WaitForReady blocks until the Views recovered and the processor is
// ready (goka's WaitForReadyContext), until Run ended (returning its
// error, or an error when it ended before starting the processor), or
// until ctx ends.
func (r *Runner) WaitForReady(ctx context.Context) error {
	select {
	case <-r.started:
	case <-r.done:
		select {
		case <-r.started:
		default:
			if err := r.Err(); err != nil {
				return err
			}
			return errors.New("processor stopped before it started")
		}
	case <-ctx.Done():
		return ctx.Err()
	}
	return r.p.WaitForReadyContext(ctx)
}

// Done is closed when Run returned.
func (r *Runner) Done() <-chan struct{} { return r.done }

// Err is what Run returned (nil while it runs).
func (r *Runner) Err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// Get reads key from v inside a callback, as ctx.Lookup did: a View that
// cannot answer (it is not running) fails the callback, which stops the
// processor, rather than deciding on a missing table.
func Get(ctx goka.Context, v *goka.View, key string) any {
	val, err := v.Get(key)
	if err != nil {
		ctx.Fail(fmt.Errorf("looking up %s in %s: %w", key, v.Topic(), err))
	}
	return val
}

// NewView creates the View of table that a processor's callbacks read.
// Views log through log (nil: goka's default logger); opts come after, so
// they can override it (goka.WithViewTester in tests; in production
// kclient.GokaViewOptions and a storage builder of the View's own).
func NewView(brokers []string, table goka.Table, codec goka.Codec, log *slog.Logger, opts []goka.ViewOption) (*goka.View, error) {
	var all []goka.ViewOption
	if log != nil {
		all = append(all, goka.WithViewLogger(slog.NewLogLogger(log.Handler(), slog.LevelDebug)))
	}
	v, err := goka.NewView(brokers, table, codec, append(all, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating view of %s: %w", table, err)
	}
	return v, nil
}
