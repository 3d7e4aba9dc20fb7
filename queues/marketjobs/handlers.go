package marketjobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// Job types handled by [Handlers].
const (
	JobKlineFetch      = "kline-fetch"
	JobIndicators      = "indicators"
	JobBalanceSnapshot = "balance-snapshot"
)

// Defaults of [Deps].
const (
	DefaultExchange   = "binance"
	DefaultInterval   = "1m"
	DefaultKlineLimit = HistoryKlines + 1 // the forming kline is dropped
)

// DefaultSymbols are fetched and computed when neither Deps nor the job
// payload names symbols.
var DefaultSymbols = []string{"BTCUSDT", "ETHUSDT"}

// Deps is what the market jobs need. Zero fields take the defaults above.
type Deps struct {
	Rest *binanceapi.Client // required
	DB   *db.DB             // required
	// Exchange is the exchange column value (default "binance").
	Exchange string
	// Symbols and Interval are the default scope of kline-fetch and
	// indicators jobs; a job payload overrides them.
	Symbols  []string
	Interval string
	// KlineLimit is how many klines a fetch asks for (default 201, 1..1500).
	KlineLimit int
	// Account returns the credentials of an account id (required for
	// balance-snapshot jobs).
	Account func(id string) (binanceapi.Credentials, error)
	Log     *slog.Logger     // nil = discard
	Now     func() time.Time // nil = time.Now
}

func (d Deps) withDefaults() Deps {
	if d.Exchange == "" {
		d.Exchange = DefaultExchange
	}
	if len(d.Symbols) == 0 {
		d.Symbols = DefaultSymbols
	}
	if d.Interval == "" {
		d.Interval = DefaultInterval
	}
	if d.KlineLimit == 0 {
		d.KlineLimit = DefaultKlineLimit
	}
	if d.Log == nil {
		d.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// Validate names every bad field (after defaults).
func (d Deps) Validate() error {
	d = d.withDefaults()
	var errs []error
	if d.Rest == nil {
		errs = append(errs, errors.New("rest: no binance client"))
	}
	if d.DB == nil {
		errs = append(errs, errors.New("db: no database"))
	}
	if d.Account == nil {
		errs = append(errs, errors.New("account: no credentials lookup"))
	}
	if !ValidInterval(d.Interval) {
		errs = append(errs, fmt.Errorf("interval: %q is not a kline interval", d.Interval))
	}
	if d.KlineLimit < 1 || d.KlineLimit > maxKlineLimit {
		errs = append(errs, fmt.Errorf("kline limit: %d is not within 1..%d", d.KlineLimit, maxKlineLimit))
	}
	for _, s := range d.Symbols {
		if s == "" || len(s) > 64 {
			errs = append(errs, fmt.Errorf("symbols: %q is not 1..64 characters", s))
		}
	}
	return errors.Join(errs...)
}

// MarketPayload is the optional payload of kline-fetch and indicators jobs;
// empty fields fall back to Deps.
type MarketPayload struct {
	Symbols  []string `json:"symbols,omitempty"`
	Interval string   `json:"interval,omitempty"`
	Limit    int      `json:"limit,omitempty"` // kline-fetch only
}

// BalancePayload is the optional payload of balance-snapshot jobs: the
// accounts to snapshot when the job's Account is empty.
type BalancePayload struct {
	Accounts []string `json:"accounts,omitempty"`
}

// Handlers returns the job handlers by type: "kline-fetch" (FetchKlines per
// symbol), "indicators" (ComputeIndicators per symbol) and
// "balance-snapshot" (SnapshotBalances of job.Account, or of the payload's
// accounts, at the job's scheduled slot) and "symbol-refresh"
// (RefreshSymbols). A symbol or account that fails
// does not stop the others; the job then fails with all their errors joined,
// and its retry redoes the others harmlessly (every write is idempotent).
// With invalid deps every handler fails with the validation error.
func Handlers(deps Deps) map[string]worker.JobHandler {
	d := deps.withDefaults()
	if err := d.Validate(); err != nil {
		fail := func(context.Context, topics.Job) error { return fmt.Errorf("market jobs: %w", err) }
		return map[string]worker.JobHandler{JobKlineFetch: fail, JobIndicators: fail, JobBalanceSnapshot: fail, JobSymbolRefresh: fail}
	}
	h := &handlers{d: d}
	return map[string]worker.JobHandler{
		JobKlineFetch:      h.klineFetch,
		JobIndicators:      h.indicators,
		JobBalanceSnapshot: h.balanceSnapshot,
		JobSymbolRefresh:   h.symbolRefresh,
	}
}

type handlers struct{ d Deps }

// scope resolves the symbols, interval and limit of a market job.
func (h *handlers) scope(job topics.Job) (MarketPayload, error) {
	var p MarketPayload
	if len(job.Payload) > 0 && string(job.Payload) != "null" {
		if err := json.Unmarshal(job.Payload, &p); err != nil {
			return p, fmt.Errorf("decoding %s payload: %w", job.Type, err)
		}
	}
	if len(p.Symbols) == 0 {
		p.Symbols = h.d.Symbols
	}
	if p.Interval == "" {
		p.Interval = h.d.Interval
	}
	if p.Limit == 0 {
		p.Limit = h.d.KlineLimit
	}
	if !ValidInterval(p.Interval) {
		return p, fmt.Errorf("decoding %s payload: invalid interval %q", job.Type, p.Interval)
	}
	return p, nil
}

func (h *handlers) klineFetch(ctx context.Context, job topics.Job) error {
	p, err := h.scope(job)
	if err != nil {
		return err
	}
	var errs []error
	for _, sym := range p.Symbols {
		n, err := FetchKlinesAt(ctx, h.d.Rest, h.d.DB, h.d.Exchange, sym, p.Interval, p.Limit, h.d.Now())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h.d.Log.DebugContext(ctx, "klines stored", "job", job.ID, "symbol", sym, "interval", p.Interval, "rows", n)
	}
	return errors.Join(errs...)
}

func (h *handlers) indicators(ctx context.Context, job topics.Job) error {
	p, err := h.scope(job)
	if err != nil {
		return err
	}
	var errs []error
	for _, sym := range p.Symbols {
		n, err := ComputeIndicators(ctx, h.d.DB, h.d.Exchange, sym, p.Interval)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h.d.Log.DebugContext(ctx, "indicators stored", "job", job.ID, "symbol", sym, "interval", p.Interval, "rows", n)
	}
	return errors.Join(errs...)
}

func (h *handlers) balanceSnapshot(ctx context.Context, job topics.Job) error {
	accounts := []string{job.Account}
	if job.Account == "" {
		var p BalancePayload
		if len(job.Payload) > 0 {
			if err := json.Unmarshal(job.Payload, &p); err != nil {
				return fmt.Errorf("decoding %s payload: %w", job.Type, err)
			}
		}
		if len(p.Accounts) == 0 {
			return fmt.Errorf("%s job %s names no account", job.Type, job.ID)
		}
		accounts = p.Accounts
	}
	// The scheduled slot makes a repeat a no-op; an ad-hoc job (no slot)
	// snapshots at its own time.
	takenAt := h.d.Now()
	if job.ScheduledMs > 0 {
		takenAt = time.UnixMilli(job.ScheduledMs)
	}
	var errs []error
	for _, acct := range accounts {
		creds, err := h.d.Account(acct)
		if err != nil {
			errs = append(errs, fmt.Errorf("looking up credentials of %s: %w", acct, err))
			continue
		}
		n, err := SnapshotBalances(ctx, h.d.Rest, h.d.DB, h.d.Exchange, acct, creds, takenAt)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		h.d.Log.DebugContext(ctx, "balances stored", "job", job.ID, "account", acct, "assets", n)
	}
	return errors.Join(errs...)
}
