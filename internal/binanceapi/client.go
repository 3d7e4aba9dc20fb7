// Package binanceapi is a small Binance USD-M REST client: the listenKey
// lifecycle now, signed order and account queries as the scheduler needs
// them. Errors from the exchange come back as *APIError so callers can branch
// on the code (-1125: listenKey gone; -1003/429: rate limited), and every
// error is classified as retryable or permanent (IsPermanent, see
// errors.go) so a job never retries what the exchange refused on its merits.
package binanceapi

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Error codes callers branch on.
const (
	CodeListenKeyNotExist = -1125
	CodeTooManyRequests   = -1003
	CodeInvalidAPIKey     = -2015
)

// APIError is an error answer of the exchange.
type APIError struct {
	HTTPStatus int
	Code       int    `json:"code"`
	Msg        string `json:"msg"`
	// retryAfter is the answer's Retry-After (429, 418).
	retryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("binance: http %d, code %d: %s", e.HTTPStatus, e.Code, e.Msg)
}

// IsListenKeyGone reports whether err says the listenKey no longer exists.
func IsListenKeyGone(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == CodeListenKeyNotExist
}

// IsRateLimited reports a 429/418 or code -1003.
func IsRateLimited(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.HTTPStatus == 429 || ae.HTTPStatus == 418 || ae.Code == CodeTooManyRequests)
}

// Credentials of one account. Secret never leaves this package in clear.
type Credentials struct {
	APIKey    string
	APISecret string
}

// Client talks to one REST base URL (https://fapi.binance.com or the simulator).
//
// # Weight budget
//
// Binance limits request weight per IP per minute and answers 429 past it,
// then 418 (an IP ban of minutes to days) to clients that keep going. The
// client reads X-MBX-USED-WEIGHT-1M from every answer; once the used weight
// reaches Budget of the limit it waits for the next minute window before
// sending, and after a 418 it refuses to send until Retry-After has passed.
// Share one Client per IP. The limit is read from exchangeInfo before the
// client's first other call (and again a minute after a failed read), so
// every user of the client paces against the real limit, not the default.
//
// # Priorities
//
// The weight is the IP's, shared by every client on it, and the used weight
// the exchange reports counts them all. Clients of work that can wait (the
// order sync and gap backfill, market jobs) set Budget to BackgroundBudget;
// what cannot wait (the user-data producers, listenKey keep-alives, order
// placement) sets StreamBudget, on a client of its own. A burst of
// background reads then stops at half the minute's weight and leaves the
// rest to the listenKey calls that reconnect streams and to trades: without
// it, the gap backfill after a producer died spent the budget and the
// survivor's reconnects waited for the next minute window (bench failover
// at 1,000 accounts: p50 57.9 s instead of 9.7 s, and a third producer
// missed its hand-over grace).
type Client struct {
	base string
	http *http.Client
	now  func() time.Time

	limit  atomic.Int64 // REQUEST_WEIGHT per minute (exchangeInfo), default 2400
	used   atomic.Int64 // last X-MBX-USED-WEIGHT-1M seen
	usedAt atomic.Int64 // unix ms of that answer
	banned atomic.Int64 // unix ms until which we must not call
	// offset is the server's clock minus ours in ms, measured after a
	// -1021 (timestamp outside recvWindow); signed requests add it.
	offset atomic.Int64
	// Budget is the share of the limit used before waiting (default
	// DefaultBudget; see Priorities).
	Budget float64

	limitsMu     sync.Mutex
	limitsLoaded bool      // the limit came from exchangeInfo
	limitsTried  time.Time // the last attempt (retried after a minute)
}

const exchangeInfoPath = "/fapi/v1/exchangeInfo"

// ErrBanned is returned while a 418 ban is in force.
var ErrBanned = errors.New("binance: IP banned (418); not sending until Retry-After passes")

// The shares of the IP's weight limit a client spends before it waits for
// the next minute window (Client.Budget).
const (
	// DefaultBudget is a client of its own on the IP (an operator command).
	DefaultBudget = 0.8
	// BackgroundBudget is work that can wait: order sync, gap backfill,
	// market jobs.
	BackgroundBudget = 0.5
	// StreamBudget is what cannot wait for the next window: the user-data
	// producers' listenKey calls and keep-alives (a stream is down until
	// its call goes out) and order placement.
	StreamBudget = 0.95
)

// NewAt is New spending share of the IP's weight (BackgroundBudget,
// StreamBudget; see Priorities).
func NewAt(base string, share float64) *Client {
	c := New(base)
	c.Budget = share
	return c
}

// New returns a client for base with a sane timeout and DefaultBudget.
func New(base string) *Client {
	c := &Client{base: strings.TrimRight(base, "/"), http: &http.Client{Timeout: 10 * time.Second}, now: time.Now, Budget: DefaultBudget}
	c.limit.Store(2400)
	return c
}

// SetWeightLimit sets the REQUEST_WEIGHT per minute (from exchangeInfo).
func (c *Client) SetWeightLimit(n int64) {
	if n > 0 {
		c.limit.Store(n)
	}
}

// LoadLimits reads rateLimits from GET /fapi/v1/exchangeInfo now (the
// client also does so by itself before its first call).
func (c *Client) LoadLimits(ctx context.Context) error {
	c.limitsMu.Lock()
	defer c.limitsMu.Unlock()
	err := c.loadLimits(ctx)
	c.limitsLoaded = c.limitsLoaded || err == nil
	return err
}

func (c *Client) loadLimits(ctx context.Context) error {
	var info struct {
		RateLimits []struct {
			RateLimitType string `json:"rateLimitType"`
			Interval      string `json:"interval"`
			IntervalNum   int64  `json:"intervalNum"`
			Limit         int64  `json:"limit"`
		} `json:"rateLimits"`
	}
	if err := c.Public(ctx, exchangeInfoPath, nil, &info); err != nil {
		return fmt.Errorf("loading rate limits: %w", err)
	}
	for _, r := range info.RateLimits {
		if r.RateLimitType == "REQUEST_WEIGHT" && r.Interval == "MINUTE" && r.IntervalNum == 1 {
			c.SetWeightLimit(r.Limit)
		}
	}
	return nil
}

// WeightLimit is the REQUEST_WEIGHT per minute the client paces against.
func (c *Client) WeightLimit() int64 { return c.limit.Load() }

// ensureLimits loads the limits once; a failed load is retried a minute
// later, the default limit applying meanwhile.
func (c *Client) ensureLimits(ctx context.Context) {
	c.limitsMu.Lock()
	defer c.limitsMu.Unlock()
	if c.limitsLoaded || (!c.limitsTried.IsZero() && c.now().Sub(c.limitsTried) < time.Minute) {
		return
	}
	c.limitsTried = c.now()
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c.limitsLoaded = c.loadLimits(lctx) == nil
}

// UsedWeight is the last used weight the exchange reported.
func (c *Client) UsedWeight() int64 { return c.used.Load() }

// UsedWeightAt is when the exchange last reported the used weight (zero
// before any answer).
func (c *Client) UsedWeightAt() time.Time {
	if ms := c.usedAt.Load(); ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// BannedUntil is until when a 418 ban keeps the client from sending (zero
// when it was never banned; in the past once the ban ended).
func (c *Client) BannedUntil() time.Time {
	if ms := c.banned.Load(); ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}

// waitBudget blocks while the minute's weight is nearly spent.
func (c *Client) waitBudget(ctx context.Context) error {
	now := c.now()
	if until := c.banned.Load(); until > now.UnixMilli() {
		return &BanError{Until: time.UnixMilli(until)}
	}
	at := time.UnixMilli(c.usedAt.Load())
	if at.Truncate(time.Minute) != now.Truncate(time.Minute) {
		return nil // a new window: the count restarted
	}
	if float64(c.used.Load()) < c.Budget*float64(c.limit.Load()) {
		return nil
	}
	t := time.NewTimer(now.Truncate(time.Minute).Add(time.Minute).Sub(now))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (c *Client) observe(resp *http.Response) {
	if v, err := strconv.ParseInt(resp.Header.Get("X-MBX-USED-WEIGHT-1M"), 10, 64); err == nil {
		c.used.Store(v)
		c.usedAt.Store(c.now().UnixMilli())
	}
	if resp.StatusCode == 418 {
		ban := retryAfterHeader(resp.Header.Get("Retry-After"))
		if ban == 0 {
			ban = defaultBan
		}
		c.banned.Store(c.now().Add(ban).UnixMilli())
	}
}

type listenKeyResp struct {
	ListenKey string `json:"listenKey"`
}

// CreateListenKey starts (or extends and returns the active) user data stream key.
func (c *Client) CreateListenKey(ctx context.Context, cr Credentials) (string, error) {
	var r listenKeyResp
	if err := c.do(ctx, http.MethodPost, "/fapi/v1/listenKey", cr, nil, false, &r); err != nil {
		return "", fmt.Errorf("creating listenKey: %w", err)
	}
	if r.ListenKey == "" {
		return "", errors.New("creating listenKey: empty key in answer")
	}
	return r.ListenKey, nil
}

// KeepAliveListenKey extends the key by 60 minutes; -1125 means it is gone.
func (c *Client) KeepAliveListenKey(ctx context.Context, cr Credentials) error {
	if err := c.do(ctx, http.MethodPut, "/fapi/v1/listenKey", cr, nil, false, nil); err != nil {
		return fmt.Errorf("keeping listenKey alive: %w", err)
	}
	return nil
}

// CloseListenKey invalidates the key.
func (c *Client) CloseListenKey(ctx context.Context, cr Credentials) error {
	if err := c.do(ctx, http.MethodDelete, "/fapi/v1/listenKey", cr, nil, false, nil); err != nil {
		return fmt.Errorf("closing listenKey: %w", err)
	}
	return nil
}

// Signed performs a signed request (timestamp, recvWindow and HMAC-SHA256
// signature added) and decodes the JSON answer into out.
func (c *Client) Signed(ctx context.Context, method, path string, cr Credentials, params url.Values, out any) error {
	return c.do(ctx, method, path, cr, params, true, out)
}

// Public performs an unsigned request.
func (c *Client) Public(ctx context.Context, path string, params url.Values, out any) error {
	return c.do(ctx, http.MethodGet, path, Credentials{}, params, false, out)
}

// Sign returns the hex HMAC-SHA256 of payload under secret.
func Sign(secret, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(payload))
	return hex.EncodeToString(m.Sum(nil))
}

// ClockOffset is the server's clock minus the client's, as last measured.
func (c *Client) ClockOffset() time.Duration {
	return time.Duration(c.offset.Load()) * time.Millisecond
}

// SyncTime measures the server's clock (GET /fapi/v1/time) and signs later
// requests with timestamps on it. The client does so by itself when the
// exchange answers -1021.
func (c *Client) SyncTime(ctx context.Context) error {
	var r struct {
		ServerTime int64 `json:"serverTime"`
	}
	t0 := c.now()
	if err := c.send(ctx, http.MethodGet, timePath, Credentials{}, nil, false, &r); err != nil {
		return fmt.Errorf("reading the server time: %w", err)
	}
	t1 := c.now()
	if r.ServerTime <= 0 {
		return fmt.Errorf("reading the server time: serverTime %d", r.ServerTime)
	}
	mid := t0.Add(t1.Sub(t0) / 2).UnixMilli()
	c.offset.Store(r.ServerTime - mid)
	return nil
}

const timePath = "/fapi/v1/time"

// do sends the request; a signed request the exchange refuses with -1021
// (timestamp outside recvWindow: our clock drifted) is sent once more after
// resynchronising with the server's clock. The exchange rejected the first
// one before looking at it, so the repeat cannot double an order.
func (c *Client) do(ctx context.Context, method, path string, cr Credentials, params url.Values, signed bool, out any) error {
	err := c.send(ctx, method, path, cr, params, signed, out)
	var ae *APIError
	if !signed || !errors.As(err, &ae) || ae.Code != CodeInvalidTimestamp {
		return err
	}
	if serr := c.SyncTime(ctx); serr != nil {
		return fmt.Errorf("%w (and resynchronising the clock failed: %w)", err, serr)
	}
	return c.send(ctx, method, path, cr, params, signed, out)
}

func (c *Client) send(ctx context.Context, method, path string, cr Credentials, params url.Values, signed bool, out any) error {
	if path != exchangeInfoPath {
		c.ensureLimits(ctx)
	}
	if err := c.waitBudget(ctx); err != nil {
		return err
	}
	q := url.Values{}
	for k, v := range params {
		q[k] = v
	}
	query := q.Encode()
	if signed {
		q.Set("timestamp", strconv.FormatInt(c.now().UnixMilli()+c.offset.Load(), 10))
		q.Set("recvWindow", "5000")
		query = q.Encode()
		query += "&signature=" + Sign(cr.APISecret, query)
	}
	u := c.base + path
	if query != "" {
		u += "?" + query
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	if cr.APIKey != "" {
		req.Header.Set("X-MBX-APIKEY", cr.APIKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	c.observe(resp)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("reading %s answer: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		return apiError(resp, body)
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("decoding %s answer: %w", path, err)
	}
	return nil
}

// maxErrorMsg bounds the message kept from an error answer (an HTML page of
// a proxy can be large; the message travels into logs and records).
const maxErrorMsg = 512

// apiError decodes an error answer; a body that is not Binance's JSON
// (a proxy's or WAF's page) becomes the message, cut short.
func apiError(resp *http.Response, body []byte) *APIError {
	ae := &APIError{HTTPStatus: resp.StatusCode}
	if err := json.Unmarshal(body, ae); err != nil {
		ae.Code, ae.Msg = 0, ""
	}
	if ae.Msg == "" {
		ae.Msg = strings.TrimSpace(string(body))
	}
	if len(ae.Msg) > maxErrorMsg {
		ae.Msg = ae.Msg[:maxErrorMsg] + "..."
	}
	ae.Msg = strings.ToValidUTF8(ae.Msg, "\uFFFD")
	if resp.StatusCode == 429 || resp.StatusCode == 418 {
		ae.retryAfter = retryAfterHeader(resp.Header.Get("Retry-After"))
		if resp.StatusCode == 418 && ae.retryAfter == 0 {
			ae.retryAfter = defaultBan
		}
	}
	return ae
}

// defaultBan is assumed when a 418 does not say how long it lasts.
const defaultBan = 120 * time.Second

// retryAfterHeader parses Retry-After in seconds (what Binance sends);
// anything else, negative or absurd (over three days, Binance's longest
// ban) counts as not said or is capped.
func retryAfterHeader(v string) time.Duration {
	secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || secs <= 0 {
		return 0
	}
	return time.Duration(min(secs, 3*24*3600)) * time.Second
}

// Mask shows only the last 4 characters of a credential or listenKey.
func Mask(s string) string {
	if len(s) <= 4 {
		return "****"
	}
	return "****" + s[len(s)-4:]
}
