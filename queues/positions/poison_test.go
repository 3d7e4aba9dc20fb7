package positions

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// The poison-job test (issue 11): over a real broker and the simulator, one
// account's open is refused for good (the exchange answers -4003) and
// another account's exchange hangs and then answers 503. The refused job is
// parked at once after a single POST, with a rejection the user can read;
// the other accounts' opens, queued behind both, each complete in well
// under a second; the hanging account's order is placed exactly once when
// its exchange recovers.
func TestAPoisonJobIsParkedAtOnceAndAHangingAccountHoldsUpNoOther(t *testing.T) {
	var (
		hangKey   atomic.Value // the hanging account's API key
		hangUntil = time.Now().Add(time.Hour)
		hangMu    sync.Mutex
		postsMu   sync.Mutex
		posts     = map[string]int{} // POST /fapi/v1/order per API key
	)
	hangKey.Store("")
	setHang := func(until time.Time) { hangMu.Lock(); hangUntil = until; hangMu.Unlock() }
	hanging := func() bool { hangMu.Lock(); defer hangMu.Unlock(); return time.Now().Before(hangUntil) }
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			key := r.Header.Get("X-MBX-APIKEY")
			if r.Method == http.MethodPost && r.URL.Path == "/fapi/v1/order" {
				postsMu.Lock()
				posts[key]++
				postsMu.Unlock()
			}
			if key != "" && key == hangKey.Load().(string) && hanging() {
				// A slow, then failing endpoint for this one account.
				select {
				case <-time.After(1500 * time.Millisecond):
				case <-r.Context().Done():
				}
				w.WriteHeader(503)
				_, _ = w.Write([]byte(`{"code":-1000,"msg":"Unknown error, please check your request or try again later."}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	e := startSimWith(t, 6, wrap)
	poison, hang, others := e.accounts[0], e.accounts[1], e.accounts[2:]
	hangKey.Store(hang.APIKey)
	if err := e.rest.LoadLimits(context.Background()); err != nil {
		t.Fatal(err)
	}

	b := testkit.Broker(t, prefix)
	topic := topics.Positions.Name(prefix)
	prod, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	handler := Handler(Deps{Rest: e.rest, Account: e.creds, Log: testkit.Logger(t), Reject: KafkaRejections(prod, prefix)})
	w, err := worker.New(worker.Config{Kafka: kclient.ForBrokers(b.Addr()), Prefix: prefix, Queue: topics.Positions, Handler: handler,
		RetryFor: time.Minute, Backoff: backoff.Policy{Base: 100 * time.Millisecond, Cap: 2 * time.Second}}, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("worker Run: %v", err)
		}
	}()
	produce := func(recs ...*kgo.Record) {
		t.Helper()
		if err := prod.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// Warm up: the worker has joined and handles records.
	produce(&kgo.Record{Topic: topic, Key: []byte(others[0].ID), Value: []byte(`{"kind":"order_transition","account":"` + others[0].ID + `","at":1}`)})
	testkit.Eventually(t, 20*time.Second, "the worker to start", func() bool { return w.Stats.Handled.Load() == 1 })

	// The poison and the hanging account's intents go first; three opens
	// of every other account follow.
	bad := intent(poison.ID, "kraite-poison-1")
	bad.Size = "0"
	recs := []*kgo.Record{
		{Topic: topic, Key: []byte(poison.ID), Value: allowed(t, bad)},
		{Topic: topic, Key: []byte(hang.ID), Value: allowed(t, intent(hang.ID, "kraite-hang-1"))},
		{Topic: topic, Key: []byte(hang.ID), Value: allowed(t, intent(hang.ID, "kraite-hang-2"))},
	}
	for i := range 3 {
		for _, a := range others {
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(a.ID), Value: allowed(t, intent(a.ID, fmt.Sprintf("kraite-%s-%d", a.ID, i)))})
		}
	}
	t0 := time.Now()
	produce(recs...)

	// Every other account's opens, each well within a second.
	placedAt := map[string]time.Duration{}
	testkit.Eventually(t, 10*time.Second, "the other accounts' opens", func() bool {
		for _, a := range others {
			for _, o := range e.sim.Orders(a.ID) {
				if _, ok := placedAt[o.ClientOrderID]; !ok {
					placedAt[o.ClientOrderID] = time.Since(t0)
				}
			}
		}
		return len(placedAt) == 3*len(others)
	})
	for cid, d := range placedAt {
		if d > time.Second {
			t.Errorf("open %s completed %s after it was queued, with a poison job and a hanging account ahead", cid, d)
		}
	}

	// The poison: parked at once, one POST, a rejection with the
	// exchange's code and message.
	testkit.Eventually(t, 5*time.Second, "the poison job parked", func() bool { return w.Stats.Parked.Load() == 1 })
	if d := time.Since(t0); d > 3*time.Second {
		t.Errorf("the poison job was parked %s after it was queued", d)
	}
	rr := testkit.NewReader(t, b.Addr(), topics.OpenIntentsRejected.Name(prefix))
	var rej []Rejection
	testkit.Eventually(t, 10*time.Second, "the rejection", func() bool {
		rej = rej[:0]
		for _, r := range rr.Poll(t) { // every record so far
			var x Rejection
			if err := json.Unmarshal(r.Value, &x); err != nil {
				t.Fatalf("rejection %q: %v", r.Value, err)
			}
			if string(r.Key) != poison.ID {
				t.Fatalf("rejection keyed %q, want the account %s", r.Key, poison.ID)
			}
			rej = append(rej, x)
		}
		return len(rej) > 0
	})
	got := rej[0]
	if got.Reason != ReasonExchangeRejected || got.ExchangeCode != binanceapi.CodeQuantityNotAbove0 ||
		got.ExchangeMsg != "Quantity less than or equal to zero." || got.HTTPStatus != 400 ||
		got.Intent.ClientID != "kraite-poison-1" || got.Band != "calm" || got.Detail == "" || got.AtMs == 0 {
		t.Fatalf("rejection %+v", got)
	}
	// The gate's readers decode it as a plain RejectedIntent.
	var plain topics.RejectedIntent
	v, _ := json.Marshal(got)
	if err := json.Unmarshal(v, &plain); err != nil || plain.Reason != ReasonExchangeRejected || plain.Intent.ClientID != "kraite-poison-1" {
		t.Fatalf("as a RejectedIntent: %+v, %v", plain, err)
	}
	q := testkit.NewReader(t, b.Addr(), topics.Quarantine.Name(prefix))
	testkit.Eventually(t, 10*time.Second, "the poison on quarantine", func() bool { return len(q.Poll(t)) == 1 })

	// The hanging account has placed nothing yet; once its exchange
	// answers again, each of its orders is placed exactly once.
	if n := len(e.sim.Orders(hang.ID)); n != 0 {
		t.Fatalf("the hanging account has %d orders already", n)
	}
	setHang(time.Now())
	testkit.Eventually(t, 15*time.Second, "the hanging account's opens", func() bool { return len(e.sim.Orders(hang.ID)) == 2 })
	for _, cid := range []string{"kraite-hang-1", "kraite-hang-2"} {
		if n := len(e.ordersWith(hang.ID, cid)); n != 1 {
			t.Fatalf("%s placed %d times", cid, n)
		}
	}

	time.Sleep(500 * time.Millisecond) // anything that would retry the poison has had the time
	rej = rej[:0]
	for _, r := range rr.Poll(t) {
		var x Rejection
		_ = json.Unmarshal(r.Value, &x)
		rej = append(rej, x)
	}
	postsMu.Lock()
	defer postsMu.Unlock()
	if n := posts[poison.APIKey]; n != 1 {
		t.Fatalf("the refused order was POSTed %d times, want 1 (no retry of a permanent error)", n)
	}
	if n := len(rej); n != 1 {
		t.Fatalf("%d rejections", n)
	}
	if got := w.Stats.Parked.Load(); got != 1 {
		t.Fatalf("%d parked, want 1", got)
	}
	t.Logf("slowest other open: %s", slowest(placedAt))
}

func slowest(m map[string]time.Duration) time.Duration {
	var d time.Duration
	for _, v := range m {
		d = max(d, v)
	}
	return d
}

// Refusals straight from the handler: an unknown symbol is refused by the
// query before any POST, a size the exchange cannot take by the POST; both
// are permanent with the exchange's code in the rejection. When the
// rejection cannot be published the error is transient, so the job is
// retried until the user is told.
func TestRefusalsArePermanentAndTellTheUserUnlessTheyCannot(t *testing.T) {
	e := startSim(t, nil)
	acct := e.accounts[0].ID
	var got []Rejection
	publishErr := error(nil)
	h := Handler(Deps{Rest: e.rest, Account: e.creds, Log: discard(), Reject: func(_ context.Context, r Rejection) error {
		if publishErr != nil {
			return publishErr
		}
		got = append(got, r)
		return nil
	}})
	for _, tc := range []struct {
		symbol, size string
		code         int
	}{
		{"NOPEUSDT", "0.5", binanceapi.CodeInvalidSymbol},
		{"ETHUSDT", "0.0000001", binanceapi.CodeBadPrecision},
		{"ETHUSDT", "0", binanceapi.CodeQuantityNotAbove0},
	} {
		in := intent(acct, "kraite-refused-"+tc.symbol+"-"+tc.size)
		in.Symbol, in.Size = tc.symbol, tc.size
		err := h(context.Background(), record(acct, allowed(t, in)))
		if !errors.Is(err, worker.ErrPermanent) {
			t.Fatalf("%s %s: error %v is not permanent", tc.symbol, tc.size, err)
		}
		if code, _, _ := binanceapi.CodeOf(err); code != tc.code {
			t.Fatalf("%s %s: code %d, want %d (%v)", tc.symbol, tc.size, code, tc.code, err)
		}
		last := got[len(got)-1]
		if last.ExchangeCode != tc.code || last.Reason != ReasonExchangeRejected || last.Intent.ClientID != in.ClientID {
			t.Fatalf("rejection %+v", last)
		}
	}
	if n := len(e.sim.Orders(acct)); n != 0 {
		t.Fatalf("%d orders placed", n)
	}

	publishErr = errors.New("broker unavailable")
	in := intent(acct, "kraite-refused-untold")
	in.Size = "0"
	err := h(context.Background(), record(acct, allowed(t, in)))
	if err == nil || errors.Is(err, worker.ErrPermanent) {
		t.Fatalf("error %v: want a transient error while the user cannot be told", err)
	}

	// An intent that can never be placed is rejected too, when it names one.
	publishErr = nil
	bad := intent(acct, "kraite-bad-side")
	bad.Side = "HOLD"
	if err := h(context.Background(), record(acct, allowed(t, bad))); !errors.Is(err, worker.ErrPermanent) {
		t.Fatalf("bad side: %v", err)
	}
	if last := got[len(got)-1]; last.Reason != ReasonInvalidIntent || last.Intent.ClientID != "kraite-bad-side" || last.ExchangeCode != 0 {
		t.Fatalf("rejection %+v", last)
	}
}
