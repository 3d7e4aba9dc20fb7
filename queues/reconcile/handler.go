package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// Deps is what the order-sync job handler needs.
type Deps struct {
	Exchange string // exchange column value; default binance
	Prefix   string // topic prefix
	REST     *binanceapi.Client
	// KeepAliveREST extends listenKeys: a call a stream waits on, so it
	// paces at a higher share of the IP's weight than the sweeps
	// (binanceapi: Priorities). Nil: REST.
	KeepAliveREST *binanceapi.Client
	DB            *db.DB
	// Producer publishes backfill frames and drift alerts (kraite.priority).
	Producer *kgo.Client
	// Account returns the API credentials of an account id.
	Account func(id string) (binanceapi.Credentials, error)
	Log     *slog.Logger
	// Book records the exchange's positions read by a sweep and raises
	// position drift alerts; nil skips both.
	Book *positions.Book
	// Every is the sweep period: a first sweep (no sync point yet) reads
	// two periods back from its scheduled time.
	Every time.Duration
	// GapLookback is how far back a gap backfill reads when the gap's
	// start is unknown (a producer start).
	GapLookback time.Duration
	// DriftGrace is how long the observed and the exchange's position may
	// disagree before a position drift alert.
	DriftGrace time.Duration
	// Reconciler, when set, is used as is (its history limits for tests);
	// otherwise one is built from the fields above.
	Reconciler *Reconciler
}

// Validate names every missing dependency.
func (d Deps) Validate() error {
	var errs []error
	rec := d.reconciler()
	if rec.REST == nil {
		errs = append(errs, errors.New("REST is nil"))
	}
	if rec.DB == nil {
		errs = append(errs, errors.New("DB is nil"))
	}
	if rec.Producer == nil {
		errs = append(errs, errors.New("Producer is nil"))
	}
	if d.Account == nil {
		errs = append(errs, errors.New("Account is nil"))
	}
	if d.Every <= 0 {
		errs = append(errs, fmt.Errorf("Every: %v is not a positive period", d.Every))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("reconcile: deps: %w", err)
	}
	return nil
}

// reconciler is deps.Reconciler, or one built from the fields, with the
// exchange and the logger defaulted.
func (d Deps) reconciler() *Reconciler {
	rec := d.Reconciler
	if rec == nil {
		rec = &Reconciler{Exchange: d.Exchange, Prefix: d.Prefix, REST: d.REST, DB: d.DB, Producer: d.Producer, Log: d.Log}
	}
	if rec.Exchange == "" {
		rec.Exchange = topics.ExchangeBinance
	}
	if rec.Log == nil {
		rec.Log = slog.New(slog.DiscardHandler)
	}
	return rec
}

// OrderSyncHandler returns the handler of order-sync jobs. A job carrying a
// gap payload backfills that gap (GapPayload, Since); any other is a
// periodic sweep, which reads from the account's sync point (see Sweep)
// and, once its frames, alerts and position snapshot are durable, moves the
// sync point to the server time it read at. A failing sweep (a 429, the
// database down) leaves the sync point where it was, so the next one reads
// the whole window again. It panics if deps do not validate: that is a
// wiring bug found at start-up.
func OrderSyncHandler(deps Deps) worker.JobHandler {
	if err := deps.Validate(); err != nil {
		panic(err)
	}
	rec := deps.reconciler()
	return func(ctx context.Context, j topics.Job) error {
		key, err := deps.Account(j.Account)
		if err != nil {
			return err
		}
		acct := Account{ID: j.Account, Key: key}
		gap, isGap := gapPayload(j)
		var rep Report
		if isGap {
			rep, err = rec.Sync(ctx, acct, gapStart(gap, deps.GapLookback))
		} else {
			// The first sweep of an account (or one whose sync point is
			// garbage) reads the orders closed in the last two periods: an
			// order opened and closed while its frames were lost on a live
			// socket leaves no gap marker and is never open when a sweep looks.
			base := time.Now()
			if j.ScheduledMs > 0 {
				base = time.UnixMilli(j.ScheduledMs)
			}
			rep, err = rec.Sweep(ctx, acct, base.Add(-2*deps.Every))
		}
		if err != nil {
			return err
		}
		if rep.NeedsAlert() {
			if err := raiseDrift(ctx, rec.Producer, rec.Prefix, j, rep); err != nil {
				return err
			}
		}
		if deps.Book != nil {
			if rep.PositionsRead {
				if err := deps.Book.RecordSnapshot(ctx, rec.Exchange, j.Account, rep.Positions, rep.PositionsAtMs); err != nil {
					return err
				}
			}
			if err := raisePositionDrifts(ctx, rec.Producer, rec.Prefix, deps.Book, rec.Exchange, j.Account, deps.DriftGrace); err != nil {
				return err
			}
		}
		if !isGap && rep.UntilMs > 0 {
			return rec.SaveSyncPoint(ctx, j.Account, rep.UntilMs)
		}
		return nil
	}
}

// gapPayload decodes a gap backfill's payload; false for a sweep (no
// payload, or one that is not a gap).
func gapPayload(j topics.Job) (GapPayload, bool) {
	var p GapPayload
	if len(j.Payload) == 0 || json.Unmarshal(j.Payload, &p) != nil || (p.FromMs <= 0 && p.ToMs <= 0) {
		return p, false
	}
	return p, true
}

// gapStart is where a gap backfill starts reading (see Since).
func gapStart(p GapPayload, lookback time.Duration) time.Time {
	if p.FromMs > 0 {
		return time.UnixMilli(p.FromMs)
	}
	return time.UnixMilli(p.ToMs).Add(-lookback)
}

// raiseDrift puts the report of a sync that found something it cannot
// repair on the priority queue, as one drift-alert job per sync job.
func raiseDrift(ctx context.Context, prod *kgo.Client, prefix string, j topics.Job, rep Report) error {
	payload, _ := json.Marshal(rep)
	v, _ := json.Marshal(topics.Job{ID: "drift@" + j.ID, Type: JobDrift, Account: j.Account, Payload: payload})
	err := prod.ProduceSync(ctx, &kgo.Record{Topic: topics.Priority.Name(prefix), Key: []byte(j.Account), Value: v}).FirstErr()
	if err != nil {
		return fmt.Errorf("raising a drift alert for %s: %w", j.Account, err)
	}
	return nil
}

// raisePositionDrifts puts one priority alert per position disagreement
// that outlived the grace period (once per episode).
func raisePositionDrifts(ctx context.Context, prod *kgo.Client, prefix string, book *positions.Book, exchange, account string, grace time.Duration) error {
	due, err := book.DueDrifts(ctx, exchange, account, grace)
	if err != nil {
		return err
	}
	for _, d := range due {
		payload, _ := json.Marshal(d)
		id := fmt.Sprintf("%s@%s/%s/%s/%d", positions.JobDrift, account, d.Symbol, d.PositionSide, d.SinceMs)
		v, _ := json.Marshal(topics.Job{ID: id, Type: positions.JobDrift, Account: account, Payload: payload})
		if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topics.Priority.Name(prefix), Key: []byte(account), Value: v}).FirstErr(); err != nil {
			return fmt.Errorf("raising a position drift alert for %s %s: %w", account, d.Symbol, err)
		}
		if err := book.MarkAlerted(ctx, d); err != nil {
			return err
		}
	}
	return nil
}
