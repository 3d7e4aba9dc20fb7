// Package intents decides whether an open intent may reach an exchange.
//
// An intent on kraite.open-intents is untrusted input (DESIGN.md section 5,
// "Fail closed"): anyone allowed to write the topic, a strategy with a bug
// or an operator's typo can ask for 1e9 BTCUSDT, a size of -1, an unknown
// symbol or an account that does not exist. Before this package the gate
// only looked at the regime, so such an intent became a MARKET order. Here
// every intent is checked against the facts the system knows (accounts,
// the exchange's symbol filters from exchangeInfo, mark prices, the current
// positions) and against notional limits, and a refusal carries a
// machine-readable Reason that ends up on kraite.open-intents.rejected.
//
// Validate is pure: it reads a Snapshot and a clock and does no I/O, so the
// gate can call it per record and tests can enumerate every reason. The
// Source loads the Snapshot from the database and refreshes it in the
// background; a snapshot that was never loaded or is too old refuses every
// intent with validation_unavailable (the check fails closed, it is never
// skipped).
//
// Sizes, filters and prices are exact decimals (math/big.Rat parsed from
// plain decimal text that internal/validate accepted first): a float64
// cannot tell 0.1 from 0.1000000000000000055, and a step-size check on
// floats accepts sizes the exchange refuses.
package intents

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// Reasons of a Refusal, machine-readable (RejectedIntent.Reason).
const (
	ReasonUnknownAccount  = "unknown_account"  // not in the accounts table nor the accounts file
	ReasonAccountDisabled = "account_disabled" // accounts.active is false
	ReasonUnknownExchange = "unknown_exchange" // not binance, bybit, kucoin or bitget
	ReasonUnknownSymbol   = "unknown_symbol"   // malformed, or not listed (no exchangeInfo rules)
	ReasonSymbolNotTrade  = "symbol_not_trading"
	ReasonSymbolRules     = "symbol_rules_invalid" // the stored filters cannot be used
	ReasonBadSide         = "bad_side"             // not BUY or SELL
	ReasonBadSize         = "bad_size"             // not a finite positive plain decimal
	ReasonSizeStep        = "size_step"            // not a multiple of the step size
	ReasonSizeBelowMin    = "size_below_min"       // below LOT_SIZE / MARKET_LOT_SIZE minQty
	ReasonSizeAboveMax    = "size_above_max"       // above LOT_SIZE / MARKET_LOT_SIZE maxQty
	ReasonNoMarkPrice     = "no_mark_price"
	ReasonStaleMarkPrice  = "stale_mark_price"
	ReasonNotionalMin     = "notional_below_min"           // size x mark below MIN_NOTIONAL
	ReasonOrderNotional   = "order_notional_above_limit"   // above Limits.MaxOrderNotional
	ReasonAccountNotional = "account_notional_above_limit" // positions + order above Limits.MaxAccountNotional
	ReasonReduceExceeds   = "reduce_exceeds_position"      // a reduction larger than the position
	ReasonUnavailable     = "validation_unavailable"       // no snapshot, or one too old
)

// Reasons lists every reason, for documentation and tests.
func Reasons() []string {
	return []string{ReasonUnknownAccount, ReasonAccountDisabled, ReasonUnknownExchange, ReasonUnknownSymbol,
		ReasonSymbolNotTrade, ReasonSymbolRules, ReasonBadSide, ReasonBadSize, ReasonSizeStep, ReasonSizeBelowMin,
		ReasonSizeAboveMax, ReasonNoMarkPrice, ReasonStaleMarkPrice, ReasonNotionalMin, ReasonOrderNotional,
		ReasonAccountNotional, ReasonReduceExceeds, ReasonUnavailable}
}

// Refusal is why an intent may not reach the exchange.
type Refusal struct {
	Reason string // one of the Reason constants
	Detail string // the same for a person, with the numbers
}

func (r *Refusal) Error() string { return r.Reason + ": " + r.Detail }

// Retryable says whether the same intent may pass later without being
// changed: only when the validator could not judge it
// (validation_unavailable). The gate refuses it all the same (fail closed);
// a worker that re-validates an allowed intent before placing it may retry
// that one instead of parking it. Every other reason is final for this
// intent.
func (r *Refusal) Retryable() bool { return r != nil && r.Reason == ReasonUnavailable }

func refuse(reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Detail: fmt.Sprintf(format, args...)}
}

// Validator is what the gate and the positions worker call: nil means the
// intent may go to the exchange. *Source implements it.
type Validator interface {
	Validate(in topics.OpenIntent, now time.Time) *Refusal
}

// StatusTrading is the exchangeInfo status of a symbol that takes orders.
const StatusTrading = "TRADING"

// Rule is one symbol's filters from exchangeInfo, parsed. Binance checks a
// MARKET order against both LOT_SIZE and MARKET_LOT_SIZE (the gate's
// intents become MARKET orders), and its notional against MIN_NOTIONAL
// unless it is reduce-only.
type Rule struct {
	Status string
	// LOT_SIZE.
	StepSize, MinQty, MaxQty *big.Rat
	// MARKET_LOT_SIZE; nil when the exchange does not send it.
	MarketStepSize, MarketMinQty, MarketMaxQty *big.Rat
	// MIN_NOTIONAL notional; nil when none.
	MinNotional *big.Rat
	// Err is set when the stored filters could not be parsed: the symbol
	// is refused (symbol_rules_invalid) rather than judged by half a rule.
	Err error
}

// RuleText is a rule as exchangeInfo and the database hold it (decimal
// text; "" for a filter the exchange did not send).
type RuleText struct {
	Status                                     string
	StepSize, MinQty, MaxQty                   string
	MarketStepSize, MarketMinQty, MarketMaxQty string
	MinNotional                                string
}

// ParseRule parses stored filter text. A step must be > 0; quantities and
// the notional >= 0; a missing LOT_SIZE is an error, a missing
// MARKET_LOT_SIZE or MIN_NOTIONAL is not. The returned Rule carries the
// error too, so a caller can keep the symbol known but unusable.
func ParseRule(t RuleText) Rule {
	r := Rule{Status: t.Status}
	var errs []error
	req := func(name, s string, positive bool) *big.Rat {
		v, err := parseDec(s, !positive)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return v
	}
	opt := func(name, s string, positive bool) *big.Rat {
		if s == "" {
			return nil
		}
		return req(name, s, positive)
	}
	r.StepSize = req("stepSize", t.StepSize, true)
	r.MinQty = req("minQty", t.MinQty, false)
	r.MaxQty = req("maxQty", t.MaxQty, true)
	r.MarketStepSize = opt("market stepSize", t.MarketStepSize, true)
	r.MarketMinQty = opt("market minQty", t.MarketMinQty, false)
	r.MarketMaxQty = opt("market maxQty", t.MarketMaxQty, true)
	r.MinNotional = opt("minNotional", t.MinNotional, false)
	r.Err = errors.Join(errs...)
	return r
}

// parseDec parses a plain decimal (internal/validate's rules: no exponent,
// no NaN, at most 18+18 digits) exactly; zero is allowed only if allowZero,
// negatives never.
func parseDec(s string, allowZero bool) (*big.Rat, error) {
	if err := validate.Decimal(s, validate.DecimalIntDigits, validate.DecimalFracDigits, allowZero, false); err != nil {
		return nil, err
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok { // cannot happen after validate.Decimal; fail closed anyway
		return nil, fmt.Errorf("%w: %q is not a decimal", validate.ErrInvalid, s)
	}
	return v, nil
}

// parseSigned parses a signed plain decimal (a position amount).
func parseSigned(s string) (*big.Rat, error) {
	if err := validate.Signed(s); err != nil {
		return nil, err
	}
	v, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a decimal", validate.ErrInvalid, s)
	}
	return v, nil
}

// AccountKey names an account on an exchange.
type AccountKey struct{ Exchange, Account string }

// SymbolKey names a symbol on an exchange.
type SymbolKey struct{ Exchange, Symbol string }

// Account is what the validator knows of an account.
type Account struct{ Enabled bool }

// Mark is a symbol's mark price and when it was written.
type Mark struct {
	Price *big.Rat
	At    time.Time
}

// Position is an account's position in one symbol, by side: Long and
// Short are >= 0 (one-way mode puts a positive BOTH amount in Long and a
// negative one in Short). Err is set when a stored amount could not be
// read: the account's opens and this symbol's reductions are refused
// rather than judged on a position that is not known.
type Position struct {
	Long, Short *big.Rat
	Err         error
}

// Snapshot is everything Validate reads.
type Snapshot struct {
	Accounts map[AccountKey]Account
	// AccountsUnknown says the process has no list of accounts at all
	// (kraite open without KRAITE_ACCOUNTS_FILE and an empty accounts
	// table): Validate then does not judge the account and leaves that to
	// the gate, whose Source always has the list. The gate never sets it.
	AccountsUnknown bool
	Symbols         map[SymbolKey]Rule
	MarkPrices      map[SymbolKey]Mark
	// Positions per account, per symbol.
	Positions map[AccountKey]map[string]Position
	LoadedAt  time.Time
}

// Limits are the notional caps and freshness bounds. A zero field takes
// its default.
type Limits struct {
	// MaxOrderNotional caps size x mark price of one open, in the quote
	// asset (USDT). Default 10,000 (KRAITE_MAX_ORDER_NOTIONAL).
	MaxOrderNotional *big.Rat
	// MaxAccountNotional caps the absolute notional of an account's
	// positions plus the open. Default 50,000 (KRAITE_MAX_ACCOUNT_NOTIONAL).
	MaxAccountNotional *big.Rat
	// MaxMarkAge is how old the mark price an open is priced at may be.
	// Default 1m (KRAITE_MAX_MARK_AGE).
	MaxMarkAge time.Duration
	// MaxSnapshotAge is how old the whole snapshot may be before every
	// intent is refused as validation_unavailable. Default 30s
	// (KRAITE_INTENT_SNAPSHOT_MAX_AGE).
	MaxSnapshotAge time.Duration
}

// Defaults of Limits.
const (
	DefaultMaxOrderNotional   = "10000"
	DefaultMaxAccountNotional = "50000"
	DefaultMaxMarkAge         = time.Minute
	DefaultMaxSnapshotAge     = 30 * time.Second
)

// Env lists the environment variables of the limits (kraite open --help,
// the gate's and the positions worker's configuration), with defaults.
type Env struct {
	MaxOrderNotional   string        `env:"KRAITE_MAX_ORDER_NOTIONAL" envDefault:"10000"`
	MaxAccountNotional string        `env:"KRAITE_MAX_ACCOUNT_NOTIONAL" envDefault:"50000"`
	MaxMarkAge         time.Duration `env:"KRAITE_MAX_MARK_AGE" envDefault:"1m"`
	MaxSnapshotAge     time.Duration `env:"KRAITE_INTENT_SNAPSHOT_MAX_AGE" envDefault:"30s"`
	Refresh            time.Duration `env:"KRAITE_INTENT_REFRESH" envDefault:"5s"`
}

// Limits parses the environment's limits; an error names the variable.
func (e Env) Limits() (Limits, error) {
	var l Limits
	var err error
	if l.MaxOrderNotional, err = parseDec(e.MaxOrderNotional, false); err != nil {
		return l, fmt.Errorf("KRAITE_MAX_ORDER_NOTIONAL: %w", err)
	}
	if l.MaxAccountNotional, err = parseDec(e.MaxAccountNotional, false); err != nil {
		return l, fmt.Errorf("KRAITE_MAX_ACCOUNT_NOTIONAL: %w", err)
	}
	if e.MaxMarkAge <= 0 {
		return l, fmt.Errorf("KRAITE_MAX_MARK_AGE: %s is not positive", e.MaxMarkAge)
	}
	if e.MaxSnapshotAge <= 0 {
		return l, fmt.Errorf("KRAITE_INTENT_SNAPSHOT_MAX_AGE: %s is not positive", e.MaxSnapshotAge)
	}
	if e.Refresh <= 0 || e.Refresh >= e.MaxSnapshotAge {
		return l, fmt.Errorf("KRAITE_INTENT_REFRESH: %s must be positive and below KRAITE_INTENT_SNAPSHOT_MAX_AGE (%s)", e.Refresh, e.MaxSnapshotAge)
	}
	l.MaxMarkAge, l.MaxSnapshotAge = e.MaxMarkAge, e.MaxSnapshotAge
	return l, nil
}

// DefaultLimits are the documented defaults.
func DefaultLimits() Limits {
	return Limits{}.withDefaults()
}

func (l Limits) withDefaults() Limits {
	if l.MaxOrderNotional == nil {
		l.MaxOrderNotional, _ = new(big.Rat).SetString(DefaultMaxOrderNotional)
	}
	if l.MaxAccountNotional == nil {
		l.MaxAccountNotional, _ = new(big.Rat).SetString(DefaultMaxAccountNotional)
	}
	if l.MaxMarkAge <= 0 {
		l.MaxMarkAge = DefaultMaxMarkAge
	}
	if l.MaxSnapshotAge <= 0 {
		l.MaxSnapshotAge = DefaultMaxSnapshotAge
	}
	return l
}
