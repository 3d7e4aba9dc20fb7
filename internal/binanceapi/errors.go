package binanceapi

import (
	"errors"
	"fmt"
	"time"
)

// # Classifying exchange errors
//
// A job that calls the exchange must know whether trying again can help.
// Retrying a request the exchange refused on its merits (a quantity of
// zero, a symbol that does not exist, insufficient margin) only burns
// request weight and holds the job's account up for as long as the retry
// budget lasts; giving up on an outage loses work that would have
// succeeded a minute later. So every error is one of two kinds:
//
//   - Retryable: no answer at all (network errors, timeouts, a body cut
//     short), HTTP 5xx (the execution status is unknown), 408, 429 and 418
//     (wait for Retry-After or the ban to end), and the codes that describe
//     the exchange's state rather than the request: -1000 unknown, -1001
//     disconnected, -1003 too many requests, -1006/-1007 unexpected
//     answer/backend timeout, -1008 throttled, -1015 too many orders,
//     -1021 timestamp outside recvWindow (the client resynchronises its
//     clock with the server before the retry).
//   - Permanent: everything the exchange says about the request itself: the
//     -11xx parameter errors (-1102 mandatory parameter missing, -1111
//     precision over the maximum, -1121 invalid symbol...), the -20xx order
//     rejections (-2019 margin insufficient, -2022 ReduceOnly rejected,
//     -2015 invalid API key...), the -4xxx order filter errors (-4003
//     quantity not above zero, -4164 notional too small...), the -5xxx
//     order execution rejections, the remaining -10xx request errors
//     (-1002 unauthorized, -1022 bad signature...), and any other 4xx
//     answer (400 malformed, 401/403 authentication or a WAF refusal, 404).
//
// The code decides before the HTTP status (Binance answers -1021 and
// -1003 with 400 or 429), except that a 5xx is always retryable.

// Codes with a meaning of their own.
const (
	CodeUnknown           = -1000
	CodeDisconnected      = -1001
	CodeUnexpectedResp    = -1006
	CodeBackendTimeout    = -1007
	CodeThrottled         = -1008
	CodeTooManyOrders     = -1015
	CodeInvalidTimestamp  = -1021
	CodeMandatoryParam    = -1102
	CodeBadPrecision      = -1111
	CodeInvalidSymbol     = -1121
	CodeNoSuchOrder       = -2013
	CodeMarginNotEnough   = -2019
	CodeReduceOnlyReject  = -2022
	CodeQuantityNotAbove0 = -4003
	CodeMinNotional       = -4164
)

// retryableCodes describe the exchange's state, not the request.
var retryableCodes = map[int]bool{
	CodeUnknown:          true,
	CodeDisconnected:     true,
	CodeTooManyRequests:  true,
	CodeUnexpectedResp:   true,
	CodeBackendTimeout:   true,
	CodeThrottled:        true,
	CodeTooManyOrders:    true,
	CodeInvalidTimestamp: true,
}

// Permanent reports whether no retry of the same request can succeed.
func (e *APIError) Permanent() bool {
	switch {
	case e.HTTPStatus >= 500, e.HTTPStatus == 429, e.HTTPStatus == 418, e.HTTPStatus == 408:
		return false
	case retryableCodes[e.Code]:
		return false
	case e.Code < 0:
		// -10xx not listed above, -11xx, -20xx, -4xxx, -5xxx and any
		// other code the exchange attaches to a refusal.
		return true
	}
	// No code: judge by the status. Any other 4xx is the sender's problem;
	// a 3xx or an odd status is not worth a parked job.
	return e.HTTPStatus >= 400 && e.HTTPStatus < 500
}

// RetryAfter is how long the exchange asked us to wait (Retry-After of a
// 429 or 418), zero when it did not say.
func (e *APIError) RetryAfter() time.Duration { return e.retryAfter }

// BanError is returned without a request while a 418 ban is in force.
type BanError struct{ Until time.Time }

func (e *BanError) Error() string {
	return fmt.Sprintf("%s (until %s)", ErrBanned.Error(), e.Until.UTC().Format(time.RFC3339))
}

// Is makes errors.Is(err, ErrBanned) hold.
func (e *BanError) Is(target error) bool { return target == ErrBanned }

// RetryAfter is the rest of the ban.
func (e *BanError) RetryAfter() time.Duration { return max(time.Until(e.Until), 0) }

// IsPermanent reports an error no retry of the same request can fix: an
// *APIError the exchange gave about the request itself (see the package's
// classification). Anything else (no answer, an outage, a rate limit, a
// ban, a cancelled context) is retryable.
func IsPermanent(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Permanent()
}

// Retryable reports a non-nil error that is not permanent.
func Retryable(err error) bool { return err != nil && !IsPermanent(err) }

// RetryAfter is how long the exchange asked the caller to wait before
// trying again (a 429's or 418's Retry-After, the rest of a ban), zero if
// it did not say.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return ra.RetryAfter()
	}
	return 0
}

// CodeOf returns the exchange's code and message of err, ok false when err
// carries no exchange answer.
func CodeOf(err error) (code int, msg string, ok bool) {
	var ae *APIError
	if !errors.As(err, &ae) {
		return 0, "", false
	}
	return ae.Code, ae.Msg, true
}
