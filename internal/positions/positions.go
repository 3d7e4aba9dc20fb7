// Package positions is the position workflow worker of the positions queue:
// it turns every allowed open intent the gate publishes into exactly one
// signed MARKET order on the exchange, and keeps the positions table from
// the orders sink's observer transitions and the exchange's ACCOUNT_UPDATE
// reports (see Book).
//
// # Idempotency
//
// The worker delivers at least once (a crash between placing and committing
// redelivers the record, and it retries failed attempts), so placing is keyed
// by the intent's client order id. Binance only rejects a repeated
// newClientOrderId among open orders; a MARKET order fills at once, so a blind
// repeat POST would open a second position. The handler therefore asks the
// exchange first (GET /fapi/v1/order?origClientOrderId=) and posts only when
// the order does not exist. When a POST ends in doubt (transport error,
// timeout, 5xx "unknown status") it queries again instead of posting again,
// and returns an error if the order is still not visible, so the worker's
// retry starts with a query as well. A POST is never repeated blindly.
package positions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/worker"
	"github.com/kraite/stream/topics"
)

// Kinds of records on the positions topic.
const (
	KindOpenAllowed     = topics.PositionOpenAllowed
	KindOrderTransition = topics.PositionOrderTransition
	KindAccountUpdate   = topics.PositionAccountUpdate
)

// ErrBadIntent marks an allowed-open record that can never be placed (no
// client id, no symbol, bad side...); the worker parks it after its retries.
var ErrBadIntent = fmt.Errorf("positions: bad intent (%w)", worker.ErrPermanent)

// JobDrift is the priority job type of a position drift alert.
const JobDrift = "position-drift"

// ErrBadEvent marks another positions record that can never be applied.
var ErrBadEvent = fmt.Errorf("positions: bad event (%w)", worker.ErrPermanent)

// Deps are what the handler needs.
type Deps struct {
	// Rest is the exchange REST client (one per IP).
	Rest *binanceapi.Client
	// Account returns the API credentials of an account id.
	Account func(id string) (binanceapi.Credentials, error)
	Log     *slog.Logger
	// Book keeps the positions table; nil skips transitions and exchange
	// reports (a worker that only places orders).
	Book *Book
}

// Validate names the missing dependency.
func (d Deps) Validate() error {
	switch {
	case d.Rest == nil:
		return errors.New("positions: deps: Rest is nil")
	case d.Account == nil:
		return errors.New("positions: deps: Account is nil")
	case d.Log == nil:
		return errors.New("positions: deps: Log is nil")
	}
	return nil
}

// Handler returns the worker handler of the positions queue: open_allowed
// places an order, order_transition refolds the symbol's position from the
// orders table and account_update records the exchange's truth. It panics
// if deps do not validate: that is a wiring bug found at start-up.
func Handler(deps Deps) worker.Handler {
	if err := deps.Validate(); err != nil {
		panic(err)
	}
	p := &placer{rest: deps.Rest, creds: deps.Account, log: deps.Log}
	return func(ctx context.Context, rec *kgo.Record) error {
		ev, err := decode(rec.Value)
		if err != nil {
			return err
		}
		switch ev.Kind {
		case KindOpenAllowed:
		case KindOrderTransition:
			if deps.Book == nil {
				return nil
			}
			if ev.Order == nil || ev.Order.Symbol == "" || ev.Order.OrderID == 0 {
				return nil // algo transitions move no position; their orders do
			}
			return deps.Book.Refold(ctx, exchangeOf(ev.Exchange, ev.Order.Exchange), ev.Account, ev.Order.Symbol)
		case KindAccountUpdate:
			if deps.Book == nil {
				return nil
			}
			return deps.Book.RecordExchange(ctx, exchangeOf(ev.Exchange, ""), ev.Account, "stream", ev.Positions)
		default:
			return nil
		}
		in, err := intentOf(ev)
		if err != nil {
			return err
		}
		return p.place(ctx, in)
	}
}

func exchangeOf(a, b string) string {
	if a != "" {
		return a
	}
	if b != "" {
		return b
	}
	return topics.ExchangeBinance
}

// decode parses a positions record value.
func decode(v []byte) (topics.PositionEvent, error) {
	var ev topics.PositionEvent
	if err := json.Unmarshal(v, &ev); err != nil {
		return ev, fmt.Errorf("%w: decoding position event: %w", ErrBadEvent, err)
	}
	return ev, nil
}

// intentOf checks an open_allowed event and returns its intent, with the
// account taken from the event when the intent leaves it empty.
func intentOf(ev topics.PositionEvent) (topics.OpenIntent, error) {
	if ev.Intent == nil {
		return topics.OpenIntent{}, fmt.Errorf("%w: open_allowed event of account %q has no intent", ErrBadIntent, ev.Account)
	}
	in := *ev.Intent
	if in.Account == "" {
		in.Account = ev.Account
	}
	if in.Exchange == "" {
		in.Exchange = ev.Exchange
	}
	switch {
	case in.ClientID == "":
		return in, fmt.Errorf("%w: intent of account %q on %s has an empty client id; refusing to place an order that cannot be deduplicated",
			ErrBadIntent, in.Account, in.Symbol)
	case in.Account == "":
		return in, fmt.Errorf("%w: intent %s has no account", ErrBadIntent, in.ClientID)
	case in.Exchange != "" && in.Exchange != topics.ExchangeBinance:
		return in, fmt.Errorf("%w: intent %s is for exchange %q, only %q is supported", ErrBadIntent, in.ClientID, in.Exchange, topics.ExchangeBinance)
	case in.Symbol == "":
		return in, fmt.Errorf("%w: intent %s has no symbol", ErrBadIntent, in.ClientID)
	case in.Side != "BUY" && in.Side != "SELL":
		return in, fmt.Errorf("%w: intent %s has side %q, want BUY or SELL", ErrBadIntent, in.ClientID, in.Side)
	case in.Size == "":
		return in, fmt.Errorf("%w: intent %s has no size", ErrBadIntent, in.ClientID)
	}
	return in, nil
}
