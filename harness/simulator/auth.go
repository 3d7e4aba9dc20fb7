package simulator

import (
	"crypto/hmac"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
)

var errBadRequest = errors.New("invalid request")

// apiError is a Binance error answer: {"code":-1125,"msg":"..."}.
type apiError struct {
	status int
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Msg) }

var (
	errAPIKeyFormat = &apiError{401, -2014, "API-key format invalid."}
	errUnknownKey   = &apiError{401, -2015, "Invalid API-key, IP, or permissions for action."}
	errSignature    = &apiError{400, -1022, "Signature for this request is not valid."}
	errRecvWindow   = &apiError{400, -1021, "Timestamp for this request is outside of the recvWindow."}
	errRecvTooLarge = &apiError{400, -1131, "recvWindow must be less than 60000"}
	errDuplicate    = &apiError{400, -1101, "Duplicate values for a parameter detected."}
	errListenKey    = &apiError{400, -1125, "This listenKey does not exist."}
	errNoOrder      = &apiError{400, -2013, "Order does not exist."}
	errUnknownOrder = &apiError{400, -2011, "Unknown order sent."}
	errSymbol       = &apiError{400, -1121, "Invalid symbol."}
	errPrecision    = &apiError{400, -1111, "Precision is over the maximum defined for this asset."}
	errQtyZero      = &apiError{400, -4003, "Quantity less than or equal to zero."}
	errPriceZero    = &apiError{400, -4001, "Price less than 0."}
	errUseAlgo      = &apiError{400, -4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead."}
	errInterval     = &apiError{400, -1120, "Invalid interval."}
)

func errMandatory(name string) *apiError {
	return &apiError{400, -1102, fmt.Sprintf("Mandatory parameter '%s' was not sent, was empty/null, or malformed.", name)}
}

func errInvalid(code int, what string) *apiError {
	return &apiError{400, code, "Invalid " + what + "."}
}

func errTooMany(limit int) *apiError {
	return &apiError{429, -1003, fmt.Sprintf("Too many requests; current limit of IP(127.0.0.1) request weight is %d per minute. Please use WebSocket Streams for live updates to avoid polling the API.", limit)}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client may be gone; nothing to do
}

func writeErr(w http.ResponseWriter, e *apiError) { writeJSON(w, e.status, e) }

// request is a REST call with its parameters read from query and body.
type request struct {
	*http.Request
	rawQuery, body string
	params         url.Values
}

func readRequest(r *http.Request) (*request, *apiError) {
	req := &request{Request: r, rawQuery: r.URL.RawQuery, params: url.Values{}}
	if r.Body != nil && r.Method != http.MethodGet {
		b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			return nil, errMandatory("body")
		}
		req.body = string(b)
	}
	for _, raw := range []string{req.rawQuery, req.body} {
		vs, err := url.ParseQuery(raw)
		if err != nil {
			return nil, &apiError{400, -1100, "Illegal characters found in a parameter."}
		}
		for k, v := range vs {
			req.params[k] = append(req.params[k], v...)
		}
	}
	for k, v := range req.params {
		if len(v) > 1 && k != "listenKey" {
			return nil, errDuplicate
		}
	}
	return req, nil
}

// signaturePayload splits the signature parameter off the total params
// (query string then body, concatenated as Binance does). ok is false when
// there is no signature or more than one.
func signaturePayload(rawQuery, body string) (payload, sig string, ok bool) {
	found := 0
	strip := func(raw string) string {
		if raw == "" {
			return ""
		}
		parts := strings.Split(raw, "&")
		kept := parts[:0]
		for _, p := range parts {
			if v, isSig := strings.CutPrefix(p, "signature="); isSig {
				found++
				sig = v
				continue
			}
			kept = append(kept, p)
		}
		return strings.Join(kept, "&")
	}
	payload = strip(rawQuery) + strip(body)
	return payload, sig, found == 1 && sig != ""
}

// authAPIKey finds the account of the X-MBX-APIKEY header.
func (s *Simulator) authAPIKey(r *http.Request) (*account, *apiError) {
	key := r.Header.Get("X-MBX-APIKEY")
	if key == "" {
		return nil, errAPIKeyFormat
	}
	s.mu.Lock()
	a := s.byAPIKey[key]
	s.mu.Unlock()
	if a == nil {
		return nil, errUnknownKey
	}
	return a, nil
}

// authSigned checks API key, signature, timestamp and recvWindow (against
// the wall clock, as the client signs with its own).
func (s *Simulator) authSigned(req *request) (*account, *apiError) {
	a, aerr := s.authAPIKey(req.Request)
	if aerr != nil {
		return nil, aerr
	}
	payload, sig, ok := signaturePayload(req.rawQuery, req.body)
	if !ok {
		return nil, errMandatory("signature")
	}
	if !hmac.Equal([]byte(binanceapi.Sign(a.APISecret, payload)), []byte(strings.ToLower(sig))) {
		return nil, errSignature
	}
	ts, err := strconv.ParseInt(req.params.Get("timestamp"), 10, 64)
	if err != nil {
		return nil, errMandatory("timestamp")
	}
	window := int64(5000)
	if v := req.params.Get("recvWindow"); v != "" {
		if window, err = strconv.ParseInt(v, 10, 64); err != nil || window <= 0 {
			return nil, errMandatory("recvWindow")
		}
		if window > 60000 {
			return nil, errRecvTooLarge
		}
	}
	now := time.Now().UnixMilli()
	if ts >= now+1000 || now-ts > window {
		return nil, errRecvWindow
	}
	return a, nil
}

// weightWindow counts REQUEST_WEIGHT per wall-clock minute.
type weightWindow struct {
	minute int64
	used   int
}

func (w *weightWindow) charge(now time.Time, n int) int {
	if m := now.Unix() / 60; m != w.minute {
		w.minute, w.used = m, 0
	}
	w.used += n
	return w.used
}

// rest wraps a REST endpoint: RateLimit faults, request weight (header
// X-MBX-USED-WEIGHT-1M, 429 -1003 over the limit) and parameter parsing.
func (s *Simulator) rest(weight func(*request) int, h func(http.ResponseWriter, *request)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		req, perr := readRequest(r)
		if perr != nil {
			writeErr(w, perr)
			return
		}
		s.mu.Lock()
		forced := s.rateLimited > 0
		if forced {
			s.rateLimited--
		}
		used := s.weight.charge(time.Now(), weight(req))
		s.mu.Unlock()
		w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.Itoa(used))
		if forced || (s.cfg.WeightLimit > 0 && used > s.cfg.WeightLimit) {
			w.Header().Set("Retry-After", "60")
			writeErr(w, errTooMany(max(s.cfg.WeightLimit, 0)))
			return
		}
		h(w, req)
	}
}

func weight(n int) func(*request) int { return func(*request) int { return n } }

// weightBySymbol is light with a symbol and heavy without (openOrders: 1/40).
func weightBySymbol(with, without int) func(*request) int {
	return func(r *request) int {
		if r.params.Get("symbol") != "" {
			return with
		}
		return without
	}
}
