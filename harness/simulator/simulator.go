// Package simulator is a Binance USD-M futures exchange that runs in-process
// (tests) or as `kraite simulator`: REST (listenKey, signed orders and algo
// orders, balances, exchangeInfo, klines), the 2026 WebSocket routes
// (/private user data, /market mark prices) and an /admin API for faults.
//
// It trades against itself deterministically from [Config.Seed]: mark prices
// walk around each instrument's base price, and every account runs a
// lifecycle generator that places, fills, amends, cancels, expires and
// liquidates orders and walks algo orders through ALGO_UPDATE. Frames are
// shaped exactly like Binance's (prices as strings, int64 ids, ai as a
// string, listenKeyExpired with a string E).
//
// # Ground truth
//
// Tests compare what a pipeline stored with what really happened:
// [Simulator.PushedFrames] is every user-data frame actually written to a
// socket, [Simulator.Orders] and [Simulator.AlgoOrders] are the latest state
// of every order the simulator ever reported, whether or not its frame was
// delivered.
//
// # Faults
//
// DropConnections, Silence, ExpireListenKey, InjectMalformed, LoseNext and
// RateLimit (also POST /admin/fault) reproduce what Binance does to a
// long-running client; see each method.
//
// # Concurrency
//
// Every exported method is safe for concurrent use. Sockets never block the
// simulator: each has a bounded queue and a client that falls behind is
// dropped.
package simulator

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a Simulator. The zero value is valid: every zero field
// takes its default.
type Config struct {
	Seed              int64         // default 1
	Accounts          int           // default 3
	MarkPriceInterval time.Duration // default 1s (tests: 20ms)
	// OrderInterval is the mean gap between lifecycle steps per account;
	// default 2s (tests: 5ms). A negative value means never: only Step and
	// REST drive orders.
	OrderInterval time.Duration
	PingInterval  time.Duration // server ping; default 3m
	PongTimeout   time.Duration // drop a client that has not ponged a ping; default 10m
	MaxConnAge    time.Duration // close connections older than this; default 24h
	ListenKeyTTL  time.Duration // default 60m
	// WeightLimit is REQUEST_WEIGHT per minute before 429 -1003; default
	// 2400, negative disables the limit.
	WeightLimit int
	Logger      *slog.Logger // nil = discard
	// Now is the simulator clock: E/T, ground-truth times, listenKey TTL,
	// the mark price walk and klines; nil = time.Now. Tests pass a fixed
	// clock to get byte-identical frames (keys then expire only through
	// ExpireListenKey). Socket timers (ping, pong, age), Silence and
	// recvWindow always use wall time.
	Now func() time.Time
	// StateFile, when set, keeps the exchange's state across restarts (see
	// state.go): New loads it if it exists, Run saves it every StateEvery
	// (default 5s) and when it stops.
	StateFile  string
	StateEvery time.Duration
	// AdminToken, when set, is required on every /admin request as
	// "Authorization: Bearer <token>" (401 otherwise). Empty leaves the
	// admin API without a token, for in-process tests; the kraite commands
	// always set one.
	AdminToken string
	// AdminRemote lets /admin answer clients that are not on a loopback
	// address; by default they get 403.
	AdminRemote bool
}

// MaxAccounts bounds Config.Accounts.
const MaxAccounts = 10000

// Validate reports every invalid field at once.
func (c Config) Validate() error {
	var errs []error
	if c.Accounts < 0 || c.Accounts > MaxAccounts {
		errs = append(errs, fmt.Errorf("accounts: %d is not within 0..%d", c.Accounts, MaxAccounts))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"mark price interval", c.MarkPriceInterval},
		{"ping interval", c.PingInterval},
		{"pong timeout", c.PongTimeout},
		{"max connection age", c.MaxConnAge},
		{"listenKey TTL", c.ListenKeyTTL},
		{"state interval", c.StateEvery},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s: %v must not be negative", d.name, d.v))
		}
	}
	return errors.Join(errs...)
}

func (c Config) withDefaults() Config {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Accounts == 0 {
		c.Accounts = 3
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.MarkPriceInterval, time.Second)
	def(&c.PingInterval, 3*time.Minute)
	def(&c.PongTimeout, 10*time.Minute)
	def(&c.MaxConnAge, 24*time.Hour)
	def(&c.ListenKeyTTL, 60*time.Minute)
	def(&c.StateEvery, 5*time.Second)
	switch {
	case c.OrderInterval == 0:
		c.OrderInterval = 2 * time.Second
	case c.OrderInterval < 0:
		c.OrderInterval = 0
	}
	if c.WeightLimit == 0 {
		c.WeightLimit = 2400
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Account is one simulated exchange account and its API credentials. Its
// JSON is an entry of the user-data producer's accounts file
// (KRAITE_ACCOUNTS_FILE), so GET /admin/accounts can be saved as one.
type Account struct {
	ID        string `json:"id"` // "acct-0001"
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
}

// Pushed is one frame actually written to a socket.
type Pushed struct {
	ConnID string    `json:"connId"`
	At     time.Time `json:"at"`
	Data   []byte    `json:"data"` // exactly as written (wrapped on /private/stream)
}

// maxPushed bounds the per-account frame log of a long-running simulator.
const maxPushed = 1_000_000

// Simulator is a Binance USD-M exchange. Create it with New.
type Simulator struct {
	cfg    Config
	log    *slog.Logger
	paused atomic.Bool // SetTrading(false): lifecycles do not step

	mu          sync.Mutex // guards everything below except the frame logs
	market      *market
	accounts    []*account
	byID        map[string]*account
	byAPIKey    map[string]*account
	keyOwners   map[string]*account // every listenKey ever issued
	conns       map[*conn]struct{}
	connSeq     int64
	rateLimited int
	weight      weightWindow
	runCtx      context.Context // set while Run runs
	runWG       *sync.WaitGroup

	saveMu sync.Mutex // one SaveState at a time

	logMu      sync.Mutex // guards account.pushed and markPushed
	markPushed int

	exchangeInfo []byte
}

// New builds a simulator with cfg's accounts. Nothing runs until Run or
// ListenAndServe; Handler can be served and Step called without Run.
func New(cfg Config) (*Simulator, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("simulator config: %w", err)
	}
	cfg = cfg.withDefaults()
	s := &Simulator{
		cfg:       cfg,
		log:       cfg.Logger,
		byID:      make(map[string]*account),
		byAPIKey:  make(map[string]*account),
		keyOwners: make(map[string]*account),
		conns:     make(map[*conn]struct{}),
	}
	s.market = newMarket(cfg.Seed, cfg.Now())
	if cfg.StateFile != "" {
		st, err := readStateFile(cfg.StateFile)
		if err == nil && st != nil {
			err = s.restore(st)
		}
		if err != nil {
			return nil, fmt.Errorf("simulator state %s: %w (the file is left as it is; remove it to start afresh from the seed, "+
				"knowing that order ids then start again and a pipeline that stored the old ones will report drift)", cfg.StateFile, err)
		}
		switch {
		case st == nil:
			s.log.Info("simulator: no saved state, starting from the seed", "state_file", cfg.StateFile, "seed", cfg.Seed)
		case st.Clean:
			s.log.Info("simulator: state restored", "state_file", cfg.StateFile, "accounts", len(s.accounts), "saved_at", st.SavedAt)
		default:
			s.log.Warn("simulator: state restored from a periodic save (the last run did not stop cleanly): "+
				"what happened after it is lost and id sequences skip ahead", "state_file", cfg.StateFile, "saved_at", st.SavedAt, "skip", uncleanSkip)
		}
		if st != nil && len(s.accounts) > cfg.Accounts {
			s.log.Info("simulator: the saved state has more accounts than asked for; keeping them all", "saved", len(s.accounts), "asked", cfg.Accounts)
		}
	}
	for len(s.accounts) < cfg.Accounts {
		s.addAccountLocked()
	}
	s.exchangeInfo = s.buildExchangeInfo()
	return s, nil
}

// rngFor returns an independent deterministic stream for (seed, purpose, n).
func rngFor(seed int64, purpose uint64, n int) *rand.Rand {
	r, _ := rngSrcFor(seed, purpose, n)
	return r
}

// rngSrcFor is rngFor that also returns the generator's source, whose
// state a snapshot saves (a rand.Rand holds nothing but its source).
func rngSrcFor(seed int64, purpose uint64, n int) (*rand.Rand, *rand.PCG) {
	src := rand.NewPCG(uint64(seed), purpose<<32|uint64(n))
	return rand.New(src), src
}

// Accounts returns the accounts in creation order.
func (s *Simulator) Accounts() []Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Account, len(s.accounts))
	for i, a := range s.accounts {
		out[i] = a.Account
	}
	return out
}

// AddAccount creates a new account at run time; if Run is running its
// lifecycle starts at once.
func (s *Simulator) AddAccount() Account {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.addAccountLocked()
	if s.runCtx != nil {
		s.startLifecycle(s.runCtx, a)
	}
	return a.Account
}

func (s *Simulator) addAccountLocked() *account {
	a := newAccount(s.cfg.Seed, len(s.accounts)+1, s.market)
	s.accounts = append(s.accounts, a)
	s.byID[a.ID] = a
	s.byAPIKey[a.APIKey] = a
	return a
}

func (s *Simulator) now() time.Time { return s.cfg.Now() }

// Run drives the market (a mark price frame every MarkPriceInterval), the
// per-account lifecycles (every OrderInterval on average) and listenKey
// expiry, and saves the state every StateEvery (with a StateFile). It
// blocks until ctx ends, then closes every socket, saves the state a last
// time and returns nil, or the error of that last save. Call it at most
// once at a time.
func (s *Simulator) Run(ctx context.Context) error {
	if err := s.run(ctx); err != nil {
		return err
	}
	return s.saveState(true)
}

func (s *Simulator) run(ctx context.Context) error {
	var wg sync.WaitGroup
	s.mu.Lock()
	if s.runCtx != nil {
		s.mu.Unlock()
		return errors.New("simulator: Run is already running")
	}
	s.runCtx, s.runWG = ctx, &wg
	for _, a := range s.accounts {
		s.startLifecycle(ctx, a)
	}
	s.mu.Unlock()

	wg.Add(3)
	go func() { defer wg.Done(); s.runMarket(ctx) }()
	go func() { defer wg.Done(); s.runExpiry(ctx) }()
	go func() { defer wg.Done(); s.runSaves(ctx) }()
	<-ctx.Done()
	s.mu.Lock()
	s.runCtx, s.runWG = nil, nil
	s.mu.Unlock()
	wg.Wait()
	s.Close()
	return nil
}

func (s *Simulator) runMarket(ctx context.Context) {
	t := time.NewTicker(s.cfg.MarkPriceInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.tickMarket()
		}
	}
}

// runSaves saves the state every StateEvery; a failed save is logged and
// tried again at the next tick (the last save, in Run, reports its error).
func (s *Simulator) runSaves(ctx context.Context) {
	if s.cfg.StateFile == "" {
		return
	}
	t := time.NewTicker(s.cfg.StateEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.saveState(false); err != nil {
				s.log.Error("simulator: saving the state", "err", err)
			}
		}
	}
}

func (s *Simulator) runExpiry(ctx context.Context) {
	every := min(max(s.cfg.ListenKeyTTL/20, 5*time.Millisecond), time.Second)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			for _, a := range s.accounts {
				s.expireIfDue(a)
			}
			s.mu.Unlock()
		}
	}
}

// startLifecycle runs a's lifecycle generator until ctx ends. Caller holds mu.
func (s *Simulator) startLifecycle(ctx context.Context, a *account) {
	if s.cfg.OrderInterval <= 0 {
		return
	}
	wg := s.runWG
	wg.Add(1)
	go func() {
		defer wg.Done()
		timing := rngFor(s.cfg.Seed, purposeTiming, a.idx)
		for {
			gap := time.Duration(timing.ExpFloat64() * float64(s.cfg.OrderInterval))
			t := time.NewTimer(max(gap, time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
				if !s.paused.Load() {
					s.Step(a.ID)
				}
			}
		}
	}()
}

// ListenAndServe serves Handler on addr and runs Run until ctx ends.
func (s *Simulator) ListenAndServe(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("simulator: %w", err)
	}
	return s.Serve(ctx, ln)
}

// Serve is ListenAndServe on an existing listener (which it closes).
func (s *Simulator) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	runErr := s.run(ctx) // returns when ctx ends
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	if serveErr := <-errc; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	// The last save comes after the last REST call has been answered.
	return errors.Join(runErr, err, s.saveState(true))
}

// Close closes every open socket (with no close frame). The simulator stays
// usable: new connections are accepted.
func (s *Simulator) Close() {
	s.mu.Lock()
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
}
