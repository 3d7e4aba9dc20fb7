package userdata

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/producers/publisher"
)

// Manager runs one stream per account and applies account changes while
// running: SetAccounts starts new accounts, stops removed ones and restarts
// those whose credentials changed, without touching the others. A panic in
// one account's stream is recovered, counted and the stream restarted: one
// account's failure never disturbs another's.
type Manager struct {
	cfg  Config
	rest *binanceapi.Client
	pub  *publisher.Publisher
	m    *publisher.Metrics
	log  *slog.Logger

	updates chan []Account // 1-slot mailbox: the newest desired set wins

	mu       sync.Mutex
	running  map[string]*runner
	problems map[string]string // accounts that should stream but cannot, with why
	closed   map[string]string // accounts deliberately not streamed (disabled), with why

	hook func(Account, []byte) // tests only, see stream.hook
}

type runner struct {
	st     *stream
	cancel context.CancelFunc
	done   chan struct{}
}

// New validates cfg and returns a Manager streaming accounts once Run starts.
func New(cfg Config, accounts []Account, pub *publisher.Publisher, m *publisher.Metrics, log *slog.Logger) (*Manager, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("user data producer config: %w", err)
	}
	mg := &Manager{
		cfg: cfg, rest: binanceapi.NewAt(cfg.RESTBase, binanceapi.StreamBudget), pub: pub, m: m, log: log,
		updates: make(chan []Account, 1), running: map[string]*runner{},
	}
	mg.SetAccounts(accounts)
	return mg, nil
}

// SetAccounts replaces the desired set of accounts. It never blocks.
func (mg *Manager) SetAccounts(accounts []Account) {
	cp := append([]Account(nil), accounts...)
	for {
		select {
		case mg.updates <- cp:
			return
		default:
			select {
			case <-mg.updates: // drop the older pending set
			default:
			}
		}
	}
}

// Run streams until ctx ends, then stops every account and waits for them.
func (mg *Manager) Run(ctx context.Context) error {
	defer mg.stopAll()
	for {
		select {
		case <-ctx.Done():
			return nil
		case accts := <-mg.updates:
			mg.apply(ctx, accts)
		}
	}
}

func (mg *Manager) apply(ctx context.Context, accts []Account) {
	want := map[string]Account{}
	for _, a := range accts {
		if a.ID == "" {
			mg.log.Error("account without id ignored")
			continue
		}
		want[a.ID] = a
	}
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for id, r := range mg.running {
		if a, ok := want[id]; !ok || !a.same(r.st.acct) {
			r.cancel()
			<-r.done
			delete(mg.running, id)
			mg.m.Forget(streamName, id)
			mg.log.Info("account stream stopped", "account", id)
		}
	}
	for id, a := range want {
		if _, ok := mg.running[id]; ok {
			continue
		}
		rctx, cancel := context.WithCancel(ctx)
		r := &runner{st: mg.newStream(a), cancel: cancel, done: make(chan struct{})}
		mg.running[id] = r
		go mg.supervise(rctx, r)
		mg.log.Info("account stream started", "account", id, "api_key", binanceapi.Mask(a.APIKey))
	}
}

func (mg *Manager) newStream(a Account) *stream {
	return &stream{
		acct: a, cfg: mg.cfg, rest: mg.rest, pub: mg.pub, m: mg.m, hook: mg.hook,
		log:   mg.log.With("account", a.ID),
		topic: streamTopic(mg.cfg.TopicPrefix),
	}
}

// supervise runs one account's stream and restarts it after a panic.
func (mg *Manager) supervise(ctx context.Context, r *runner) {
	defer close(r.done)
	down, reason := time.Time{}, reasonStartup
	if h := r.st.acct.HandOver; !h.Until.IsZero() {
		down, reason = h.Released, reasonHandOver
		r.st.handOverUntil = h.Until
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		func() {
			defer func() {
				if p := recover(); p != nil {
					r.st.log.Error("account stream panicked; restarting it", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
					down, reason = time.Now(), reasonPanic
					r.st.connected.Store(false)
				}
			}()
			down, reason = r.st.run(ctx, down, reason)
		}()
		if ctx.Err() == nil && !mg.cfg.Backoff.Sleep(ctx, min(attempt, 5)) {
			return
		}
	}
}

func (mg *Manager) stopAll() {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	for id, r := range mg.running {
		r.cancel()
		<-r.done
		delete(mg.running, id)
	}
}

// AccountStatus is one account's state for status pages.
type AccountStatus struct {
	ID        string
	Connected bool
	// Problem says why an account this producer should stream is not
	// running (unknown account, unreadable secret); empty otherwise.
	Problem string
	// Closed says why an account this producer knows is deliberately not
	// streamed (disabled on kraite.accounts): not a problem, not a down
	// stream.
	Closed string
	// ListenKeyAt is when the stream obtained the listenKey it uses (at its
	// last connect; zero before); KeptAliveAt when it last kept it alive
	// (zero before the first keep-alive of that key).
	ListenKeyAt, KeptAliveAt time.Time
}

func unixMsOrZero(ms int64) time.Time {
	if ms <= 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// SetProblems replaces the accounts that should stream but cannot, with
// the reason of each (they show in Status as not connected).
func (mg *Manager) SetProblems(problems map[string]string) {
	cp := maps.Clone(problems)
	mg.mu.Lock()
	mg.problems = cp
	mg.mu.Unlock()
}

// SetClosed replaces the accounts that are deliberately not streamed
// (disabled), with the reason of each (they show in Status with Closed).
func (mg *Manager) SetClosed(closed map[string]string) {
	cp := maps.Clone(closed)
	mg.mu.Lock()
	mg.closed = cp
	mg.mu.Unlock()
}

// REST is the producer's exchange REST client (listenKeys), for status
// pages (its weight used and ban state).
func (mg *Manager) REST() *binanceapi.Client { return mg.rest }

// Status lists the running accounts, those that cannot run and those
// deliberately closed, in id order.
func (mg *Manager) Status() []AccountStatus {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	out := make([]AccountStatus, 0, len(mg.running)+len(mg.problems))
	for id, r := range mg.running {
		out = append(out, AccountStatus{ID: id, Connected: r.st.connected.Load(),
			ListenKeyAt: unixMsOrZero(r.st.keyAt.Load()), KeptAliveAt: unixMsOrZero(r.st.keptAt.Load())})
	}
	for id, why := range mg.problems {
		if _, ok := mg.running[id]; !ok {
			out = append(out, AccountStatus{ID: id, Problem: why})
		}
	}
	for id, why := range mg.closed {
		if _, ok := mg.running[id]; !ok && mg.problems[id] == "" {
			out = append(out, AccountStatus{ID: id, Closed: why})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// running_ lists the accounts the Manager streams now.
func (mg *Manager) runningAccounts() []Account {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	out := make([]Account, 0, len(mg.running))
	for _, r := range mg.running {
		out = append(out, r.st.acct)
	}
	return out
}

func (mg *Manager) count() int {
	mg.mu.Lock()
	defer mg.mu.Unlock()
	return len(mg.running)
}
