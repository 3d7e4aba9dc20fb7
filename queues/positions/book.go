package positions

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/topics"
)

// Book keeps the positions table: per (exchange, account, symbol, position
// side) the observed position next to the exchange's truth.
//
// # Observed: folded, not accumulated
//
// The observed amount is recomputed from the orders table every time the
// orders sink reports a transition of an order in that symbol (a status
// change or a further partial fill): the sum of every order's executed
// quantity, BUY positive and SELL negative. Recomputing instead of adding
// deltas makes it idempotent: a redelivered or replayed transition, or
// a transition that arrives before or after a backfill, gives the same row.
// The orders table is itself repaired by the gap backfill and the order-sync
// sweep, so frames lost on the socket end up in the position too. The entry
// price is the weighted average of the fills (order_fills, in trade time
// order, reset when the position crosses zero); it is left empty when the
// recorded fills do not add up to the amount (fills of a backfilled order
// are not individually known).
//
// # Exchange truth and drift
//
// ACCOUNT_UPDATE frames (routed by dispatch) and the sweep's REST snapshot
// record the exchange's amount with the exchange's time; an older report
// never overwrites a newer one. Whenever either side changes, drift_since
// is set to the first moment they disagreed (or cleared when they agree).
// The two paths race by design (a fill's ACCOUNT_UPDATE usually arrives
// before the orders sink has written it), so a disagreement is only drift
// when it outlives a grace period: DueDrifts lists those, once per episode.
type Book struct {
	DB *db.DB
	// Now is the clock for drift bookkeeping (default time.Now).
	Now func() time.Time
}

// Drift is a disagreement between the observed and the exchange's position
// that outlived the grace period.
type Drift struct {
	Exchange       string `json:"exchange"`
	Account        string `json:"account"`
	Symbol         string `json:"symbol"`
	PositionSide   string `json:"position_side"`
	Amount         string `json:"observed_amount"`
	ExchangeAmount string `json:"exchange_amount"`
	ExchangeTimeMs int64  `json:"exchange_time"`
	ExchangeSource string `json:"exchange_source"`
	SinceMs        int64  `json:"drift_since"`
}

func (b *Book) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

type sideKey struct{ symbol, side string }

// normSide maps the one-way mode's "" to BOTH.
func normSide(s string) string {
	if s == "" {
		return "BOTH"
	}
	return strings.ToUpper(s)
}

// Refold recomputes the observed positions of one symbol of an account from
// the orders table and writes them.
func (b *Book) Refold(ctx context.Context, exchange, account, symbol string) error {
	type fold struct {
		amount, fillAmount, entry *big.Rat
		orders                    int
	}
	folds := map[string]*fold{}
	get := func(side string) *fold {
		f := folds[side]
		if f == nil {
			f = &fold{amount: new(big.Rat), fillAmount: new(big.Rat), entry: new(big.Rat)}
			folds[side] = f
		}
		return f
	}
	rows, err := b.DB.QueryContext(ctx, b.DB.Rebind(
		"SELECT side, position_side, cum_qty FROM orders WHERE exchange = ? AND account = ? AND symbol = ?"),
		exchange, account, symbol)
	if err != nil {
		return fmt.Errorf("reading the orders of %s %s: %w", account, symbol, err)
	}
	for rows.Next() {
		var side, ps, cum string
		if err := rows.Scan(&side, &ps, &cum); err != nil {
			rows.Close()
			return fmt.Errorf("reading the orders of %s %s: %w", account, symbol, err)
		}
		q, ok := parseDec(cum)
		if !ok {
			continue // '' for an order never filled
		}
		f := get(normSide(ps))
		f.orders++
		if side == "SELL" {
			q.Neg(q)
		}
		f.amount.Add(f.amount, q)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("reading the orders of %s %s: %w", account, symbol, err)
	}

	fills, err := b.DB.QueryContext(ctx, b.DB.Rebind(
		`SELECT f.side, o.position_side, f.qty, f.price FROM order_fills f
		 JOIN orders o ON o.exchange = f.exchange AND o.account = f.account AND o.order_id = f.order_id
		 WHERE f.exchange = ? AND f.account = ? AND f.symbol = ? ORDER BY f.transaction_time, f.trade_id`),
		exchange, account, symbol)
	if err != nil {
		return fmt.Errorf("reading the fills of %s %s: %w", account, symbol, err)
	}
	for fills.Next() {
		var side, ps, qty, price string
		if err := fills.Scan(&side, &ps, &qty, &price); err != nil {
			fills.Close()
			return fmt.Errorf("reading the fills of %s %s: %w", account, symbol, err)
		}
		q, ok1 := parseDec(qty)
		p, ok2 := parseDec(price)
		if !ok1 || !ok2 {
			continue
		}
		if side == "SELL" {
			q.Neg(q)
		}
		f := get(normSide(ps))
		f.entry = applyFill(f.fillAmount, f.entry, q, p)
		f.fillAmount.Add(f.fillAmount, q)
	}
	if err := errors.Join(fills.Err(), fills.Close()); err != nil {
		return fmt.Errorf("reading the fills of %s %s: %w", account, symbol, err)
	}

	for side, f := range folds {
		entry := ""
		if f.fillAmount.Cmp(f.amount) == 0 && f.amount.Sign() != 0 {
			entry = formatDec(f.entry)
		}
		if err := b.writeObserved(ctx, exchange, account, symbol, side, formatDec(f.amount), entry, f.orders); err != nil {
			return err
		}
	}
	return nil
}

// applyFill returns the entry price after a signed fill q at price p on a
// position of amount pos with entry price entry (one-way accounting: adding
// averages, reducing keeps the entry, crossing zero starts at p).
func applyFill(pos, entry, q, p *big.Rat) *big.Rat {
	next := new(big.Rat).Add(pos, q)
	switch {
	case next.Sign() == 0:
		return new(big.Rat)
	case pos.Sign() == 0 || pos.Sign() == q.Sign(): // opening or adding
		num := new(big.Rat).Mul(entry, new(big.Rat).Abs(pos))
		num.Add(num, new(big.Rat).Mul(p, new(big.Rat).Abs(q)))
		return num.Quo(num, new(big.Rat).Abs(next))
	case next.Sign() != pos.Sign(): // flipped through zero
		return new(big.Rat).Set(p)
	default: // reducing
		return entry
	}
}

func (b *Book) ensureRow(ctx context.Context, exchange, account, symbol, side string) error {
	q := b.DB.UpsertSQL("positions", []string{"exchange", "account", "symbol", "position_side", "updated_at"}, 1,
		[]string{"exchange", "account", "symbol", "position_side"}, nil)
	if _, err := b.DB.ExecContext(ctx, q, exchange, account, symbol, side, b.now().UTC()); err != nil {
		return fmt.Errorf("creating the position row of %s %s %s: %w", account, symbol, side, err)
	}
	return nil
}

const whereKey = " WHERE exchange = ? AND account = ? AND symbol = ? AND position_side = ?"

func (b *Book) writeObserved(ctx context.Context, exchange, account, symbol, side, amount, entry string, orders int) error {
	if err := b.ensureRow(ctx, exchange, account, symbol, side); err != nil {
		return err
	}
	status := "flat"
	if amount != "0" {
		status = "open"
	}
	now := b.now().UTC()
	// opened_at and closed_at read the old status: they come before status
	// (MySQL assigns left to right with the new values).
	q := b.DB.Rebind(`UPDATE positions SET
		opened_at = CASE WHEN status <> 'open' AND ? = 'open' THEN ? ELSE opened_at END,
		closed_at = CASE WHEN status = 'open' AND ? <> 'open' THEN ? WHEN ? = 'open' THEN NULL ELSE closed_at END,
		status = ?, amount = ?, entry_price = ?, orders_counted = ?, updated_at = ?` + whereKey)
	if _, err := b.DB.ExecContext(ctx, q, status, now, status, now, status, status, amount, entry, orders, now,
		exchange, account, symbol, side); err != nil {
		return fmt.Errorf("writing the position of %s %s %s: %w", account, symbol, side, err)
	}
	return b.markDrift(ctx, exchange, account, symbol, side)
}

// markDrift sets drift_since to now when the two sides start to disagree,
// keeps it while they still do, and clears it when they agree (amounts are
// stored canonical, so text equality is numeric equality).
func (b *Book) markDrift(ctx context.Context, exchange, account, symbol, side string) error {
	q := b.DB.Rebind(`UPDATE positions SET drift_since = CASE
		WHEN exchange_amount IS NULL OR exchange_amount = amount THEN 0
		WHEN drift_since = 0 THEN ? ELSE drift_since END` + whereKey)
	if _, err := b.DB.ExecContext(ctx, q, b.now().UnixMilli(), exchange, account, symbol, side); err != nil {
		return fmt.Errorf("updating the drift of %s %s %s: %w", account, symbol, side, err)
	}
	return nil
}

// RecordExchange records the exchange's positions (an ACCOUNT_UPDATE's, source
// "stream"). A report older than the one stored is ignored.
func (b *Book) RecordExchange(ctx context.Context, exchange, account, source string, ps []topics.ExchangePosition) error {
	for _, p := range ps {
		amount, ok := parseDec(p.Amount)
		if !ok || p.Symbol == "" {
			return fmt.Errorf("%w: exchange position %+v of %s has no symbol or a bad amount", ErrBadEvent, p, account)
		}
		side := normSide(p.PositionSide)
		entry := ""
		if e, ok := parseDec(p.EntryPrice); ok {
			entry = formatDec(e)
		}
		if err := b.ensureRow(ctx, exchange, account, p.Symbol, side); err != nil {
			return err
		}
		q := b.DB.Rebind(`UPDATE positions SET exchange_amount = ?, exchange_entry_price = ?, exchange_time = ?,
			exchange_source = ?, updated_at = ?` + whereKey + " AND exchange_time <= ?")
		if _, err := b.DB.ExecContext(ctx, q, formatDec(amount), entry, p.EventMs, source, b.now().UTC(),
			exchange, account, p.Symbol, side, p.EventMs); err != nil {
			return fmt.Errorf("recording the exchange position of %s %s %s: %w", account, p.Symbol, side, err)
		}
		if err := b.markDrift(ctx, exchange, account, p.Symbol, side); err != nil {
			return err
		}
	}
	return nil
}

// RecordSnapshot records a complete REST snapshot of the account's open
// positions taken at the exchange time atMs: every position the snapshot does
// not list is flat on the exchange.
func (b *Book) RecordSnapshot(ctx context.Context, exchange, account string, open []topics.ExchangePosition, atMs int64) error {
	listed := map[sideKey]bool{}
	all := make([]topics.ExchangePosition, 0, len(open))
	for _, p := range open {
		p.PositionSide = normSide(p.PositionSide)
		p.EventMs = atMs
		listed[sideKey{p.Symbol, p.PositionSide}] = true
		all = append(all, p)
	}
	rows, err := b.DB.QueryContext(ctx, b.DB.Rebind("SELECT symbol, position_side FROM positions WHERE exchange = ? AND account = ?"),
		exchange, account)
	if err != nil {
		return fmt.Errorf("reading the positions of %s: %w", account, err)
	}
	for rows.Next() {
		var k sideKey
		if err := rows.Scan(&k.symbol, &k.side); err != nil {
			rows.Close()
			return fmt.Errorf("reading the positions of %s: %w", account, err)
		}
		if !listed[k] {
			all = append(all, topics.ExchangePosition{Symbol: k.symbol, PositionSide: k.side, Amount: "0", EntryPrice: "0", EventMs: atMs})
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("reading the positions of %s: %w", account, err)
	}
	return b.RecordExchange(ctx, exchange, account, "rest", all)
}

// DueDrifts lists the account's disagreements older than grace that were not
// alerted yet.
func (b *Book) DueDrifts(ctx context.Context, exchange, account string, grace time.Duration) ([]Drift, error) {
	cut := b.now().Add(-grace).UnixMilli()
	rows, err := b.DB.QueryContext(ctx, b.DB.Rebind(`SELECT symbol, position_side, amount, exchange_amount, exchange_time,
		exchange_source, drift_since FROM positions WHERE exchange = ? AND account = ? AND drift_since > 0
		AND drift_since <= ? AND drift_alerted <> drift_since ORDER BY symbol, position_side`), exchange, account, cut)
	if err != nil {
		return nil, fmt.Errorf("reading the drifts of %s: %w", account, err)
	}
	defer rows.Close()
	var out []Drift
	for rows.Next() {
		d := Drift{Exchange: exchange, Account: account}
		var ex sql.NullString
		if err := rows.Scan(&d.Symbol, &d.PositionSide, &d.Amount, &ex, &d.ExchangeTimeMs, &d.ExchangeSource, &d.SinceMs); err != nil {
			return nil, fmt.Errorf("reading the drifts of %s: %w", account, err)
		}
		d.ExchangeAmount = ex.String
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the drifts of %s: %w", account, err)
	}
	return out, nil
}

// MarkAlerted records that d was alerted, so the same episode is not alerted
// again (a new disagreement after the sides agreed is a new episode).
func (b *Book) MarkAlerted(ctx context.Context, d Drift) error {
	q := b.DB.Rebind("UPDATE positions SET drift_alerted = ?" + whereKey + " AND drift_since = ?")
	if _, err := b.DB.ExecContext(ctx, q, d.SinceMs, d.Exchange, d.Account, d.Symbol, d.PositionSide, d.SinceMs); err != nil {
		return fmt.Errorf("marking the drift of %s %s alerted: %w", d.Account, d.Symbol, err)
	}
	return nil
}

// parseDec parses a decimal string ("" and garbage are not decimals).
func parseDec(s string) (*big.Rat, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, false
	}
	r, ok := new(big.Rat).SetString(s)
	return r, ok
}

// formatDec renders r canonically: at most 18 decimals, no trailing zeros,
// "0" for zero, so equal amounts are equal text.
func formatDec(r *big.Rat) string {
	s := r.FloatString(18)
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	if s == "-0" || s == "" {
		return "0"
	}
	return s
}

// Canonical returns the canonical form of a decimal string (for comparisons
// with the positions table), or s itself when it is not a decimal.
func Canonical(s string) string {
	r, ok := parseDec(s)
	if !ok {
		return s
	}
	return formatDec(r)
}

// RefoldAll recomputes the observed positions of every symbol every account
// traded from the orders table, and returns how many (account, symbol)
// pairs it refolded. Live, the worker refolds on each transition; a rebuild
// publishes none, so it folds them all at the end. The exchange's side of
// each position comes with the next ACCOUNT_UPDATE or order-sync sweep.
func (b *Book) RefoldAll(ctx context.Context) (int, error) {
	type pair struct{ exchange, account, symbol string }
	rows, err := b.DB.QueryContext(ctx, "SELECT DISTINCT exchange, account, symbol FROM orders")
	if err != nil {
		return 0, fmt.Errorf("listing the traded symbols: %w", err)
	}
	var pairs []pair
	for rows.Next() {
		var p pair
		if err := rows.Scan(&p.exchange, &p.account, &p.symbol); err != nil {
			rows.Close()
			return 0, fmt.Errorf("listing the traded symbols: %w", err)
		}
		pairs = append(pairs, p)
	}
	rows.Close() // before refolding: SQLite has one connection
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("listing the traded symbols: %w", err)
	}
	for _, p := range pairs {
		if err := b.Refold(ctx, p.exchange, p.account, p.symbol); err != nil {
			return 0, fmt.Errorf("refolding the position of %s %s: %w", p.account, p.symbol, err)
		}
	}
	return len(pairs), nil
}
