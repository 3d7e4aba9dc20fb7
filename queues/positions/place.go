package positions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// Exchange error codes the placer branches on.
const (
	codeNoSuchOrder      = binanceapi.CodeNoSuchOrder    // GET /fapi/v1/order: "Order does not exist."
	codeDuplicateOrderID = -4116                         // POST: "ClientOrderId is duplicated."
	codeBackendTimeout   = binanceapi.CodeBackendTimeout // "Timeout waiting for response from backend server."
	codeUnknownError     = binanceapi.CodeUnknown        // "An unknown error occurred while processing the request."
	codeDisconnected     = binanceapi.CodeDisconnected   // "Internal error; unable to process your request."
	codeUnexpectedResp   = binanceapi.CodeUnexpectedResp // "An unexpected response was received from the message bus."
)

// RefusedError is an intent the exchange refused for good (a permanent
// error, see binanceapi.IsPermanent): the worker parks the job at once
// (it wraps worker.ErrPermanent) and the handler tells the user through
// open-intents.rejected.
type RefusedError struct {
	Err error
	// Reason, when set, is the intent validator's refusal reason
	// (internal/intents): the order was refused before any exchange call.
	Reason string
}

func (e *RefusedError) Error() string {
	if e.Reason != "" {
		return "refused before placing: " + e.Err.Error()
	}
	return "refused by the exchange: " + e.Err.Error()
}

// Unwrap gives the exchange's error and worker.ErrPermanent.
func (e *RefusedError) Unwrap() []error { return []error{e.Err, worker.ErrPermanent} }

type placer struct {
	rest      *binanceapi.Client
	creds     func(id string) (binanceapi.Credentials, error)
	log       *slog.Logger
	validator intents.Validator
}

// place makes sure the intent's order exists on the exchange, posting it at
// most once per call and only after a query found nothing.
func (p *placer) place(ctx context.Context, in topics.OpenIntent) error {
	cr, err := p.creds(in.Account)
	if err != nil {
		return fmt.Errorf("looking up credentials of account %s: %w", in.Account, err)
	}
	log := p.log.With("account", in.Account, "symbol", in.Symbol, "client_id", in.ClientID)
	o, found, err := p.query(ctx, cr, in)
	switch {
	case err != nil && binanceapi.IsPermanent(err):
		// An unknown symbol, a revoked key: placing cannot go better.
		return &RefusedError{Err: fmt.Errorf("checking for order %s before placing: %w", in.ClientID, err)}
	case err != nil:
		return fmt.Errorf("checking for order %s before placing: %w", in.ClientID, err)
	}
	if found {
		log.Info("order already on the exchange; not placing again", "order_id", o.OrderID, "status", o.Status)
		return nil
	}
	// Defence in depth: anyone with write access to the positions topic
	// could write an open_allowed event the gate never saw. The check comes
	// after the query, so a retry of an order already placed is not refused
	// by the account limit it now counts against.
	if p.validator != nil {
		if r := p.validator.Validate(in, time.Now()); r != nil {
			if r.Retryable() {
				return fmt.Errorf("validating order %s before placing: %w", in.ClientID, r)
			}
			log.Warn("intent refused before placing", "reason", r.Reason, "detail", r.Detail)
			return &RefusedError{Err: r, Reason: r.Reason}
		}
	}
	err = p.rest.Signed(ctx, "POST", "/fapi/v1/order", cr, orderParams(in), &o)
	switch {
	case err == nil:
		log.Info("order placed", "order_id", o.OrderID, "status", o.Status, "side", in.Side, "size", in.Size, "reduce", in.Reduce)
		return nil
	case isDuplicate(err):
		log.Info("exchange says the order already exists; treating as placed", "err", err)
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("placing order %s: %w", in.ClientID, ctx.Err())
	case binanceapi.IsPermanent(err):
		// The exchange refused the order on its merits (-4003 quantity,
		// -2019 margin, -1111 precision...): no retry can change that.
		log.Warn("exchange refused the order", "err", err)
		return &RefusedError{Err: fmt.Errorf("placing order %s: %w", in.ClientID, err)}
	case !inDoubt(err):
		// Rate limits and bans: the worker backs off (as long as the
		// exchange asks), retries (starting with a query) and parks what
		// never succeeds.
		return fmt.Errorf("placing order %s: %w", in.ClientID, err)
	}
	log.Warn("order placement in doubt; querying instead of posting again", "err", err)
	o, found, qerr := p.query(ctx, cr, in)
	switch {
	case qerr != nil:
		return fmt.Errorf("placing order %s: status unknown (%w), and querying it failed: %w", in.ClientID, err, qerr)
	case !found:
		return fmt.Errorf("placing order %s: status unknown and not visible yet: %w", in.ClientID, err)
	}
	log.Info("order in doubt turned out placed", "order_id", o.OrderID, "status", o.Status)
	return nil
}

// query looks the order up by client id; found is false when the exchange
// says it does not exist.
func (p *placer) query(ctx context.Context, cr binanceapi.Credentials, in topics.OpenIntent) (binanceapi.Order, bool, error) {
	var o binanceapi.Order
	q := url.Values{"symbol": {in.Symbol}, "origClientOrderId": {in.ClientID}}
	err := p.rest.Signed(ctx, "GET", "/fapi/v1/order", cr, q, &o)
	var ae *binanceapi.APIError
	switch {
	case err == nil:
		return o, true, nil
	case errors.As(err, &ae) && ae.Code == codeNoSuchOrder:
		return o, false, nil
	default:
		return o, false, fmt.Errorf("querying order %s on %s: %w", in.ClientID, in.Symbol, err)
	}
}

// orderParams are the POST /fapi/v1/order parameters of an intent.
func orderParams(in topics.OpenIntent) url.Values {
	v := url.Values{
		"symbol":           {in.Symbol},
		"side":             {in.Side},
		"type":             {"MARKET"},
		"quantity":         {in.Size},
		"newClientOrderId": {in.ClientID},
	}
	if in.Reduce {
		v.Set("reduceOnly", "true")
	}
	return v
}

// isDuplicate reports the exchange refusing a newClientOrderId it already has.
func isDuplicate(err error) bool {
	var ae *binanceapi.APIError
	if !errors.As(err, &ae) {
		return false
	}
	msg := strings.ToLower(ae.Msg)
	return ae.Code == codeDuplicateOrderID ||
		strings.Contains(msg, "already exists") ||
		strings.Contains(msg, "clientorderid is duplicated")
}

// inDoubt reports an answer after which the order may or may not exist: no
// answer at all, a 5xx (503 "unknown status") or a backend timeout code.
func inDoubt(err error) bool {
	if errors.Is(err, binanceapi.ErrBanned) || binanceapi.IsRateLimited(err) {
		return false // refused before reaching the matching engine
	}
	var ae *binanceapi.APIError
	if !errors.As(err, &ae) {
		return true // transport error or undecodable answer
	}
	switch ae.Code {
	case codeBackendTimeout, codeUnknownError, codeDisconnected, codeUnexpectedResp:
		return true
	}
	return ae.HTTPStatus >= 500
}
