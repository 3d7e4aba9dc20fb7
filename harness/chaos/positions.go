package chaos

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/queues/positions"
)

// PositionsCheck compares the positions table with the exchange's positions:
// every account's observed amount per symbol (one-way mode) must equal the
// exchange's, a symbol the exchange never held must be flat, and no drift
// may be outstanding. A difference counts as lost.
func PositionsCheck(exchange string) Check {
	return Check{Name: "positions", Run: func(ctx context.Context, d *db.DB, s Snapshot) (Finding, error) {
		f := Finding{Name: "positions"}
		if s.Positions == nil {
			return f, nil
		}
		for _, acct := range s.Accounts {
			got, err := storedPositions(ctx, d, exchange, acct)
			if err != nil {
				return f, err
			}
			for _, p := range s.Positions[acct] {
				f.Checked++
				want := positions.Canonical(p.Amount)
				r, ok := got[p.Symbol]
				delete(got, p.Symbol)
				switch {
				case !ok && want != "0":
					f.Lost++
					f.Details = append(f.Details, fmt.Sprintf("%s position %s: absent, exchange has %s", acct, p.Symbol, want))
				case ok && r.amount != want:
					f.Lost++
					f.Details = append(f.Details, fmt.Sprintf("%s position %s: %s, exchange has %s", acct, p.Symbol, r.amount, want))
				case ok && r.driftSince != 0:
					f.Lost++
					f.Details = append(f.Details, fmt.Sprintf("%s position %s: drift outstanding (exchange reported %s)", acct, p.Symbol, r.exchange.String))
				}
			}
			for sym, r := range got {
				if r.amount != "0" {
					f.Lost++
					f.Details = append(f.Details, fmt.Sprintf("%s position %s: %s, never held on the exchange", acct, sym, r.amount))
				}
			}
		}
		return f, nil
	}}
}

type storedPosition struct {
	amount     string
	exchange   sql.NullString
	driftSince int64
}

func storedPositions(ctx context.Context, d *db.DB, exchange, account string) (map[string]storedPosition, error) {
	rows, err := d.QueryContext(ctx, d.Rebind(`SELECT symbol, amount, exchange_amount, drift_since FROM positions
		WHERE exchange = ? AND account = ? AND position_side = 'BOTH'`), exchange, account)
	if err != nil {
		return nil, fmt.Errorf("reading the positions of %s: %w", account, err)
	}
	defer rows.Close()
	out := map[string]storedPosition{}
	for rows.Next() {
		var sym string
		var r storedPosition
		if err := rows.Scan(&sym, &r.amount, &r.exchange, &r.driftSince); err != nil {
			return nil, fmt.Errorf("reading the positions of %s: %w", account, err)
		}
		out[sym] = r
	}
	return out, rows.Err()
}
