package intents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/topics"
)

// SourceConfig configures a Source.
type SourceConfig struct {
	DB     *db.DB
	Limits Limits // zero fields take the defaults
	// Refresh is how often Run reloads the snapshot (default 5s); it must
	// stay well below Limits.MaxSnapshotAge.
	Refresh time.Duration
	// Accounts lists the accounts configured outside the database (the
	// accounts file of the box, or kraite dev's simulator accounts); nil
	// when there are none. An error fails the load: the previous snapshot
	// is kept until it is too old, then every intent is refused.
	Accounts func(ctx context.Context) ([]AccountKey, error)
	Now      func() time.Time
	Log      *slog.Logger
}

// Source loads the Snapshot from the database, keeps it fresh in the
// background (Run) and validates intents against it. It implements
// Validator and is safe for concurrent use.
//
// Accounts come from the accounts table (its active column) and from the
// Accounts hook; an account the table disables is disabled whatever the
// hook says. Symbol rules come from symbol_rules, mark prices from
// exchange_symbols (mark_price and mark_price_synced_at, written by the
// mark-price sink), positions from the positions table: the exchange's
// amount when it has reported one (what the exchange checks a reduce-only
// order against), the observed amount otherwise.
type Source struct {
	cfg    SourceConfig
	snap   atomic.Pointer[Snapshot]
	failed atomic.Bool // the last load failed (logged once per episode)
}

// NewSource checks cfg and returns a Source that has not loaded yet (it
// refuses everything until the first Refresh).
func NewSource(cfg SourceConfig) (*Source, error) {
	if cfg.DB == nil {
		return nil, errors.New("intents: SourceConfig.DB is required")
	}
	cfg.Limits = cfg.Limits.withDefaults()
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.Refresh >= cfg.Limits.MaxSnapshotAge {
		return nil, fmt.Errorf("intents: refresh %s must be below the snapshot age limit %s", cfg.Refresh, cfg.Limits.MaxSnapshotAge)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Source{cfg: cfg}, nil
}

// Validate implements Validator on the current snapshot.
func (s *Source) Validate(in topics.OpenIntent, now time.Time) *Refusal {
	return Validate(in, s.snap.Load(), s.cfg.Limits, now)
}

// Snapshot returns the current snapshot (nil before the first load). It
// must not be modified.
func (s *Source) Snapshot() *Snapshot { return s.snap.Load() }

// Ready says whether intents can be judged at now: nil, or why every
// intent is refused (for /readyz).
func (s *Source) Ready(now time.Time) error {
	snap := s.snap.Load()
	switch {
	case snap == nil:
		return errors.New("intent validation: not loaded yet")
	case now.Sub(snap.LoadedAt) > s.cfg.Limits.MaxSnapshotAge:
		return fmt.Errorf("intent validation: data is %s old (limit %s)", now.Sub(snap.LoadedAt).Round(time.Second), s.cfg.Limits.MaxSnapshotAge)
	}
	return nil
}

// Refresh loads a new snapshot and makes it current. On error the previous
// one stays (and ages out).
func (s *Source) Refresh(ctx context.Context) error {
	snap, err := s.Load(ctx)
	if err != nil {
		if !s.failed.Swap(true) {
			s.cfg.Log.Error("intent validation: loading accounts, symbol rules and prices failed; keeping the previous data until it is too old",
				"err", err, "max_age", s.cfg.Limits.MaxSnapshotAge)
		}
		return err
	}
	s.snap.Store(snap)
	if s.failed.Swap(false) {
		s.cfg.Log.Info("intent validation: data loaded again")
	}
	return nil
}

// Run refreshes at once and then every Refresh until ctx ends (it returns
// nil then). A failed refresh is logged once per episode and retried at the
// next tick.
func (s *Source) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Refresh)
	defer t.Stop()
	for {
		_ = s.Refresh(ctx) // logged by Refresh
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Load reads a snapshot from the database (and the Accounts hook) now.
func (s *Source) Load(ctx context.Context) (*Snapshot, error) {
	d := s.cfg.DB
	snap := &Snapshot{
		Accounts:   map[AccountKey]Account{},
		Symbols:    map[SymbolKey]Rule{},
		MarkPrices: map[SymbolKey]Mark{},
		Positions:  map[AccountKey]map[string]Position{},
	}
	disabled := map[AccountKey]bool{}
	err := query(ctx, d, "SELECT exchange, account, active FROM accounts", func(scan func(...any) error) error {
		var k AccountKey
		var active bool
		if err := scan(&k.Exchange, &k.Account, &active); err != nil {
			return err
		}
		snap.Accounts[k] = Account{Enabled: active}
		disabled[k] = !active
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading accounts: %w", err)
	}
	if s.cfg.Accounts != nil {
		keys, err := s.cfg.Accounts(ctx)
		if err != nil {
			return nil, fmt.Errorf("reading configured accounts: %w", err)
		}
		for _, k := range keys {
			snap.Accounts[k] = Account{Enabled: !disabled[k]}
		}
	} else if len(snap.Accounts) == 0 {
		snap.AccountsUnknown = true
	}

	rules, err := d.SymbolRules(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rules {
		snap.Symbols[SymbolKey{r.Exchange, r.Symbol}] = ParseRule(RuleText{Status: r.Status,
			StepSize: r.StepSize, MinQty: r.MinQty, MaxQty: r.MaxQty,
			MarketStepSize: r.MarketStepSize, MarketMinQty: r.MarketMinQty, MarketMaxQty: r.MarketMaxQty,
			MinNotional: r.MinNotional})
	}

	err = query(ctx, d, "SELECT exchange, symbol, mark_price, mark_price_synced_at FROM exchange_symbols WHERE mark_price IS NOT NULL",
		func(scan func(...any) error) error {
			var k SymbolKey
			var price any
			var at db.NullTime
			if err := scan(&k.Exchange, &k.Symbol, &price, &at); err != nil {
				return err
			}
			p, err := parseDec(numberText(price), false)
			if err != nil || !at.Valid {
				return nil // no usable mark: intents on it are refused (no_mark_price)
			}
			snap.MarkPrices[k] = Mark{Price: p, At: at.Time}
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading mark prices: %w", err)
	}

	err = query(ctx, d, "SELECT exchange, account, symbol, position_side, amount, exchange_amount FROM positions",
		func(scan func(...any) error) error {
			var k AccountKey
			var sym, side, amount string
			var exAmount *string
			if err := scan(&k.Exchange, &k.Account, &sym, &side, &amount, &exAmount); err != nil {
				return err
			}
			if exAmount != nil {
				amount = *exAmount
			}
			m := snap.Positions[k]
			if m == nil {
				m = map[string]Position{}
				snap.Positions[k] = m
			}
			p := m[sym]
			if p.Long == nil {
				p.Long, p.Short = new(big.Rat), new(big.Rat)
			}
			v, err := parseSigned(amount)
			if err != nil {
				p.Err = fmt.Errorf("position %s %s of %s: %w", sym, side, k.Account, err)
				m[sym] = p
				return nil
			}
			switch {
			case side == "SHORT" || (side != "LONG" && v.Sign() < 0):
				p.Short = new(big.Rat).Add(p.Short, new(big.Rat).Abs(v))
			default:
				p.Long = new(big.Rat).Add(p.Long, new(big.Rat).Abs(v))
			}
			m[sym] = p
			return nil
		})
	if err != nil {
		return nil, fmt.Errorf("reading positions: %w", err)
	}
	snap.LoadedAt = s.cfg.Now()
	return snap, nil
}

// numberText renders a DECIMAL as the drivers return it: text from MySQL
// and PostgreSQL, float64 or int64 from SQLite (whose NUMERIC affinity
// stores a number); a float prints as plain digits, never with an exponent.
func numberText(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return ""
	}
}

func query(ctx context.Context, d *db.DB, q string, row func(scan func(...any) error) error) error {
	rows, err := d.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := row(rows.Scan); err != nil {
			return err
		}
	}
	return rows.Err()
}
