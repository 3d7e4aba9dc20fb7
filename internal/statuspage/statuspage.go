// Package statuspage is the live status page of a Kraite process and the
// gauges behind it. It is built for an operator of a trading system: what
// needs action comes first (the problems panel, the component health
// strip), then the state behind it: the WebSocket streams of this process,
// the regime score over the last hour with its band and gate, consumer lag
// per group with stall detection, mark-price freshness per venue, open
// positions and recent fills, the dispatch allowlist, the gate's recent
// refusals and the most recent quarantine records.
//
// A [Collector] reads everything from Kafka (and, when given, the database
// and the process's own components), so any box can serve the page: a
// section whose source is not in this process says so instead of failing.
//
// # Sources
//
//   - one direct franz-go consumer (no group, nothing committed) follows the
//     regime table, regime-changes, regime-overrides, allowlist,
//     open-intents.rejected, quarantine (the last hour) and mark-price
//     topics from a short tail, added as the topics appear;
//   - every Interval (2 s) the admin API gives consumer lag (kadm.Lag over
//     the kraite groups) and the quarantine topic's end offsets, and the
//     database (if any) the newest mark_price_synced_at per venue, the
//     drifting and open positions and the newest fills;
//   - the process itself, when it runs them: its streams, its liveness and
//     readiness checks, and the alerts of its gate and dispatch processors.
//
// # Untrusted records
//
// Anyone with access may write these topics, so the page applies control
// records as their readers do (fail closed): a refused allowlist or
// override record never changes what is shown as in force, it raises an
// alert instead (see problems.go), every kept map is bounded, and every
// text field shown is cut.
//
// # Serving
//
// [Collector.Mount] adds GET / (a self-contained HTML page that polls
// status.json every 2 s) and GET /status.json to an ops server. The gauges
// are registered on Config.Registerer at [New].
package statuspage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/topics"
)

// Config configures a Collector. Every source but Kafka is optional.
type Config struct {
	// Kafka builds the page's client.
	Kafka *kclient.Factory
	// Prefix is the topic prefix (default topics.DefaultPrefix).
	Prefix string
	// Process names this process in the page header ("kraite dev", "athena").
	Process string
	// Interval is the refresh period of lag, database and topic discovery
	// (default 2 s).
	Interval time.Duration
	// Window is how much regime history is kept (default 1 h).
	Window time.Duration
	// Quarantine is how many recent quarantine records are shown (default 20).
	Quarantine int
	// DefaultAllowlists is what dispatch applies while the allowlist topic
	// holds nothing for an exchange (default dispatch.DefaultAllowlists()).
	DefaultAllowlists map[string][]string
	// DB, when set, gives per-venue mark-price freshness from exchange_symbols.
	DB *db.DB
	// Streams, when set, reports this process's WebSocket streams.
	Streams *StreamSource
	// ControlAlerts, when set, lists the refused control records of this
	// process's processors (gate and dispatch Runners' Alerts). Without it
	// the page still shows them from the quarantine topic and its own
	// check of the control topics.
	ControlAlerts func() []ControlAlert
	// Checks, when set, runs this process's liveness and readiness checks
	// (what /healthz and /readyz say) for the component health strip.
	Checks func() (health, ready []CheckResult)
	// StallAfter is how long a partition with records waiting may keep
	// its committed offset before its group counts as stalled (default 2 min).
	StallAfter time.Duration
	// DriftGrace is how long an observed position may disagree with the
	// exchange's before the page lists it (default 6 min, as
	// KRAITE_POSITION_DRIFT_GRACE): shorter disagreements are fills on
	// their way.
	DriftGrace time.Duration
	// ProblemWindow is how far back quarantine growth is counted (default
	// 10 min, at most 1 h).
	ProblemWindow time.Duration
	// Registerer receives the gauges; nil registers nothing.
	Registerer prometheus.Registerer
	// Log is the logger (default: discard).
	Log *slog.Logger
}

// StreamSource is the in-process state of the WebSocket producers. Either
// function may be nil when that producer does not run in this process.
type StreamSource struct {
	// Accounts lists the user-data accounts and whether each socket is attached.
	Accounts func() []Account
	// LastFrames lists when each (stream, account) last delivered a frame.
	LastFrames func() []Frame
	// Counts lists the reconnects and gap markers of each (stream,
	// account) since the process started (the producer metrics).
	Counts func() []StreamCount
	// REST reports this process's exchange REST client: weight used and
	// ban state. nil when no REST client runs here.
	REST func() RESTState
}

// StreamCount is how often a stream reconnected and how many gap markers
// it published; Account is "" for a public stream.
type StreamCount struct {
	Stream     string
	Account    string
	Reconnects int64
	Gaps       int64
}

// MergeREST merges the states of a box's REST clients of one exchange:
// weight and ban are the IP's, so the newest weight report wins and the
// latest ban end is the IP's.
func MergeREST(states ...RESTState) RESTState {
	var out RESTState
	for _, s := range states {
		if out.Exchange == "" {
			out.Exchange = s.Exchange
		}
		if s.UsedAt.After(out.UsedAt) {
			out.UsedWeight, out.UsedAt = s.UsedWeight, s.UsedAt
		}
		out.WeightLimit = max(out.WeightLimit, s.WeightLimit)
		if s.BannedUntil.After(out.BannedUntil) {
			out.BannedUntil = s.BannedUntil
		}
	}
	return out
}

// RESTState is an exchange REST client's weight budget and ban state.
type RESTState struct {
	Exchange    string
	UsedWeight  int64     // the last X-MBX-USED-WEIGHT-1M the exchange reported
	UsedAt      time.Time // when (zero: no answer yet)
	WeightLimit int64     // per minute
	BannedUntil time.Time // a 418 ban's end (zero: never banned)
}

// Account is one user-data account of this process.
type Account struct {
	ID        string
	Connected bool
	// Problem says why an account that should stream is not running (not
	// in the accounts table, a version ahead of the table, no secret...);
	// Closed why it is deliberately not streamed (disabled). Both come
	// from the producer's assigner; empty otherwise.
	Problem, Closed string
	// ListenKeyAt is when the stream obtained its listenKey (zero:
	// unknown); KeptAliveAt when it last kept it alive (zero: not yet).
	ListenKeyAt, KeptAliveAt time.Time
}

// Frame is the last frame of a stream; Account is "" for a public stream.
type Frame struct {
	Stream  string
	Account string
	At      time.Time
}

// CheckResult is one component check's outcome; Err nil is ok.
type CheckResult struct {
	Name string
	Err  error
}

// Validate names the bad field.
func (c Config) Validate() error {
	switch {
	case c.Kafka.Validate() != nil:
		return fmt.Errorf("status page config: %w", c.Kafka.Validate())
	case c.Interval < 0:
		return errors.New("status page config: interval must not be negative")
	case c.Window < 0:
		return errors.New("status page config: window must not be negative")
	case c.Quarantine < 0:
		return errors.New("status page config: quarantine must not be negative")
	case c.DriftGrace < 0:
		return errors.New("status page config: drift grace must not be negative")
	case c.StallAfter < 0:
		return errors.New("status page config: stall-after must not be negative")
	case c.ProblemWindow < 0 || c.ProblemWindow > lookback:
		return fmt.Errorf("status page config: problem window must be between 0 and %s", lookback)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Prefix == "" {
		c.Prefix = topics.DefaultPrefix
	}
	if c.Interval == 0 {
		c.Interval = 2 * time.Second
	}
	if c.Window == 0 {
		c.Window = time.Hour
	}
	if c.Quarantine == 0 {
		c.Quarantine = 20
	}
	if c.StallAfter == 0 {
		c.StallAfter = 2 * time.Minute
	}
	if c.DriftGrace == 0 {
		c.DriftGrace = 6 * time.Minute
	}
	if c.ProblemWindow == 0 {
		c.ProblemWindow = 10 * time.Minute
	}
	if c.DefaultAllowlists == nil {
		c.DefaultAllowlists = dispatch.DefaultAllowlists()
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Collector keeps the status snapshot fresh. Run it once; Snapshot, the
// handlers and the gauges are safe to use concurrently with Run (before Run
// they report empty sections).
type Collector struct {
	cfg     Config
	st      *state
	started time.Time
	build   Build

	mu     sync.Mutex
	warned map[string]string // section -> last error logged
}

// New validates cfg and registers the gauges on cfg.Registerer.
func New(cfg Config) (*Collector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	c := &Collector{cfg: cfg, st: newState(cfg.Prefix, cfg.Window, cfg.Quarantine), warned: map[string]string{},
		started: time.Now(), build: readBuild()}
	c.st.stallAfter = cfg.StallAfter
	if cfg.Registerer != nil {
		if err := cfg.Registerer.Register(&gauges{c: c}); err != nil {
			return nil, fmt.Errorf("registering status page gauges: %w", err)
		}
	}
	return c, nil
}

// Run follows the topics and refreshes lag and freshness every Interval
// until ctx ends; it returns nil then. Kafka or database errors never stop
// it: they show on the page and are logged once per change.
func (c *Collector) Run(ctx context.Context) error {
	cl, err := c.cfg.Kafka.Client(kgo.ClientID("kraite-status-page"), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return fmt.Errorf("creating status page client: %w", err)
	}
	defer cl.Close()
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { c.consume(gctx, cl); return nil })
	g.Go(func() error { c.refreshLoop(gctx, cl); return nil })
	return g.Wait()
}

// consume applies every fetched record to the state until ctx ends.
func (c *Collector) consume(ctx context.Context, cl *kgo.Client) {
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return
		}
		var errs []error
		fs.EachError(func(t string, p int32, err error) {
			errs = append(errs, fmt.Errorf("fetching %s/%d: %w", t, p, err))
		})
		c.st.setErr("fetch", errors.Join(errs...))
		c.note("fetch", errors.Join(errs...))
		c.st.apply(fs)
		if len(errs) > 0 && fs.NumRecords() == 0 {
			select { // errors only (broker down): do not spin
			case <-ctx.Done():
				return
			case <-time.After(c.cfg.Interval):
			}
		}
	}
}

func (c *Collector) refreshLoop(ctx context.Context, cl *kgo.Client) {
	adm := kadm.NewClient(cl)
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	for {
		c.refresh(ctx, cl, adm)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// refresh is one round of the admin and database queries, each bounded so
// a slow source cannot hold the others back.
func (c *Collector) refresh(ctx context.Context, cl *kgo.Client, adm *kadm.Client) {
	step := func(section string, fn func(context.Context) error) {
		sctx, cancel := context.WithTimeout(ctx, max(5*time.Second, c.cfg.Interval))
		defer cancel()
		start := time.Now()
		err := fn(sctx)
		if ctx.Err() != nil {
			return
		}
		c.st.setSource(section, time.Since(start), err, start)
		c.st.setErr(section, err)
		c.note(section, err)
	}
	step("kafka", func(ctx context.Context) error { return c.discover(ctx, cl, adm) })
	step("lag", func(ctx context.Context) error { return c.refreshLag(ctx, adm) })
	step("quarantine", func(ctx context.Context) error { return c.refreshQuarantineTotal(ctx, adm) })
	if c.cfg.DB != nil {
		step("database", c.refreshVenues)
		step("positions", c.refreshDrifts)
		step("trading", c.refreshTrading)
	}
	c.st.decodePending()
}

// note logs err once per section until it changes or clears.
func (c *Collector) note(section string, err error) {
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.warned[section] == msg {
		return
	}
	c.warned[section] = msg
	if err != nil {
		c.cfg.Log.Warn("status page source failing", "section", section, "err", err)
	} else {
		c.cfg.Log.Info("status page source recovered", "section", section)
	}
}
