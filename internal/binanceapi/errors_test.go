package binanceapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
)

// errorAnswers are error answers as Binance USD-M sends them (bodies from
// the exchange's error-code documentation and from its answers as client
// libraries record them), with the classification each must get.
var errorAnswers = []struct {
	name       string
	status     int
	retryAfter string
	body       string
	permanent  bool
	code       int
	wait       time.Duration
}{
	// Retryable: the exchange's state, not the request.
	{"5xx unknown status", 503, "", `{"code":-1000,"msg":"Unknown error, please check your request or try again later."}`, false, -1000, 0},
	{"502 from a proxy", 502, "", `<html><body><h1>502 Bad Gateway</h1></body></html>`, false, 0, 0},
	{"500 empty", 500, "", ``, false, 0, 0},
	{"-1001 disconnected", 400, "", `{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}`, false, -1001, 0},
	{"-1003 with 429", 429, "7", `{"code":-1003,"msg":"Too many requests; current limit of IP(127.0.0.1) request weight is 2400 per minute. Please use WebSocket Streams for live updates to avoid polling the API."}`, false, -1003, 7 * time.Second},
	{"-1003 ban with 418", 418, "600", `{"code":-1003,"msg":"Way too many requests; IP(127.0.0.1) banned until 1750000000000. Please use the websocket for live updates to avoid bans."}`, false, -1003, 10 * time.Minute},
	{"418 without Retry-After", 418, "", `{"code":-1003,"msg":"Way too many requests; IP banned."}`, false, -1003, defaultBan},
	{"429 with a garbage Retry-After", 429, "soon", `{"code":-1003,"msg":"Too many requests."}`, false, -1003, 0},
	{"-1003 with 400", 400, "", `{"code":-1003,"msg":"Too many requests queued."}`, false, -1003, 0},
	{"-1006 unexpected answer", 400, "", `{"code":-1006,"msg":"An unexpected response was received from the message bus. Execution status unknown."}`, false, -1006, 0},
	{"-1007 backend timeout", 408, "", `{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}`, false, -1007, 0},
	{"-1008 throttled", 400, "", `{"code":-1008,"msg":"Server is currently overloaded with other requests. Please try again in a few minutes."}`, false, -1008, 0},
	{"-1015 too many orders", 400, "", `{"code":-1015,"msg":"Too many new orders; current limit is 1200 orders per MINUTE."}`, false, -1015, 0},
	{"-1021 timestamp", 400, "", `{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}`, false, -1021, 0},
	{"5xx wins over a request code", 503, "", `{"code":-4003,"msg":"Quantity less than or equal to zero."}`, false, -4003, 0},

	// Permanent: the request itself.
	{"-4003 quantity", 400, "", `{"code":-4003,"msg":"Quantity less than or equal to zero."}`, true, -4003, 0},
	{"-1102 mandatory", 400, "", `{"code":-1102,"msg":"Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."}`, true, -1102, 0},
	{"-1111 precision", 400, "", `{"code":-1111,"msg":"Precision is over the maximum defined for this asset."}`, true, -1111, 0},
	{"-1121 symbol", 400, "", `{"code":-1121,"msg":"Invalid symbol."}`, true, -1121, 0},
	{"-1116 order type", 400, "", `{"code":-1116,"msg":"Invalid orderType."}`, true, -1116, 0},
	{"-1125 listenKey", 400, "", `{"code":-1125,"msg":"This listenKey does not exist."}`, true, -1125, 0},
	{"-2019 margin", 400, "", `{"code":-2019,"msg":"Margin is insufficient."}`, true, -2019, 0},
	{"-2022 reduceOnly", 400, "", `{"code":-2022,"msg":"ReduceOnly Order is rejected."}`, true, -2022, 0},
	{"-2010 new order rejected", 400, "", `{"code":-2010,"msg":"NEW_ORDER_REJECTED"}`, true, -2010, 0},
	{"-2015 key with 401", 401, "", `{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1"}`, true, -2015, 0},
	{"-4164 notional", 400, "", `{"code":-4164,"msg":"Order's notional must be no smaller than 100 (unless you choose reduce only)."}`, true, -4164, 0},
	{"-4005 max quantity", 400, "", `{"code":-4005,"msg":"Quantity greater than max quantity."}`, true, -4005, 0},
	{"-4131 percent price", 400, "", `{"code":-4131,"msg":"The counterparty's best price does not meet the PERCENT_PRICE filter limit."}`, true, -4131, 0},
	{"-5021 FOK", 400, "", `{"code":-5021,"msg":"Due to the order could not be filled immediately, the FOK order has been rejected."}`, true, -5021, 0},
	{"-1022 signature", 400, "", `{"code":-1022,"msg":"Signature for this request is not valid."}`, true, -1022, 0},
	{"-1002 unauthorized", 401, "", `{"code":-1002,"msg":"You are not authorized to execute this request."}`, true, -1002, 0},
	{"403 WAF page", 403, "", `<html><head><title>403 Forbidden</title></head></html>`, true, 0, 0},
	{"401 without a body", 401, "", ``, true, 0, 0},
	{"404 unknown route", 404, "", `<html><body>Not Found</body></html>`, true, 0, 0},
	{"400 garbage", 400, "", `{"code":"x"`, true, 0, 0},
}

func TestErrorAnswersAreClassifiedRetryableOrPermanent(t *testing.T) {
	for _, tc := range errorAnswers {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c := New(srv.URL)
			c.limitsLoaded = true
			err := c.Signed(context.Background(), "POST", "/fapi/v1/order", Credentials{APIKey: "k", APISecret: "s"},
				url.Values{"symbol": {"BTCUSDT"}}, nil)
			wrapped := fmt.Errorf("placing order x: %w", err)
			if got := IsPermanent(wrapped); got != tc.permanent {
				t.Fatalf("IsPermanent(%v) = %v, want %v", err, got, tc.permanent)
			}
			if got := Retryable(wrapped); got == tc.permanent {
				t.Fatalf("Retryable(%v) = %v", err, got)
			}
			code, msg, ok := CodeOf(wrapped)
			if !ok || code != tc.code {
				t.Fatalf("CodeOf = %d, %q, %v; want code %d", code, msg, ok, tc.code)
			}
			if tc.body != "" && msg == "" {
				t.Fatalf("no message kept from %q", tc.body)
			}
			if got := RetryAfter(wrapped); got != tc.wait {
				t.Fatalf("RetryAfter = %s, want %s", got, tc.wait)
			}
			if !strings.Contains(err.Error(), strconv.Itoa(tc.status)) {
				t.Fatalf("error %q does not name the status", err)
			}
		})
	}
}

func TestErrorsWithoutAnAnswerAreRetryable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: connection refused
	c := New("http://" + addr)
	c.limitsLoaded = true
	refused := c.Public(context.Background(), "/fapi/v1/time", nil, nil)

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(2 * time.Second):
		}
	}))
	defer slow.Close()
	c = New(slow.URL)
	c.limitsLoaded = true
	c.http.Timeout = 50 * time.Millisecond
	timedOut := c.Public(context.Background(), "/fapi/v1/time", nil, nil)

	cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(`{"orderId":`)) // a 200 cut short
	}))
	defer cut.Close()
	c = New(cut.URL)
	c.limitsLoaded = true
	var out struct{ OrderID int64 }
	undecodable := c.Public(context.Background(), "/x", nil, &out)

	ban := &BanError{Until: time.Now().Add(time.Minute)}
	for name, err := range map[string]error{"refused": refused, "timeout": timedOut, "cut short": undecodable,
		"ban": ban, "cancelled": context.Canceled, "wrapped ban": fmt.Errorf("x: %w", ban)} {
		if err == nil || IsPermanent(err) || !Retryable(err) {
			t.Errorf("%s: %v: want a retryable error", name, err)
		}
	}
	if !errors.Is(ban, ErrBanned) || RetryAfter(ban) <= 50*time.Second {
		t.Fatalf("ban %v: Is(ErrBanned) %v, RetryAfter %s", ban, errors.Is(ban, ErrBanned), RetryAfter(ban))
	}
	if Retryable(nil) || IsPermanent(nil) {
		t.Fatal("nil is neither")
	}
}

// A signed request refused with -1021 (our clock drifted) is sent again once
// after reading the server's clock, and later requests use it.
func TestATimestampOutsideRecvWindowResyncsTheClockAndRetriesOnce(t *testing.T) {
	const skew = 20 * time.Second // the server is 20 s ahead of us
	var orders, refused, timeReads atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		server := time.Now().Add(skew).UnixMilli()
		if r.URL.Path == "/fapi/v1/time" {
			timeReads.Add(1)
			fmt.Fprintf(w, `{"serverTime":%d}`, server)
			return
		}
		ts, _ := strconv.ParseInt(r.URL.Query().Get("timestamp"), 10, 64)
		if ts >= server+1000 || server-ts > 5000 {
			refused.Add(1)
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}`))
			return
		}
		orders.Add(1)
		_, _ = w.Write([]byte(`{"orderId":1}`))
	}))
	defer srv.Close()
	c := New(srv.URL)
	c.limitsLoaded = true
	cr := Credentials{APIKey: "k", APISecret: "s"}
	for range 3 {
		if err := c.Signed(context.Background(), "POST", "/fapi/v1/order", cr, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if orders.Load() != 3 || refused.Load() != 1 || timeReads.Load() != 1 {
		t.Fatalf("%d orders, %d refusals, %d time reads; want 3, 1, 1", orders.Load(), refused.Load(), timeReads.Load())
	}
	if off := c.ClockOffset(); off < skew-time.Second || off > skew+time.Second {
		t.Fatalf("offset %s, want about %s", off, skew)
	}

	// A server that keeps refusing: one resync, one repeat, then the
	// (retryable) error; never a loop.
	refused.Store(0)
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/fapi/v1/time" {
			fmt.Fprintf(w, `{"serverTime":%d}`, time.Now().UnixMilli())
			return
		}
		refused.Add(1)
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"code":-1021,"msg":"Timestamp for this request is outside of the recvWindow."}`))
	}))
	defer bad.Close()
	c = New(bad.URL)
	c.limitsLoaded = true
	err := c.Signed(context.Background(), "POST", "/fapi/v1/order", cr, nil, nil)
	if err == nil || IsPermanent(err) || refused.Load() != 2 {
		t.Fatalf("error %v after %d refusals, want a retryable error after 2", err, refused.Load())
	}
}

// FuzzErrorAnswer feeds any status and body through the error decoder: it
// never panics, keeps the message bounded and valid UTF-8, and classifies
// every answer one way.
func FuzzErrorAnswer(f *testing.F) {
	for _, tc := range errorAnswers {
		f.Add(tc.status, tc.retryAfter, []byte(tc.body))
	}
	f.Add(400, "-5", []byte("\xff\xfe{\"code\":-4003}"))
	f.Add(418, "999999999999", []byte(strings.Repeat("x", 5000)))
	f.Add(400, "", []byte(`{"code":-4003,"msg":""}`))
	f.Add(400, "", []byte(`null`))
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte) {
		if status < 300 || status > 599 {
			status = 300 + (status%300+300)%300
		}
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		ae := apiError(resp, body)
		if len(ae.Msg) > maxErrorMsg+3+3*maxErrorMsg || !utf8.ValidString(ae.Msg) {
			t.Fatalf("message of %d bytes, valid %v", len(ae.Msg), utf8.ValidString(ae.Msg))
		}
		if ae.RetryAfter() < 0 || ae.RetryAfter() > 3*24*time.Hour {
			t.Fatalf("retry after %s", ae.RetryAfter())
		}
		if status >= 500 && ae.Permanent() {
			t.Fatalf("a %d is permanent", status)
		}
		if IsPermanent(ae) == Retryable(ae) {
			t.Fatal("both or neither")
		}
	})
}
