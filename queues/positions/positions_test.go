package positions

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/topics"
)

func TestAnAllowedIntentPlacesExactlyOneFilledMarketOrder(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	if err := e.handler(context.Background(), record(acct, allowed(t, intent(acct, "kraite-open-1")))); err != nil {
		t.Fatal(err)
	}
	got := e.ordersWith(acct, "kraite-open-1")
	if len(got) != 1 {
		t.Fatalf("%d orders with the client id, want 1: %+v", len(got), got)
	}
	o := got[0]
	if o.Type != "MARKET" || o.Status != "FILLED" || o.Side != "BUY" || o.Symbol != "ETHUSDT" || o.OrigQty != "0.500" || o.ReduceOnly {
		t.Fatalf("order %+v, want a filled MARKET BUY of 0.500 ETHUSDT, not reduce-only", o)
	}
	if n := len(e.sim.Orders(e.accounts[1].ID)); n != 0 {
		t.Fatalf("the other account has %d orders, want 0", n)
	}
}

func TestHandlingTheSameRecordTwiceStillYieldsOneOrder(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	rec := record(acct, allowed(t, intent(acct, "kraite-open-2")))
	for i := range 3 {
		if err := e.handler(context.Background(), rec); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if n := len(e.sim.Orders(acct)); n != 1 {
		t.Fatalf("%d orders after three deliveries, want 1", n)
	}
}

func TestAReduceOnlyIntentSetsReduceOnly(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[1].ID
	open := intent(acct, "kraite-open-3")
	if err := e.handler(context.Background(), record(acct, allowed(t, open))); err != nil {
		t.Fatal(err)
	}
	closing := intent(acct, "kraite-close-3")
	closing.Side, closing.Reduce = "SELL", true
	if err := e.handler(context.Background(), record(acct, allowed(t, closing))); err != nil {
		t.Fatal(err)
	}
	got := e.ordersWith(acct, "kraite-close-3")
	if len(got) != 1 || !got[0].ReduceOnly || got[0].Side != "SELL" || got[0].Status != "FILLED" {
		t.Fatalf("closing orders %+v, want one filled reduce-only SELL", got)
	}
}

func TestRecordsThatCannotBePlacedGiveAnErrorTheWorkerParks(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	badSymbol := intent(acct, "kraite-bad-1")
	badSymbol.Symbol = "NOPEUSDT"
	noClientID := intent(acct, "")
	badSide := intent(acct, "kraite-bad-2")
	badSide.Side = "LONG"
	otherExchange := intent(acct, "kraite-bad-3")
	otherExchange.Exchange = "bybit"
	unknownAccount := intent("acct-9999", "kraite-bad-4")
	for _, c := range []struct {
		name  string
		value []byte
		want  string
	}{
		{"a bad symbol is rejected by the exchange", allowed(t, badSymbol), "Invalid symbol"},
		{"an empty client id is refused before any call", allowed(t, noClientID), "empty client id"},
		{"a side other than BUY or SELL is refused", allowed(t, badSide), "side \"LONG\""},
		{"another exchange is refused", allowed(t, otherExchange), "bybit"},
		{"an unknown account is reported", allowed(t, unknownAccount), "credentials of account acct-9999"},
		{"an open_allowed event without intent is refused", []byte(`{"kind":"open_allowed","account":"acct-0001"}`), "no intent"},
		{"a value that is not JSON is reported", []byte(`{"kind":`), "decoding position event"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := e.handler(context.Background(), record(acct, c.value))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
	if n := len(e.sim.Orders(acct)); n != 0 {
		t.Fatalf("%d orders placed from bad records, want 0", n)
	}
}

func TestAnEmptyClientIDIsABadIntent(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	err := e.handler(context.Background(), record(acct, allowed(t, intent(acct, ""))))
	if !errors.Is(err, ErrBadIntent) {
		t.Fatalf("error %v, want ErrBadIntent", err)
	}
}

func TestAnOrderTransitionRecordIsIgnored(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	v := []byte(`{"kind":"order_transition","account":"` + acct + `","exchange":"binance","order":{"symbol":"ETHUSDT","status":"FILLED"},"from_status":"NEW","to_status":"FILLED","at":5}`)
	if err := e.handler(context.Background(), record(acct, v)); err != nil {
		t.Fatal(err)
	}
	if n := len(e.sim.Orders(acct)); n != 0 {
		t.Fatalf("%d orders, want 0", n)
	}
}

func TestARateLimitIsReturnedSoTheWorkerBacksOff(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	// The client's first call reads exchangeInfo; the 429 is for the order calls.
	if err := e.rest.LoadLimits(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.sim.RateLimit(1)
	rec := record(acct, allowed(t, intent(acct, "kraite-rl-1")))
	err := e.handler(context.Background(), rec)
	if !binanceapi.IsRateLimited(err) {
		t.Fatalf("error %v, want a rate limit", err)
	}
	if err := e.handler(context.Background(), rec); err != nil {
		t.Fatalf("retry after the limit: %v", err)
	}
	if n := len(e.ordersWith(acct, "kraite-rl-1")); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
}

// loseFirstPostAnswer lets the first POST reach the simulator, then answers
// 503 "unknown status" as Binance does when the outcome is unknown.
func loseFirstPostAnswer(posts *atomic.Int64) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodPost || r.URL.Path != "/fapi/v1/order" {
				next.ServeHTTP(w, r)
				return
			}
			if posts.Add(1) > 1 {
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(httptest.NewRecorder(), r) // placed, answer lost
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"code":-1000,"msg":"Unknown error, please check your request or try again later."}`))
		})
	}
}

func TestAnOrderWhoseAnswerIsLostIsQueriedNotPostedAgain(t *testing.T) {
	var posts atomic.Int64
	e := startSim(t, loseFirstPostAnswer(&posts))
	acct := e.accounts[0].ID
	rec := record(acct, allowed(t, intent(acct, "kraite-doubt-1")))
	if err := e.handler(context.Background(), rec); err != nil {
		t.Fatalf("a placed order in doubt should be confirmed by a query: %v", err)
	}
	if err := e.handler(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if n := posts.Load(); n != 1 {
		t.Fatalf("%d POSTs, want 1", n)
	}
	if n := len(e.ordersWith(acct, "kraite-doubt-1")); n != 1 {
		t.Fatalf("%d orders, want 1", n)
	}
}

func TestDepsValidateNamesTheMissingField(t *testing.T) {
	ok := func(string) (binanceapi.Credentials, error) { return binanceapi.Credentials{}, nil }
	rest := binanceapi.New("http://127.0.0.1:1")
	for _, c := range []struct {
		name string
		deps Deps
		want string
	}{
		{"a missing client is named", Deps{Account: ok, Log: discard()}, "Rest"},
		{"a missing account lookup is named", Deps{Rest: rest, Log: discard()}, "Account"},
		{"a missing logger is named", Deps{Rest: rest, Account: ok}, "Log"},
		{"complete deps pass", Deps{Rest: rest, Account: ok, Log: discard()}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.deps.Validate()
			if (c.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.want)) {
				t.Fatalf("Validate() = %v, want mention of %q", err, c.want)
			}
		})
	}
}

func FuzzDecodePositionEvent(f *testing.F) {
	in := topics.OpenIntent{Account: "acct-0001", Exchange: "binance", Symbol: "ETHUSDT", Side: "BUY", Size: "0.5", ClientID: "c1"}
	f.Add(allowed(f, in))
	f.Add([]byte(`{"kind":"order_transition","account":"acct-0001","order":{"order_id":9007199254740993},"at":1}`))
	f.Add([]byte(`{"kind":"open_allowed","account":"a","intent":null}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, v []byte) {
		ev, err := decode(v)
		if err != nil || ev.Kind != KindOpenAllowed {
			return
		}
		got, err := intentOf(ev)
		if err == nil && (got.ClientID == "" || got.Account == "" || got.Symbol == "" || got.Size == "") {
			t.Fatalf("intentOf accepted an incomplete intent %+v", got)
		}
	})
}
