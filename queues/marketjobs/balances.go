package marketjobs

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
)

// Balance is one asset of a GET /fapi/v2/balance answer.
type Balance struct {
	Asset            string
	WalletBalance    string // "balance"
	AvailableBalance string // "availableBalance"
}

// SnapshotBalances fetches the balances of one account (signed GET
// /fapi/v2/balance, weight 5) and stores one row per asset at takenAt,
// truncated to the millisecond. takenAt is the job's scheduled slot, not the
// time of the call, so a repeat of the same slot (a retry, a re-fired job)
// finds the rows already there and changes nothing (insert, do nothing on
// conflict: the first snapshot of a slot is the one kept). It returns how
// many assets the answer had.
func SnapshotBalances(ctx context.Context, rest *binanceapi.Client, d *db.DB, exchange, account string, creds binanceapi.Credentials, takenAt time.Time) (int, error) {
	if account == "" {
		return 0, errors.New("snapshotting balances: empty account")
	}
	if takenAt.IsZero() {
		return 0, errors.New("snapshotting balances: zero snapshot time")
	}
	var raw json.RawMessage
	if err := rest.Signed(ctx, http.MethodGet, "/fapi/v2/balance", creds, nil, &raw); err != nil {
		return 0, fmt.Errorf("snapshotting balances of %s: %w", account, err)
	}
	bs, err := ParseBalances(raw)
	if err != nil {
		return 0, fmt.Errorf("snapshotting balances of %s: %w", account, err)
	}
	if err := InsertBalances(ctx, d, exchange, account, bs, takenAt); err != nil {
		return 0, err
	}
	return len(bs), nil
}

// ParseBalances decodes a GET /fapi/v2/balance (or v3) answer: an array of
// {"asset", "balance", "availableBalance", ...}. An asset must be 1..16
// characters and the balances plain decimals (availableBalance may be
// absent: stored as "").
func ParseBalances(body []byte) ([]Balance, error) {
	var rows []struct {
		Asset            string  `json:"asset"`
		Balance          *string `json:"balance"`
		AvailableBalance *string `json:"availableBalance"`
	}
	if err := json.Unmarshal(body, &rows); err != nil {
		return nil, fmt.Errorf("decoding balances: %w", err)
	}
	out := make([]Balance, 0, len(rows))
	seen := map[string]bool{}
	for i, r := range rows {
		if r.Asset == "" || len(r.Asset) > 16 {
			return nil, fmt.Errorf("decoding balance %d: asset %q is not 1..16 characters", i, r.Asset)
		}
		if seen[r.Asset] {
			return nil, fmt.Errorf("decoding balance %d: asset %q repeated", i, r.Asset)
		}
		seen[r.Asset] = true
		if r.Balance == nil {
			return nil, fmt.Errorf("decoding balance %d (%s): no balance", i, r.Asset)
		}
		if err := checkDecimal(*r.Balance); err != nil {
			return nil, fmt.Errorf("decoding balance %d (%s): %w", i, r.Asset, err)
		}
		b := Balance{Asset: r.Asset, WalletBalance: *r.Balance}
		if r.AvailableBalance != nil {
			if err := checkDecimal(*r.AvailableBalance); err != nil {
				return nil, fmt.Errorf("decoding available balance %d (%s): %w", i, r.Asset, err)
			}
			b.AvailableBalance = *r.AvailableBalance
		}
		out = append(out, b)
	}
	return out, nil
}

var balanceCols = []string{"exchange", "account", "asset", "wallet_balance", "available_balance", "taken_at"}

// InsertBalances stores bs at takenAt (UTC, millisecond precision) in one
// statement; rows already stored for the same (exchange, account, asset,
// taken_at) are left as they are.
func InsertBalances(ctx context.Context, d *db.DB, exchange, account string, bs []Balance, takenAt time.Time) error {
	if len(bs) == 0 {
		return nil
	}
	at := takenAt.UTC().Truncate(time.Millisecond)
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		for _, part := range db.Batches(bs, 500, 1, false) {
			q := d.UpsertSQL("balance_snapshots", balanceCols, len(part),
				[]string{"exchange", "account", "asset", "taken_at"}, nil)
			args := make([]any, 0, len(part)*len(balanceCols))
			for _, b := range part {
				args = append(args, exchange, account, b.Asset, b.WalletBalance, b.AvailableBalance, at)
			}
			if _, err := d.ExecIn(ctx, tx, q, args...); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("inserting %d balances of %s: %w", len(bs), account, err)
	}
	return nil
}
