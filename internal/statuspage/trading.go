package statuspage

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/kraite/stream/internal/db"
)

// The trading section is what an operator of a trading system looks at
// first: the open positions the positions worker keeps (observed next to
// the exchange's, with their notional at the current mark price) and the
// newest fills. It reads the database, so only a process that has it
// shows it. All SQL here is constant text.

// Trading is the open positions and the newest fills.
type Trading struct {
	Section
	// OpenPositions counts every open position; Positions lists at most
	// maxPositions of them.
	OpenPositions int64         `json:"open_positions"`
	Positions     []PositionRow `json:"positions"`
	// Exposure is the sum of the listed positions' notional (|amount| x
	// mark price, in their quote currency); positions without a mark
	// price are left out of it.
	Exposure float64   `json:"exposure"`
	Fills    []FillRow `json:"fills"`
}

// PositionRow is one open position.
type PositionRow struct {
	Exchange       string   `json:"exchange"`
	Account        string   `json:"account"`
	Symbol         string   `json:"symbol"`
	Side           string   `json:"side"`
	Amount         string   `json:"amount"`
	EntryPrice     string   `json:"entry_price"`
	ExchangeAmount string   `json:"exchange_amount"`
	Notional       *float64 `json:"notional"`
	DriftSinceMs   int64    `json:"drift_since,omitempty"`
}

// FillRow is one fill.
type FillRow struct {
	AtMs           int64  `json:"at"`
	Exchange       string `json:"exchange"`
	Account        string `json:"account"`
	Symbol         string `json:"symbol"`
	Side           string `json:"side"`
	Qty            string `json:"qty"`
	Price          string `json:"price"`
	RealizedProfit string `json:"realized_profit"`
}

const (
	maxPositions = 50
	maxFills     = 10

	openCountSQL = "SELECT COUNT(*) FROM positions WHERE status = 'open'"
	positionsSQL = "SELECT p.exchange, p.account, p.symbol, p.position_side, p.amount, p.entry_price, " +
		"COALESCE(p.exchange_amount, ''), p.drift_since, s.mark_price FROM positions p " +
		"LEFT JOIN exchange_symbols s ON s.exchange = p.exchange AND s.symbol = p.symbol " +
		"WHERE p.status = 'open' ORDER BY p.exchange, p.account, p.symbol, p.position_side LIMIT 50"
	// By id, the primary key: the newest fills written, without sorting
	// the whole table.
	fillsSQL = "SELECT exchange, account, symbol, side, qty, price, realized_profit, transaction_time " +
		"FROM order_fills ORDER BY id DESC LIMIT 10"
)

func (c *Collector) refreshTrading(ctx context.Context) error {
	t, err := queryTrading(ctx, c.cfg.DB)
	if err != nil {
		return err
	}
	c.st.setTrading(t)
	return nil
}

func queryTrading(ctx context.Context, d *db.DB) (Trading, error) {
	t := Trading{Section: Section{Available: true}, Positions: []PositionRow{}, Fills: []FillRow{}}
	if err := d.QueryRowContext(ctx, openCountSQL).Scan(&t.OpenPositions); err != nil {
		return t, fmt.Errorf("counting open positions: %w", err)
	}
	if t.OpenPositions > 0 {
		rows, err := d.QueryContext(ctx, positionsSQL)
		if err != nil {
			return t, fmt.Errorf("reading open positions: %w", err)
		}
		for rows.Next() {
			var (
				p    PositionRow
				mark sql.NullString
			)
			if err := rows.Scan(&p.Exchange, &p.Account, &p.Symbol, &p.Side, &p.Amount, &p.EntryPrice, &p.ExchangeAmount,
				&p.DriftSinceMs, &mark); err != nil {
				rows.Close()
				return t, fmt.Errorf("reading open positions: %w", err)
			}
			p.Notional = notional(p.Amount, mark)
			if p.Notional != nil {
				t.Exposure += *p.Notional
			}
			t.Positions = append(t.Positions, p)
		}
		if err := rows.Err(); err != nil {
			rows.Close()
			return t, fmt.Errorf("reading open positions: %w", err)
		}
		rows.Close()
	}
	rows, err := d.QueryContext(ctx, fillsSQL)
	if err != nil {
		return t, fmt.Errorf("reading recent fills: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var f FillRow
		if err := rows.Scan(&f.Exchange, &f.Account, &f.Symbol, &f.Side, &f.Qty, &f.Price, &f.RealizedProfit, &f.AtMs); err != nil {
			return t, fmt.Errorf("reading recent fills: %w", err)
		}
		t.Fills = append(t.Fills, f)
	}
	if err := rows.Err(); err != nil {
		return t, fmt.Errorf("reading recent fills: %w", err)
	}
	t.Exposure = math.Round(t.Exposure*100) / 100
	return t, nil
}

// notional is |amount| x mark for display, nil when either is not a
// finite number.
func notional(amount string, mark sql.NullString) *float64 {
	if !mark.Valid {
		return nil
	}
	a, err1 := strconv.ParseFloat(amount, 64)
	m, err2 := strconv.ParseFloat(mark.String, 64)
	v := math.Abs(a) * m
	if err1 != nil || err2 != nil || math.IsNaN(v) || math.IsInf(v, 0) || m <= 0 {
		return nil
	}
	v = math.Round(v*100) / 100
	return &v
}

func (s *state) setTrading(t Trading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.trading, s.tradingAt = t, time.Now()
}

func (s *state) tradingView(haveDB bool) Trading {
	t := s.trading
	switch {
	case !haveDB:
		return Trading{Section: Section{Note: notHere}, Positions: []PositionRow{}, Fills: []FillRow{}}
	case s.errs["trading"] != "":
		t.Available, t.Note = false, s.errs["trading"]
	case s.tradingAt.IsZero():
		t.Note = "waiting for the first refresh"
	}
	if t.Positions == nil {
		t.Positions = []PositionRow{}
	}
	if t.Fills == nil {
		t.Fills = []FillRow{}
	}
	return t
}
