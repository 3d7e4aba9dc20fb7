package binanceapi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

func TestWeightBudgetWaitsForTheNextWindowAndABanStopsCalls(t *testing.T) {
	var calls atomic.Int64
	var status atomic.Int64
	status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("X-MBX-USED-WEIGHT-1M", "2000") // over 80% of 2400
		if s := status.Load(); s != 200 {
			w.Header().Set("Retry-After", "120")
			w.WriteHeader(int(s))
			_, _ = w.Write([]byte(`{"code":-1003,"msg":"Way too many requests; IP banned."}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := New(srv.URL)
	c.limitsLoaded = true // this test is about the budget at the default limit
	// A clock 150 ms before the minute ends: after a heavy answer the next
	// call must wait for the new window, not go out at once.
	base := time.Now().Truncate(time.Minute).Add(time.Minute - 150*time.Millisecond)
	start := time.Now()
	c.now = func() time.Time { return base.Add(time.Since(start)) }
	if err := c.Public(context.Background(), "/x", nil, nil); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	if err := c.Public(context.Background(), "/x", nil, nil); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(t0); waited < 100*time.Millisecond {
		t.Fatalf("second call went out after %s, within the spent window", waited)
	}
	if c.UsedWeight() != 2000 || c.UsedWeightAt().IsZero() || !c.BannedUntil().IsZero() {
		t.Fatalf("used weight %d at %s, banned until %s", c.UsedWeight(), c.UsedWeightAt(), c.BannedUntil())
	}

	status.Store(418)
	c = New(srv.URL) // a fresh window
	c.limitsLoaded = true
	if !c.UsedWeightAt().IsZero() {
		t.Fatalf("used weight time before any answer: %s", c.UsedWeightAt())
	}
	err := c.Public(context.Background(), "/x", nil, nil)
	if !IsRateLimited(err) {
		t.Fatalf("418 answer: %v", err)
	}
	if !c.BannedUntil().After(time.Now()) {
		t.Fatalf("banned until %s after a 418", c.BannedUntil())
	}
	before := calls.Load()
	if err := c.Public(context.Background(), "/x", nil, nil); !errors.Is(err, ErrBanned) {
		t.Fatalf("call during a ban: %v", err)
	}
	if calls.Load() != before {
		t.Fatal("a request was sent during the ban")
	}
}

func TestErrorsCarryTheExchangeCode(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = w.Write([]byte(`{"code":-1125,"msg":"This listenKey does not exist."}`))
	}))
	defer srv.Close()
	err := New(srv.URL).KeepAliveListenKey(context.Background(), Credentials{APIKey: "k"})
	if !IsListenKeyGone(err) {
		t.Fatalf("got %v", err)
	}
	if Mask("abcdefgh") != "****efgh" || Mask("ab") != "****" {
		t.Fatal("mask")
	}
}

// The first call of any kind reads the real limit from exchangeInfo first,
// so a client used only for listenKeys or klines does not pace against the
// default 2,400.
func TestTheFirstCallLoadsTheWeightLimit(t *testing.T) {
	var info atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == exchangeInfoPath {
			info.Add(1)
			_, _ = w.Write([]byte(`{"rateLimits":[{"rateLimitType":"REQUEST_WEIGHT","interval":"MINUTE","intervalNum":1,"limit":6000}]}`))
			return
		}
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	c := New(srv.URL)
	for range 3 {
		if err := c.Signed(context.Background(), "PUT", "/fapi/v1/listenKey", Credentials{APIKey: "k", APISecret: "s"}, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if c.WeightLimit() != 6000 || info.Load() != 1 {
		t.Fatalf("limit %d after %d exchangeInfo reads, want 6000 after one", c.WeightLimit(), info.Load())
	}
}

// TestBackgroundReadsLeaveTheStreamsTheirShare: with 1,300 of 2,400 weight
// used in the minute (54%), a background client (order sync, backfill)
// waits for the next window while a stream client (listenKey calls) still
// sends at once, on the same IP; at 2,300 (96%) the stream client waits too.
// Each client's clock starts 2 s before a minute ends; whether its second
// call waited is whether it returned in the next window.
func TestBackgroundReadsLeaveTheStreamsTheirShare(t *testing.T) {
	var used atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-MBX-USED-WEIGHT-1M", strconv.FormatInt(used.Load(), 10))
		_, _ = w.Write([]byte(`{}`))
	}))
	defer srv.Close()
	// waited reports whether the second call of a client at budget waited
	// for the next window, after a first answer reported weight used.
	waited := func(budget float64, weight int64) bool {
		t.Helper()
		used.Store(weight)
		end := time.Now().Truncate(time.Minute).Add(time.Minute)
		base, start := end.Add(-2*time.Second), time.Now()
		c := New(srv.URL)
		c.limitsLoaded = true
		c.now = func() time.Time { return base.Add(time.Since(start)) }
		c.Budget = budget
		for range 2 {
			if err := c.Public(context.Background(), "/x", nil, nil); err != nil {
				t.Fatal(err)
			}
		}
		return !c.now().Before(end)
	}
	if waited(StreamBudget, 1300) {
		t.Fatal("a stream client at 54% of the limit waited for the next window")
	}
	if !waited(BackgroundBudget, 1300) {
		t.Fatal("a background client at 54% of the limit went out within the window")
	}
	if !waited(StreamBudget, 2300) {
		t.Fatal("a stream client at 96% of the limit went out within the window")
	}
	if !(BackgroundBudget < DefaultBudget && DefaultBudget < StreamBudget && StreamBudget < 1) {
		t.Fatalf("budgets out of order: background %v, default %v, stream %v", BackgroundBudget, DefaultBudget, StreamBudget)
	}
}
