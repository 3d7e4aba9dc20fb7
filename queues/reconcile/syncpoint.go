package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/kraite/stream/topics"
)

// A sync point is the exchange time up to which an account's order history
// was read by its last successful sweep (order_sync_state). A sweep reads
// from there, not from its own scheduled time: frames lost at T followed by
// a REST outage of any length are still read once REST answers again,
// within the exchange's history (see DefaultHistory).

// firstFuturesMs is 2019-09-01 UTC, before Binance USD-M futures opened: no
// sync point can lie earlier, so one that does is garbage.
const firstFuturesMs = 1567296000000

// LoadSyncPoint returns the account's stored sync point (exchange ms) and
// whether there is one.
func (r *Reconciler) LoadSyncPoint(ctx context.Context, account string) (int64, bool, error) {
	var ms int64
	q := r.DB.Rebind("SELECT synced_until_ms FROM order_sync_state WHERE exchange = ? AND account = ?")
	err := r.DB.QueryRowContext(ctx, q, r.Exchange, account).Scan(&ms)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, false, nil
	case err != nil:
		return 0, false, fmt.Errorf("reading the order-sync point of %s: %w", account, err)
	}
	return ms, true, nil
}

// SaveSyncPoint records that the account's order history up to untilMs
// (exchange time) is read and published. Call it only once everything the
// sweep found is durable; an older or garbage value is overwritten (a
// sweep's end is always its own fresh server time).
func (r *Reconciler) SaveSyncPoint(ctx context.Context, account string, untilMs int64) error {
	if untilMs <= 0 {
		return fmt.Errorf("saving the order-sync point of %s: %d is not an exchange time", account, untilMs)
	}
	q := r.DB.UpsertSQL("order_sync_state", []string{"exchange", "account", "synced_until_ms", "updated_at"}, 1,
		[]string{"exchange", "account"}, []string{"synced_until_ms", "updated_at"})
	if _, err := r.DB.ExecContext(ctx, q, r.Exchange, account, untilMs, time.Now().UTC()); err != nil {
		return fmt.Errorf("saving the order-sync point of %s: %w", account, err)
	}
	return nil
}

// Sweep is a periodic sync. Its window starts at the account's sync point
// minus Overlap; at fallback when there is none yet, or when the stored one
// cannot be right (ahead of the exchange's clock, or before futures
// existed: it is logged and ignored, never trusted to skip a window). A
// zero fallback means the overlap before the exchange's time. The report's
// UntilMs is what SaveSyncPoint should store once the sweep's results are
// durable.
func (r *Reconciler) Sweep(ctx context.Context, acct Account, fallback time.Time) (Report, error) {
	return r.sync(ctx, acct, func(ctx context.Context, readAt int64, rep *Report) (int64, error) {
		fb := readAt - r.overlap().Milliseconds()
		if !fallback.IsZero() {
			fb = fallback.UnixMilli()
		}
		stored, ok, err := r.LoadSyncPoint(ctx, acct.ID)
		if err != nil {
			return 0, err
		}
		if !ok {
			rep.SyncPoint = "none stored: from the fallback look-back"
			return fb, nil
		}
		if why := badSyncPoint(stored, readAt); why != "" {
			rep.SyncPoint = fmt.Sprintf("stored %d ignored (%s): from the fallback look-back", stored, why)
			r.Log.Error("ignoring the stored order-sync point", "account", acct.ID, "stored_ms", stored,
				"exchange_time_ms", readAt, "reason", why, "from_ms", fb)
			return fb, nil
		}
		rep.SyncPoint = "stored"
		return stored - r.overlap().Milliseconds(), nil
	})
}

// badSyncPoint says why a stored sync point cannot be right, or "".
func badSyncPoint(stored, readAt int64) string {
	if stored < firstFuturesMs {
		return "before Binance futures existed"
	}
	if err := topics.CheckEventTime(stored, time.UnixMilli(readAt), 0); err != nil {
		return "ahead of the exchange's clock: " + err.Error()
	}
	return ""
}
