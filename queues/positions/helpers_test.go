package positions

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// env is a running simulator served over a real listener, and a handler
// wired to it.
type env struct {
	sim      *simulator.Simulator
	srv      *httptest.Server
	accounts []simulator.Account
	rest     *binanceapi.Client
	handler  worker.Handler
}

// startSim runs the simulator until the test ends; wrap, if set, sits
// between the client and the simulator (to lose answers, say).
func startSim(t *testing.T, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	return startSimWith(t, 2, wrap)
}

// startSimWith is startSim with n accounts.
func startSimWith(t *testing.T, n int, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Seed: 1, Accounts: n, OrderInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	h := sim.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("simulator Run: %v", err)
		}
		sim.Close()
		srv.Close()
	})
	e := &env{sim: sim, srv: srv, accounts: sim.Accounts(), rest: binanceapi.New(srv.URL)}
	e.handler = Handler(Deps{Rest: e.rest, Account: e.creds, Log: testkit.Logger(t)})
	return e
}

// creds looks an account up among the simulator's.
func (e *env) creds(id string) (binanceapi.Credentials, error) {
	for _, a := range e.accounts {
		if a.ID == id {
			return binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}, nil
		}
	}
	return binanceapi.Credentials{}, fmt.Errorf("no account %q", id)
}

// ordersWith returns the simulator's orders of account with client id cid.
func (e *env) ordersWith(account, cid string) []simulator.Order {
	var out []simulator.Order
	for _, o := range e.sim.Orders(account) {
		if o.ClientOrderID == cid {
			out = append(out, o)
		}
	}
	return out
}

// allowed is an open_allowed record value for intent in.
func allowed(t testing.TB, in topics.OpenIntent) []byte {
	t.Helper()
	v, err := json.Marshal(topics.PositionEvent{Kind: KindOpenAllowed, Account: in.Account, Exchange: in.Exchange,
		Intent: &in, Band: "calm", Score: 0.1, AtMs: 1})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// record wraps value as a positions record of account.
func record(account string, value []byte) *kgo.Record {
	return &kgo.Record{Topic: "kraite.positions", Key: []byte(account), Value: value}
}

// intent is a valid BUY intent of account.
func intent(account, cid string) topics.OpenIntent {
	return topics.OpenIntent{Account: account, Exchange: topics.ExchangeBinance, Symbol: "ETHUSDT",
		Side: "BUY", Size: "0.5", ClientID: cid, CreatedMs: 1}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
