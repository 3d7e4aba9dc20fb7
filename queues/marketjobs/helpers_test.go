package marketjobs

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binanceapi"
)

// t0 is the simulator's fixed clock: klines are then deterministic, and
// the candle opening at t0's minute is the forming one.
var t0 = time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC)

type simHarness struct {
	sim  *simulator.Simulator
	url  string
	rest *binanceapi.Client
}

// startSim serves a simulator (one account, no background orders, fixed
// clock) over a real listener and runs it until the test ends, waiting for
// Run to return.
func startSim(t testing.TB) *simHarness {
	t.Helper()
	sim, err := simulator.New(simulator.Config{Seed: 1, Accounts: 1, OrderInterval: -1, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatalf("creating simulator: %v", err)
	}
	srv := httptest.NewServer(sim.Handler())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("simulator Run: %v", err)
		}
		sim.Close()
		srv.Close()
	})
	return &simHarness{sim: sim, url: srv.URL, rest: binanceapi.New(srv.URL)}
}

// creds returns the credentials lookup of the simulator's accounts.
func (h *simHarness) creds(id string) (binanceapi.Credentials, error) {
	for _, a := range h.sim.Accounts() {
		if a.ID == id {
			return binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}, nil
		}
	}
	return binanceapi.Credentials{}, errors.New("unknown account")
}
