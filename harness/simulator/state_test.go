package simulator

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/producers/userdata"
)

// stepAll steps every account n times, in a fixed order.
func stepAll(s *Simulator, n int) {
	for range n {
		for _, a := range s.Accounts() {
			s.Step(a.ID)
		}
	}
}

type groundTruth struct {
	Accounts  []Account
	Orders    map[string][]Order
	Algos     map[string][]AlgoOrder
	Positions map[string][]Position
	Keys      map[string]string
}

func truthOf(s *Simulator) groundTruth {
	g := groundTruth{Accounts: s.Accounts(), Orders: map[string][]Order{}, Algos: map[string][]AlgoOrder{},
		Positions: map[string][]Position{}, Keys: map[string]string{}}
	for _, a := range g.Accounts {
		g.Orders[a.ID], g.Algos[a.ID], g.Positions[a.ID] = s.Orders(a.ID), s.AlgoOrders(a.ID), s.Positions(a.ID)
		g.Keys[a.ID] = s.ListenKey(a.ID)
	}
	return g
}

func mustNew(t *testing.T, cfg Config) *Simulator {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func stateCfg(t *testing.T) Config {
	return Config{Seed: 7, Accounts: 3, OrderInterval: -1, Now: fixedClock(),
		StateFile: filepath.Join(t.TempDir(), "sim", "state.json")}
}

// A simulator stopped and started again on its state file is the simulator
// that never stopped: same ground truth, and the next steps give the same
// orders with new ids (none reused).
func TestStateRestartContinuesLikeNoRestart(t *testing.T) {
	cfg := stateCfg(t)
	ref := mustNew(t, Config{Seed: cfg.Seed, Accounts: cfg.Accounts, OrderInterval: -1, Now: cfg.Now})

	first := mustNew(t, cfg)
	for _, s := range []*Simulator{first, ref} {
		stepAll(s, 150)
		for _, a := range s.Accounts()[:2] { // listenKeys: issued, then one expired
			s.listenKeyCall(s.byID[a.ID], http.MethodPost)
		}
		s.ExpireListenKey("acct-0002")
		s.Crash(5, time.Minute)
		s.mu.Lock()
		s.market.step(s.now().Add(time.Second))
		s.mu.Unlock()
	}
	if err := first.saveState(true); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(cfg.StateFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, mode %v (it holds API secrets: 0600)", err, fi.Mode())
	}
	before := truthOf(first)
	if len(before.Orders["acct-0001"]) < 50 || len(before.Algos["acct-0001"]) == 0 {
		t.Fatalf("too little happened to prove anything: %d orders", len(before.Orders["acct-0001"]))
	}

	second := mustNew(t, cfg)
	if got := truthOf(second); !reflect.DeepEqual(got, before) {
		t.Fatal("the restored ground truth differs from the saved one")
	}
	if in := first.byID["acct-0001"].income; len(in) == 0 || !reflect.DeepEqual(second.byID["acct-0001"].income, in) {
		t.Fatalf("the income history: %d entries saved, %d restored", len(in), len(second.byID["acct-0001"].income))
	}
	if second.ExchangeInfo() == nil || !reflect.DeepEqual(second.market.markPriceFrame(second.now()), ref.market.markPriceFrame(ref.now())) {
		t.Fatal("the restored market differs")
	}
	stepAll(second, 100)
	stepAll(ref, 100)
	if got, want := truthOf(second), truthOf(ref); !reflect.DeepEqual(got, want) {
		t.Fatal("after the restart the simulator does not continue as one that never stopped")
	}
	seen := map[int64]bool{}
	for _, o := range second.Orders("acct-0001") {
		if seen[o.OrderID] {
			t.Fatalf("order id %d reused", o.OrderID)
		}
		seen[o.OrderID] = true
	}
	if len(second.Orders("acct-0001")) <= len(before.Orders["acct-0001"]) {
		t.Fatal("no new orders after the restart")
	}
}

// More accounts asked for than saved: the saved ones are kept and new ones
// added, as the seed makes them.
func TestStateAddsAccountsBeyondTheSavedOnes(t *testing.T) {
	cfg := stateCfg(t)
	first := mustNew(t, cfg)
	stepAll(first, 20)
	if err := first.saveState(true); err != nil {
		t.Fatal(err)
	}
	cfg.Accounts = 5
	second := mustNew(t, cfg)
	fresh := mustNew(t, Config{Seed: cfg.Seed, Accounts: 5, OrderInterval: -1, Now: cfg.Now})
	if !reflect.DeepEqual(second.Accounts(), fresh.Accounts()) {
		t.Fatal("accounts differ from the seed's")
	}
	if !reflect.DeepEqual(second.Orders("acct-0001"), first.Orders("acct-0001")) || len(second.Orders("acct-0005")) != 0 {
		t.Fatal("saved accounts lost their orders, or the new ones have some")
	}
	cfg.Accounts = 1
	if third := mustNew(t, cfg); len(third.Accounts()) != 3 {
		t.Fatalf("fewer accounts asked for: %d kept, want the 3 saved", len(third.Accounts()))
	}
}

// A periodic save (the last run crashed) restores, but every id sequence
// skips ahead, so ids issued after that save are never issued again.
func TestStateAfterACrashNeverReusesIDs(t *testing.T) {
	cfg := stateCfg(t)
	first := mustNew(t, cfg)
	stepAll(first, 50)
	if err := first.SaveState(); err != nil { // periodic: not clean
		t.Fatal(err)
	}
	stepAll(first, 50) // happened after the save, then the process died
	lost := map[int64]bool{}
	for _, o := range first.Orders("acct-0001") {
		lost[o.OrderID] = true
	}
	second := mustNew(t, cfg)
	saved := len(second.Orders("acct-0001"))
	stepAll(second, 100)
	for _, o := range second.Orders("acct-0001")[saved:] {
		if lost[o.OrderID] {
			t.Fatalf("order id %d issued again after a crash", o.OrderID)
		}
	}
}

// Run saves periodically and once more (clean) when it stops.
func TestRunSavesTheState(t *testing.T) {
	cfg := stateCfg(t)
	cfg.Now, cfg.OrderInterval, cfg.StateEvery = nil, 2*time.Millisecond, 20*time.Millisecond
	s := mustNew(t, cfg)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	testkit.Eventually(t, 10*time.Second, "a periodic save with orders", func() error {
		st, err := readStateFile(cfg.StateFile)
		if err != nil || st == nil || len(st.Accounts[0].Orders) == 0 {
			return fmt.Errorf("state file: %v", err)
		}
		if st.Clean {
			t.Fatal("a periodic save is marked clean")
		}
		return nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	st, err := readStateFile(cfg.StateFile)
	if err != nil || !st.Clean {
		t.Fatalf("the last save: %v, clean=%v", err, st != nil && st.Clean)
	}
	if again := mustNew(t, cfg); !reflect.DeepEqual(truthOf(again).Orders, truthOf(s).Orders) {
		t.Fatal("the state saved by Run differs from the simulator's")
	}
	entries, _ := os.ReadDir(filepath.Dir(cfg.StateFile))
	if len(entries) != 1 {
		t.Fatalf("temporary files left next to the state: %v", entries)
	}
}

// A state that cannot be used is an error naming the file and the way out;
// the file is left alone.
func TestBadStateIsAClearError(t *testing.T) {
	cfg := stateCfg(t)
	good := mustNew(t, cfg)
	stepAll(good, 30)
	if err := good.saveState(true); err != nil {
		t.Fatal(err)
	}
	valid, err := os.ReadFile(cfg.StateFile)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(st map[string]any)) []byte {
		var st map[string]any
		dec := json.NewDecoder(strings.NewReader(string(valid)))
		dec.UseNumber() // ids beyond 2^53
		if err := dec.Decode(&st); err != nil {
			t.Fatal(err)
		}
		f(st)
		b, _ := json.Marshal(st)
		return b
	}
	acct0 := func(st map[string]any) map[string]any { return st["accounts"].([]any)[0].(map[string]any) }
	// listTwice repeats the first id of the first account's non-empty list.
	listTwice := func(st map[string]any, list string) {
		for _, a := range st["accounts"].([]any) {
			if ids, _ := a.(map[string]any)[list].([]any); len(ids) > 0 {
				a.(map[string]any)[list] = append(ids, ids[0])
				return
			}
		}
		t.Fatalf("no account has a %s entry to repeat", list)
	}
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"garbage", []byte("not json"), "decoding"},
		{"truncated", valid[:len(valid)/2], "decoding"},
		{"empty", nil, "decoding"},
		{"trailing data", append(append([]byte(nil), valid...), []byte(" {}")...), "trailing"},
		{"another version", edit(func(st map[string]any) { st["version"] = 99 }), "version 99"},
		{"unknown field", edit(func(st map[string]any) { st["extra"] = 1 }), "unknown field"},
		{"another seed", edit(func(st map[string]any) { st["seed"] = 8 }), "seed 8"},
		{"a foreign account", edit(func(st map[string]any) { acct0(st)["api_secret"] = "x" }), "not the account"},
		{"a dangling algo reference", edit(func(st map[string]any) {
			a := acct0(st)
			for _, o := range a["orders"].([]any) {
				o.(map[string]any)["algo_id"] = 12345
			}
		}), "not in the state"},
		{"an unknown symbol", edit(func(st map[string]any) {
			acct0(st)["orders"].([]any)[0].(map[string]any)["symbol"] = "NOPEUSDT"
		}), "unknown symbol"},
		{"a bad random state", edit(func(st map[string]any) { acct0(st)["rng"] = "AAAA" }), "random state"},
		{"income of an unknown symbol", edit(func(st map[string]any) {
			acct0(st)["income"] = []any{map[string]any{"symbol": "NOPEUSDT", "type": "COMMISSION", "amount": -1, "time": 1, "trade_id": 1}}
		}), "unknown symbol"},
		{"income of an unknown type", edit(func(st map[string]any) {
			acct0(st)["income"] = []any{map[string]any{"symbol": "BTCUSDT", "type": "TRANSFER", "amount": -1, "time": 1, "trade_id": 1}}
		}), `type "TRANSFER"`},
		{"a duplicate open order", edit(func(st map[string]any) { listTwice(st, "live") }), "listed twice"},
		{"a duplicate open algo order", edit(func(st map[string]any) { listTwice(st, "live_algos") }), "listed twice"},
		{"a huge order sequence", edit(func(st map[string]any) { acct0(st)["seq"] = int64(1) << 62 }), "id space"},
		{"a huge trade sequence", edit(func(st map[string]any) { acct0(st)["trade_seq"] = 100_000_000 }), "id space"},
		{"a negative sequence", edit(func(st map[string]any) { acct0(st)["seq"] = -1 }), "id space"},
		{"a short market", edit(func(st map[string]any) {
			st["market"].(map[string]any)["log_dev"] = []float64{1}
		}), "symbols"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(cfg.StateFile, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), cfg.StateFile) ||
				!strings.Contains(err.Error(), "remove it") {
				t.Fatalf("got %v, want an error naming the file, the way out and %q", err, tt.want)
			}
			if b, _ := os.ReadFile(cfg.StateFile); string(b) != string(tt.data) {
				t.Fatal("the bad file was changed")
			}
		})
	}
}

// The admin API: loopback clients only (unless AdminRemote), the token
// when one is set, and an account listing that is an accounts file.
func TestAdminNeedsTheTokenAndLoopback(t *testing.T) {
	const token = "s3cr3t-admin-token"
	h := start(t, Config{AdminToken: token})
	get := func(path, auth string) (int, []byte) {
		req, _ := http.NewRequest("GET", h.srv.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := h.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, path := range []string{"/admin/accounts", "/admin/orders?account=acct-0001", "/admin/positions?account=acct-0001", "/admin/algo-orders?account=acct-0001"} {
		for _, auth := range []string{"", "Bearer wrong", "Bearer " + token + "x", token, "Basic " + token} {
			if status, body := get(path, auth); status != 401 || strings.Contains(string(body), h.acct(0).APISecret) {
				t.Fatalf("GET %s with %q: %d %s", path, auth, status, body)
			}
		}
	}
	req, _ := http.NewRequest("POST", h.srv.URL+"/admin/fault", strings.NewReader(`{"fault":"pause"}`))
	if resp, err := h.srv.Client().Do(req); err != nil || resp.StatusCode != 401 {
		t.Fatalf("POST /admin/fault without a token: %v %v", err, resp.StatusCode)
	}
	status, body := get("/admin/accounts", "Bearer "+token)
	if status != 200 {
		t.Fatalf("with the token: %d %s", status, body)
	}
	accts, err := userdata.ParseAccounts(body)
	if err != nil || len(accts) != 3 || accts[0].ID != h.acct(0).ID || accts[0].APIKey != h.acct(0).APIKey || accts[0].APISecret != h.acct(0).APISecret {
		t.Fatalf("the listing is not an accounts file: %v\n%s", err, body)
	}

	// A client that is not on loopback: 403, token or not.
	for _, remote := range []string{"10.1.2.3:5000", "[2001:db8::1]:80", "garbage"} {
		r := httptest.NewRequest("GET", "/admin/accounts", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.sim.Handler().ServeHTTP(w, r)
		if w.Code != 403 {
			t.Fatalf("admin from %s: %d", remote, w.Code)
		}
	}
	for _, remote := range []string{"127.0.0.1:1", "[::1]:2", "[::ffff:127.0.0.1]:3"} {
		r := httptest.NewRequest("GET", "/admin/accounts", nil)
		r.RemoteAddr = remote
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.sim.Handler().ServeHTTP(w, r)
		if w.Code != 200 {
			t.Fatalf("admin from %s: %d", remote, w.Code)
		}
	}
	remote := mustNew(t, Config{AdminToken: token, AdminRemote: true})
	r := httptest.NewRequest("GET", "/admin/accounts", nil)
	r.RemoteAddr = "10.1.2.3:5000"
	r.Header.Set("Authorization", "Bearer "+token)
	w := httptest.NewRecorder()
	remote.Handler().ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("AdminRemote: %d", w.Code)
	}
	// Exchange routes are not behind the admin token.
	if status, _, _, _ := h.call("GET", "/fapi/v1/ping", "", url.Values{}); status != 200 {
		t.Fatalf("ping: %d", status)
	}
}

func FuzzDecodeState(f *testing.F) {
	s, err := New(Config{Seed: 3, Accounts: 2, OrderInterval: -1, Now: fixedClock()})
	if err != nil {
		f.Fatal(err)
	}
	stepAll(s, 40)
	s.mu.Lock()
	st, err := s.snapshotLocked(true)
	s.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	st.Market.Minutes = nil // keep the seed small
	seed, _ := json.Marshal(st)
	f.Add(seed)
	f.Add([]byte(`{"version":1,"seed":3}`))
	f.Add([]byte(`{"version":1,"seed":3,"accounts":[{"idx":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := decodeState(data)
		if err != nil {
			return
		}
		fresh, err := New(Config{Seed: 3, Accounts: 2, OrderInterval: -1, Now: fixedClock()})
		if err != nil {
			t.Fatal(err)
		}
		if fresh.restore(st) == nil {
			stepAll(fresh, 3) // a restored state must be usable
		}
	})
}

// BenchmarkSnapshotTwoDays is the time a save holds the simulator's lock
// (every REST call and frame waits for it) once the market has two days of
// minute rows, the most it keeps:
//
//	go test -run '^$' -bench SnapshotTwoDays ./harness/simulator/
func BenchmarkSnapshotTwoDays(b *testing.B) {
	s, err := New(Config{Seed: 7, Accounts: 3, OrderInterval: -1, Now: fixedClock()})
	if err != nil {
		b.Fatal(err)
	}
	stepAll(s, 100)
	for i := range 2 * 24 * 60 {
		s.market.recordMinute(s.now().Add(time.Duration(i) * time.Minute))
	}
	b.ReportAllocs()
	for b.Loop() {
		s.mu.Lock()
		_, err := s.snapshotLocked(false)
		s.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
	}
}
