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
//
// # Refusals
//
// An order the exchange refuses on its merits (-4003 quantity, -2019
// margin, -1121 symbol, an invalid key: binanceapi.IsPermanent) is never
// retried: the handler writes a Rejection to open-intents.rejected (reason
// exchange_rejected, with the exchange's code and message) so the user
// learns why, and returns an error wrapping worker.ErrPermanent, so the
// worker parks the job at once. If the rejection cannot be written, the
// error is a transient one: the job is retried (a query, the refused POST
// again) until the user can be told. Rate limits, bans, outages and
// answers in doubt are retried as before.
package positions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// Kinds of records on the positions topic.
const (
	KindOpenAllowed     = topics.PositionOpenAllowed
	KindOrderTransition = topics.PositionOrderTransition
	KindAccountUpdate   = topics.PositionAccountUpdate
)

// ErrBadIntent marks an allowed-open record that can never be placed (no
// client id, no symbol, bad side...); the worker parks it at once.
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
	// Reject publishes the rejection of an intent the exchange refused for
	// good or that can never be placed (KafkaRejections). nil: refusals
	// are logged and parked, the user is not told.
	Reject func(ctx context.Context, r Rejection) error
	// Validator re-checks every allowed intent right before its order is
	// posted (internal/intents; the gate checked it too, but the positions
	// topic is writable by others). nil skips the check (tests of the
	// placement alone); every box sets it.
	Validator intents.Validator
}

// Reasons of a Rejection (machine-readable, like the gate's).
const (
	// ReasonExchangeRejected: the exchange refused the order for good;
	// ExchangeCode and ExchangeMsg say why.
	ReasonExchangeRejected = "exchange_rejected"
	// ReasonInvalidIntent: the allowed intent can never be placed (no
	// client id, a bad side...).
	ReasonInvalidIntent = "invalid_intent"
)

// Rejection is what the positions worker writes to open-intents.rejected:
// a topics.RejectedIntent (the band and score it was allowed at, the
// reason, a Detail for a person) with the exchange's answer. A reader that
// decodes a topics.RejectedIntent sees the reason and the detail.
type Rejection struct {
	topics.RejectedIntent
	// ExchangeCode and ExchangeMsg are the exchange's error ("code":-4003,
	// "msg":"Quantity less than or equal to zero."); HTTPStatus its status.
	ExchangeCode int    `json:"exchange_code,omitempty"`
	ExchangeMsg  string `json:"exchange_msg,omitempty"`
	HTTPStatus   int    `json:"http_status,omitempty"`
}

// KafkaRejections publishes rejections to <prefix>open-intents.rejected,
// keyed by account, with cl (a producer made by kclient.Factory.Producer, so
// the key lands where the gate's rejections of the account do).
func KafkaRejections(cl *kgo.Client, prefix string) func(context.Context, Rejection) error {
	topic := topics.OpenIntentsRejected.Name(prefix)
	return func(ctx context.Context, r Rejection) error {
		v, err := json.Marshal(r)
		if err != nil {
			return fmt.Errorf("encoding rejection of %s: %w", r.Intent.ClientID, err)
		}
		rec := &kgo.Record{Topic: topic, Key: []byte(r.Intent.Account), Value: v}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			return fmt.Errorf("publishing rejection of %s: %w", r.Intent.ClientID, err)
		}
		return nil
	}
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
	p := &placer{rest: deps.Rest, creds: deps.Account, log: deps.Log, validator: deps.Validator}
	if deps.Reject == nil {
		deps.Log.Warn("positions worker has no rejection publisher: refused intents are parked without telling the user")
	}
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
			if ev.Intent == nil {
				return err
			}
			return reject(ctx, deps, ev, in, ReasonInvalidIntent, err)
		}
		err = p.place(ctx, in)
		var refused *RefusedError
		if errors.As(err, &refused) {
			reason := ReasonExchangeRejected
			if refused.Reason != "" {
				reason = refused.Reason
			}
			return reject(ctx, deps, ev, in, reason, err)
		}
		return err
	}
}

// reject tells the user why intent in will never be placed, then returns
// cause (permanent); when the rejection cannot be published it returns a
// transient error instead, so the job is retried until the user is told.
func reject(ctx context.Context, deps Deps, ev topics.PositionEvent, in topics.OpenIntent, reason string, cause error) error {
	if deps.Reject == nil {
		return cause
	}
	r := Rejection{RejectedIntent: topics.RejectedIntent{Intent: in, Band: ev.Band, Score: ev.Score, Reason: reason,
		Detail: topics.Bound(cause.Error(), maxDetail), AtMs: time.Now().UnixMilli()}}
	var ae *binanceapi.APIError
	if errors.As(cause, &ae) {
		r.ExchangeCode, r.ExchangeMsg, r.HTTPStatus = ae.Code, topics.Bound(ae.Msg, maxDetail), ae.HTTPStatus
	}
	if err := deps.Reject(ctx, r); err != nil {
		// cause by text, not wrapped: this error must not be permanent.
		return fmt.Errorf("%s; telling the user failed, so retrying: %w", cause.Error(), err)
	}
	deps.Log.Warn("intent rejected", "account", in.Account, "client_id", in.ClientID, "reason", reason,
		"exchange_code", r.ExchangeCode, "exchange_msg", r.ExchangeMsg)
	return cause
}

// maxDetail bounds texts from the exchange in a rejection.
const maxDetail = 1024

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
