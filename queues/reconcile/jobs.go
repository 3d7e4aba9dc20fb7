package reconcile

import (
	"context"
	"log/slog"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// JobKeepAlive is the priority job that keeps an account's listenKey alive.
const JobKeepAlive = "listenkey-keepalive"

// Handlers are this package's job handlers, by job type: order sync (the
// sweep and the gap backfill), the listenKey keep-alive, and the drift
// alerts (this package's and the positions book's), which are logged for
// an operator.
func Handlers(deps Deps) map[string]worker.JobHandler {
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	keepAlive := deps.KeepAliveREST
	if keepAlive == nil {
		keepAlive = deps.REST
	}
	return map[string]worker.JobHandler{
		JobOrderSync:       OrderSyncHandler(deps),
		JobKeepAlive:       KeepAliveHandler(keepAlive, deps.Account),
		JobDrift:           DriftAlertHandler(deps.Log),
		positions.JobDrift: PositionDriftAlertHandler(deps.Log),
	}
}

// KeepAliveHandler extends the listenKey of the job's account. A key the
// exchange no longer knows is not an error: the account's stream re-creates
// its key on its own.
func KeepAliveHandler(rest *binanceapi.Client, account func(id string) (binanceapi.Credentials, error)) worker.JobHandler {
	return func(ctx context.Context, j topics.Job) error {
		creds, err := account(j.Account)
		if err != nil {
			return err
		}
		err = rest.KeepAliveListenKey(ctx, creds)
		if binanceapi.IsListenKeyGone(err) {
			return nil
		}
		return err
	}
}

// DriftAlertHandler logs a drift alert: the database and the exchange
// disagree on an account's orders beyond what a sync repairs.
func DriftAlertHandler(log *slog.Logger) worker.JobHandler {
	return func(ctx context.Context, j topics.Job) error {
		log.Error("drift between the database and the exchange", "account", j.Account, "detail", string(j.Payload))
		return nil
	}
}

// PositionDriftAlertHandler logs a position drift alert: the observed
// position disagrees with the exchange's beyond the drift grace.
func PositionDriftAlertHandler(log *slog.Logger) worker.JobHandler {
	return func(ctx context.Context, j topics.Job) error {
		log.Error("position drift: the observed position disagrees with the exchange's", "account", j.Account, "detail", string(j.Payload))
		return nil
	}
}
