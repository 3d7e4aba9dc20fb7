package simulator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"time"
)

// StandaloneConfig is a simulator on an address of its own (kraite
// simulator): its exchange state and a generated admin token in DataDir.
type StandaloneConfig struct {
	Addr     string // listen address; loopback unless AllowRemote
	Seed     int64
	Accounts int
	// OrderInterval is the mean gap between lifecycle steps per account;
	// 0 or negative: never (on a command line, 0 means never, not the
	// default).
	OrderInterval time.Duration
	MarkInterval  time.Duration
	// DataDir keeps the exchange's state (state.json) and, without an
	// AdminToken, the generated one (admin-token); "" keeps nothing.
	DataDir     string
	AdminToken  string
	AllowRemote bool // listen on any address, answer /admin from other hosts
	Logger      *slog.Logger
}

// MinMarkInterval is the shortest --mark-interval: every tick builds the
// whole market's frame under the simulator's lock, so a tick of a few
// nanoseconds would hold it for good and stall every account's REST and
// socket (Binance's fastest mark price stream is 1 s).
const MinMarkInterval = 10 * time.Millisecond

// Validate names the setting that cannot run (the flag that sets it),
// before anything is written to DataDir.
func (c StandaloneConfig) Validate() error {
	var errs []error
	if c.Accounts < 1 || c.Accounts > MaxAccounts {
		errs = append(errs, fmt.Errorf("--accounts: %d is not within 1..%d", c.Accounts, MaxAccounts))
	}
	if c.MarkInterval < MinMarkInterval {
		errs = append(errs, fmt.Errorf("--mark-interval: %v is shorter than %v", c.MarkInterval, MinMarkInterval))
	}
	if err := CheckListenAddr(c.Addr, c.AllowRemote); err != nil {
		errs = append(errs, fmt.Errorf("--addr: %w", err))
	}
	if c.AdminToken == "" && c.DataDir == "" {
		errs = append(errs, errors.New("the admin API needs a token: set KRAITE_SIM_ADMIN_TOKEN, or a --data-dir to generate one into"))
	}
	return errors.Join(errs...)
}

// StateFile is where the exchange's state is kept ("" for none).
func (c StandaloneConfig) StateFile() string {
	if c.DataDir == "" {
		return ""
	}
	return filepath.Join(c.DataDir, "state.json")
}

// Standalone is a simulator listening on its own address, ready to Serve.
type Standalone struct {
	*Simulator
	// Addr is the address it listens on (the port chosen, for :0).
	Addr string
	// TokenHint is how an operator's shell gets the admin token without
	// printing it: $(cat DATA_DIR/admin-token) or $KRAITE_SIM_ADMIN_TOKEN.
	TokenHint string
	// StateFile keeps the exchange's state ("" for none).
	StateFile string
	ln        net.Listener
}

// Listen validates c, generates the admin token into DataDir when none is
// given, loads or seeds the exchange and listens on c.Addr.
func Listen(c StandaloneConfig) (*Standalone, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	orderInterval := c.OrderInterval
	if orderInterval == 0 {
		orderInterval = -1
	}
	cfg := Config{Seed: c.Seed, Accounts: c.Accounts, OrderInterval: orderInterval, MarkPriceInterval: c.MarkInterval,
		AdminToken: c.AdminToken, AdminRemote: c.AllowRemote, StateFile: c.StateFile(), Logger: c.Logger}
	hint := "$KRAITE_SIM_ADMIN_TOKEN"
	if cfg.AdminToken == "" {
		path := filepath.Join(c.DataDir, "admin-token")
		tok, err := NewAdminToken(path)
		if err != nil {
			return nil, err
		}
		cfg.AdminToken, hint = tok, "$(cat "+path+")"
	}
	sim, err := New(cfg)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", c.Addr, err)
	}
	return &Standalone{Simulator: sim, Addr: ln.Addr().String(), TokenHint: hint, StateFile: cfg.StateFile, ln: ln}, nil
}

// Serve serves until ctx ends (then it returns nil) or the listener fails.
func (s *Standalone) Serve(ctx context.Context) error {
	err := s.Simulator.Serve(ctx, s.ln)
	if errors.Is(err, context.Canceled) {
		err = nil
	}
	return err
}
