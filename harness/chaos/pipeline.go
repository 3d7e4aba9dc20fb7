package chaos

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/producers/userdata"
)

// fetchExchangeInfo reads the simulator's exchangeInfo (its symbol rules).
func fetchExchangeInfo(ctx context.Context, restBase string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, restBase+"/fapi/v1/exchangeInfo", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reading the simulator's exchangeInfo: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading the simulator's exchangeInfo: http %d: %v", resp.StatusCode, err)
	}
	return body, nil
}

// Pipeline builds the in-process pipeline of a chaos run or soak on w (its
// database migrated and seeded with the simulator's symbol rules): every
// component, with the user-data producer's timers set by ud and its REST
// calls through a WeightProxy of their own.
func Pipeline(ctx context.Context, w *app.App, ud userdata.Config) ([]app.Component, error) {
	info, err := fetchExchangeInfo(ctx, w.Exchange.RESTBase)
	if err != nil {
		return nil, err
	}
	if err := w.SeedSimulatorDatabase(ctx, info); err != nil {
		return nil, err
	}
	var names []string
	for _, n := range app.ComponentNames() {
		if n != "userdata-producer" {
			names = append(names, n)
		}
	}
	comps, err := w.Components(ctx, names)
	if err != nil {
		return nil, err
	}
	pub, pubM, err := w.Publisher()
	if err != nil {
		return nil, err
	}
	// The producer's REST calls get a weight budget of their own, as on
	// its own box in production (see WeightProxy).
	wp, err := StartWeightProxy(w.Exchange.RESTBase)
	if err != nil {
		return nil, err
	}
	w.OnClose(func(context.Context) error { return wp.Close() })
	ud.TopicPrefix, ud.RESTBase, ud.WSBase = w.Common.TopicPrefix, wp.URL(), w.Exchange.WSBase
	mg, err := userdata.New(ud, w.Accounts, pub, pubM, w.Log.With("component", "userdata-producer"))
	if err != nil {
		return nil, err
	}
	w.SetUserData(mg)
	return append(comps, app.Component{Name: "userdata-producer", Run: mg.Run}), nil
}

// StartPipeline runs comps until the returned stop is called.
func StartPipeline(ctx context.Context, w *app.App, comps []app.Component) (stop func() error) {
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(pctx, comps) }()
	var once sync.Once
	var err error
	return func() error {
		once.Do(func() {
			cancel()
			err = <-done
			if errors.Is(err, context.Canceled) {
				err = nil
			}
		})
		return err
	}
}

// AccountsFile writes accts as an accounts file (KRAITE_ACCOUNTS_FILE)
// into dir, mode 0600, and returns its path.
func AccountsFile(dir string, accts []userdata.Account) (string, error) {
	type js struct {
		ID        string `json:"id"`
		APIKey    string `json:"api_key"`
		APISecret string `json:"api_secret"`
	}
	list := make([]js, len(accts))
	for i, a := range accts {
		list[i] = js{a.ID, a.APIKey, a.APISecret}
	}
	b, err := json.Marshal(list)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "accounts.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return "", fmt.Errorf("writing the accounts file: %w", err)
	}
	return path, nil
}

// ServeSim runs sim on a free loopback port until the returned stop.
func ServeSim(ctx context.Context, sim *simulator.Simulator) (addr string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("listening for the simulator: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { errc <- sim.Serve(ctx, ln) }()
	return ln.Addr().String(), func() { cancel(); <-errc }, nil
}
