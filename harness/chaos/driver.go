package chaos

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/kraite/stream/internal/backoff"
)

// Injected is what an injection reports back.
type Injected struct {
	Target string // what was hit: an account and its sockets, a process id, a group
	// Recovered reports whether the system is back from the fault; it is
	// polled from the end of the fault until it says true. An error is a
	// failed probe (e.g. the database still unreachable) and polling goes on.
	Recovered func(ctx context.Context) (bool, error)
	Measure   string // what Recovered checks, for the report
}

// Injector applies faults. Inject returns when the fault's condition has
// been removed again (at once for a drop, after f.For for an outage).
type Injector interface {
	Inject(ctx context.Context, f Fault) (Injected, error)
}

// Outcome is what happened to one planned fault.
type Outcome struct {
	Fault
	Target     string    `json:"target,omitempty"`
	InjectedAt time.Time `json:"injected_at"`
	Injected   bool      `json:"injected"`
	Lasted     Seconds   `json:"lasted_s"` // from injection to the end of the condition
	Recovered  bool      `json:"recovered"`
	// RecoveredAfter is measured from the end of the condition.
	RecoveredAfter Seconds `json:"recovered_after_s"`
	Measure        string  `json:"measure,omitempty"`
	Error          string  `json:"error,omitempty"` // why it was not injected, or the last failed probe
}

// Run is a plan being driven.
type Run struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	out    []Outcome
}

// Drive injects every fault of plan at start+f.At on its own goroutine,
// then polls its recovery every poll. It returns at once; Wait collects.
func Drive(ctx context.Context, start time.Time, plan []Fault, inj Injector, poll time.Duration, log *slog.Logger) *Run {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	r := &Run{cancel: cancel, out: make([]Outcome, len(plan))}
	for i, f := range plan {
		r.out[i] = Outcome{Fault: f}
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.drive(ctx, i, start, f, inj, poll, log)
		}()
	}
	return r
}

func (r *Run) set(i int, fn func(o *Outcome)) {
	r.mu.Lock()
	fn(&r.out[i])
	r.mu.Unlock()
}

func (r *Run) drive(ctx context.Context, i int, start time.Time, f Fault, inj Injector, poll time.Duration, log *slog.Logger) {
	if !backoff.Until(ctx, start.Add(f.At)) {
		r.set(i, func(o *Outcome) { o.Error = "the run ended before the fault was due" })
		return
	}
	at := time.Now()
	log.Info("injecting fault", "fault", f.String())
	in, err := inj.Inject(ctx, f)
	end := time.Now()
	if err != nil {
		log.Error("injecting fault failed", "fault", f.String(), "err", err)
		r.set(i, func(o *Outcome) { o.InjectedAt, o.Error = at, err.Error() })
		return
	}
	r.set(i, func(o *Outcome) {
		o.InjectedAt, o.Injected, o.Target, o.Measure, o.Lasted = at, true, in.Target, in.Measure, Seconds(end.Sub(at))
	})
	if in.Recovered == nil {
		r.set(i, func(o *Outcome) { o.Recovered = true })
		return
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		ok, err := in.Recovered(ctx)
		if ok {
			took := time.Since(end)
			log.Info("recovered from fault", "fault", f.String(), "after", took.Round(time.Millisecond))
			r.set(i, func(o *Outcome) { o.Recovered, o.RecoveredAfter, o.Error = true, Seconds(took), "" })
			return
		}
		if err != nil {
			r.set(i, func(o *Outcome) { o.Error = err.Error() })
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Pending is how many faults are not yet injected and recovered.
func (r *Run) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, o := range r.out {
		if !o.Recovered {
			n++
		}
	}
	return n
}

// Wait waits until every fault has been injected and has recovered, or ctx
// ends (then whatever has not recovered is reported as such), and returns
// the outcomes in plan order.
func (r *Run) Wait(ctx context.Context) []Outcome {
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		r.cancel()
		<-done
	}
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := append([]Outcome(nil), r.out...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out
}
