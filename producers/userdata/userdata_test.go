package userdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

// rig is a simulator, a broker and a running user-data producer.
type rig struct {
	t      *testing.T
	sim    *simulator.Simulator
	broker *broker.Broker
	pub    *publisher.Publisher
	mg     *Manager
	reader *testkit.Reader
	stop   func()

	trading atomic.Bool // while true, every account trades every 10ms
	restURL string
}

// trade drives the simulator's order lifecycles (the simulator's own timer
// is off so tests can stop trading and let the pipeline settle).
func (r *rig) trade(ctx context.Context) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if r.trading.Load() {
				for _, a := range r.sim.Accounts() {
					r.sim.Step(a.ID)
				}
			}
		}
	}
}

type rigOpts struct {
	accounts    int
	idle        time.Duration
	rotate      time.Duration
	keepAlive   time.Duration
	keyTTL      time.Duration
	hook        func(Account, []byte)
	noAutoStart bool
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	if o.accounts == 0 {
		o.accounts = 3
	}
	if o.idle == 0 {
		o.idle = 2 * time.Second
	}
	sim, err := simulator.New(simulator.Config{
		Seed: 7, Accounts: o.accounts, OrderInterval: -1, MarkPriceInterval: time.Hour,
		PingInterval: 100 * time.Millisecond, ListenKeyTTL: o.keyTTL,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	b := testkit.Broker(t, prefix)
	log := testkit.Logger(t)
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(b.Addr()), StallAfter: 300 * time.Millisecond}, log, publisher.NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	var accts []Account
	for _, a := range sim.Accounts() {
		accts = append(accts, Account{ID: a.ID, APIKey: a.APIKey, APISecret: a.APISecret})
	}
	mg, err := New(Config{
		RESTBase: srv.URL, WSBase: "ws" + strings.TrimPrefix(srv.URL, "http"),
		IdleTimeout: o.idle, RotateAfter: o.rotate, KeepAlive: o.keepAlive,
		Backoff: backoff.Policy{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
	}, accts, pub, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	mg.hook = o.hook
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	r := &rig{t: t, sim: sim, broker: b, pub: pub, mg: mg, reader: testkit.NewReader(t, b.Addr(), topics.UserDataStream.Name(prefix))}
	r.restURL = srv.URL
	r.trading.Store(true)
	wg.Add(3)
	go func() { defer wg.Done(); _ = sim.Run(ctx) }()
	go func() { defer wg.Done(); _ = mg.Run(ctx) }()
	go func() { defer wg.Done(); r.trade(ctx) }()
	var once sync.Once
	r.stop = func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer fcancel()
			if err := pub.Close(fctx); err != nil {
				t.Errorf("closing publisher: %v", err)
			}
			srv.Close()
		})
	}
	t.Cleanup(r.stop)
	return r
}

// stored splits the topic into frames and gap markers per account.
type stored struct {
	frames map[string][][]byte
	gaps   map[string][]topics.GapMarker
	parts  map[string]map[int32]bool
}

func (r *rig) stored() stored {
	s := stored{frames: map[string][][]byte{}, gaps: map[string][]topics.GapMarker{}, parts: map[string]map[int32]bool{}}
	for _, rec := range r.reader.Poll(r.t) {
		acct := string(rec.Key)
		if s.parts[acct] == nil {
			s.parts[acct] = map[int32]bool{}
		}
		s.parts[acct][rec.Partition] = true
		switch topics.Header(rec, topics.HeaderKind) {
		case topics.KindGap:
			var g topics.GapMarker
			if err := json.Unmarshal(rec.Value, &g); err != nil {
				r.t.Fatalf("gap marker: %v", err)
			}
			s.gaps[acct] = append(s.gaps[acct], g)
		case topics.KindFrame:
			s.frames[acct] = append(s.frames[acct], rec.Value)
		default:
			r.t.Fatalf("record without kind header: %v", rec.Headers)
		}
	}
	return s
}

// missing returns the pushed frames of acct that are not (yet) in the topic
// byte for byte, honouring multiplicity.
func (r *rig) missing(acct string, st stored) int {
	have := map[string]int{}
	for _, f := range st.frames[acct] {
		have[string(f)]++
	}
	n := 0
	for _, p := range r.sim.PushedFrames(acct) {
		if have[string(p.Data)] > 0 {
			have[string(p.Data)]--
			continue
		}
		n++
	}
	return n
}

// settle stops new events and waits until every pushed frame is stored.
func (r *rig) settle(accts []string) stored {
	r.t.Helper()
	r.trading.Store(false)
	var st stored
	testkit.Eventually(r.t, 20*time.Second, "every pushed frame in the topic", func() bool {
		st = r.stored()
		for _, a := range accts {
			if r.missing(a, st) > 0 {
				return false
			}
		}
		return true
	})
	return st
}

func ids(sim *simulator.Simulator) []string {
	var out []string
	for _, a := range sim.Accounts() {
		out = append(out, a.ID)
	}
	return out
}

func TestEveryPushedFrameIsStoredUnchangedAndEveryDisconnectLeavesAGap(t *testing.T) {
	r := newRig(t, rigOpts{accounts: 4, idle: 300 * time.Millisecond})
	accts := ids(r.sim)
	waitFrames := func(a string, n int) {
		testkit.Eventually(t, 10*time.Second, "frames for "+a, func() bool { return len(r.sim.PushedFrames(a)) >= n })
	}
	for _, a := range accts {
		waitFrames(a, 5)
	}
	// One fault per account, while the market keeps trading.
	if n := r.sim.DropConnections(accts[0]); n == 0 {
		t.Fatal("no connection to drop")
	}
	r.sim.Silence(accts[1], 1500*time.Millisecond)
	r.sim.ExpireListenKey(accts[2])
	malformed := []byte(`{"e":"ORDER_TRADE_UPDATE","E":"not-a-number","o":{"s":"币安人生USDT","i":9223372036854775807}`)
	r.sim.InjectMalformed(accts[3], malformed)
	r.sim.RateLimit(3) // the reconnects meet 429s first
	for _, a := range accts {
		waitFrames(a, len(r.sim.PushedFrames(a))+20)
	}
	st := r.settle(accts)
	r.stop()

	for _, a := range accts {
		if len(st.parts[a]) != 1 {
			t.Errorf("%s spread over partitions %v", a, st.parts[a])
		}
		if len(st.gaps[a]) == 0 || st.gaps[a][0].Reason != reasonStartup {
			t.Errorf("%s: first gap marker %+v, want a startup marker", a, st.gaps[a])
		}
	}
	wantReason := map[string]string{accts[0]: reasonDisconnect, accts[1]: reasonIdle, accts[2]: reasonKeyExpired}
	for a, reason := range wantReason {
		found := false
		for _, g := range st.gaps[a] {
			if g.Reason == reason && g.FromMs > 0 && g.ToMs >= g.FromMs && g.Account == a {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no %s gap marker in %+v", a, reason, st.gaps[a])
		}
	}
	// Every connection the simulator pushed on was preceded by a gap marker.
	for _, a := range accts {
		conns := map[string]bool{}
		for _, p := range r.sim.PushedFrames(a) {
			conns[p.ConnID] = true
		}
		if len(st.gaps[a]) < len(conns) {
			t.Errorf("%s: %d connections but %d gap markers", a, len(conns), len(st.gaps[a]))
		}
	}
	if !containsFrame(st.frames[accts[3]], malformed) {
		t.Error("the malformed frame was not published raw")
	}
}

func containsFrame(frames [][]byte, want []byte) bool {
	for _, f := range frames {
		if bytes.Equal(f, want) {
			return true
		}
	}
	return false
}

func TestAPanicInOneAccountDoesNotDisturbTheOthers(t *testing.T) {
	var once sync.Once
	var bad string
	r := newRig(t, rigOpts{accounts: 3, hook: func(a Account, _ []byte) {
		if a.ID == bad {
			once.Do(func() { panic("handler bug") })
		}
	}})
	bad = ids(r.sim)[0]
	accts := ids(r.sim)
	for _, a := range accts {
		testkit.Eventually(t, 10*time.Second, "frames", func() bool { return len(r.sim.PushedFrames(a)) >= 30 })
	}
	st := r.settle(accts[1:])
	// The healthy accounts were never reconnected.
	for _, a := range accts[1:] {
		if len(st.gaps[a]) != 1 {
			t.Errorf("%s has %d gap markers, want only the startup one", a, len(st.gaps[a]))
		}
	}
	testkit.Eventually(t, 10*time.Second, "the panicking account to reconnect", func() bool {
		for _, g := range r.stored().gaps[bad] {
			if g.Reason == reasonPanic {
				return true
			}
		}
		return false
	})
}

func TestRotationOpensTheNewConnectionBeforeClosingTheOld(t *testing.T) {
	r := newRig(t, rigOpts{accounts: 2, rotate: 150 * time.Millisecond})
	accts := ids(r.sim)
	for _, a := range accts {
		testkit.Eventually(t, 10*time.Second, "several rotations", func() bool {
			conns := map[string]bool{}
			for _, p := range r.sim.PushedFrames(a) {
				conns[p.ConnID] = true
			}
			return len(conns) >= 4
		})
	}
	st := r.settle(accts)
	for _, a := range accts {
		if len(st.gaps[a]) != 1 {
			t.Errorf("%s: rotation left gap markers %+v", a, st.gaps[a])
		}
	}
}

func TestListenKeyIsKeptAliveAndAccountsChangeWithoutRestart(t *testing.T) {
	r := newRig(t, rigOpts{accounts: 2, keepAlive: 50 * time.Millisecond, keyTTL: 300 * time.Millisecond})
	accts := ids(r.sim)
	// Longer than the TTL: without keep-alives the keys would lapse.
	time.Sleep(time.Second)
	for _, a := range accts {
		for _, g := range r.stored().gaps[a] {
			if g.Reason != reasonStartup {
				t.Fatalf("%s reconnected (%s) although keep-alive runs", a, g.Reason)
			}
		}
	}
	added := r.sim.AddAccount()
	var next []Account
	for _, a := range r.sim.Accounts() {
		if a.ID != accts[0] {
			next = append(next, Account{ID: a.ID, APIKey: a.APIKey, APISecret: a.APISecret})
		}
	}
	r.mg.SetAccounts(next)
	testkit.Eventually(t, 10*time.Second, "the added account to stream", func() bool {
		return len(r.stored().frames[added.ID]) > 5
	})
	testkit.Eventually(t, 20*time.Second, "the removed account to stop", func() bool {
		for _, s := range r.mg.Status() {
			if s.ID == accts[0] {
				return false
			}
		}
		return true
	})
	before := len(r.stored().frames[accts[0]])
	time.Sleep(300 * time.Millisecond)
	if after := len(r.stored().frames[accts[0]]); after != before {
		t.Fatalf("removed account still produces: %d -> %d", before, after)
	}
}

func TestBrokerOutageBuffersReportsUnhealthyAndLosesNothing(t *testing.T) {
	r := newRig(t, rigOpts{accounts: 2})
	accts := ids(r.sim)
	for _, a := range accts {
		testkit.Eventually(t, 10*time.Second, "frames", func() bool { return len(r.sim.PushedFrames(a)) >= 5 })
	}
	// The broker fails every produce request until released (a dead leader).
	var down atomic.Bool
	down.Store(true)
	r.broker.Cluster().ControlKey(int16(kmsg.Produce), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		r.broker.Cluster().KeepControl()
		if !down.Load() {
			return nil, nil, false
		}
		return nil, errors.New("broker down"), true
	})
	testkit.Eventually(t, 10*time.Second, "the publisher to report unhealthy", func() bool { return !r.pub.Healthy() })
	pushedDuring := len(r.sim.PushedFrames(accts[0]))
	down.Store(false)
	testkit.Eventually(t, 10*time.Second, "more frames after the outage", func() bool {
		return len(r.sim.PushedFrames(accts[0])) > pushedDuring+10
	})
	r.settle(accts)
	testkit.Eventually(t, 10*time.Second, "healthy again", r.pub.Healthy)
	if r.pub.Failed() != 0 {
		t.Fatalf("%d records failed", r.pub.Failed())
	}
}

func TestAKeyGoneAtKeepAliveIsRecreatedAndTheStreamResumes(t *testing.T) {
	r := newRig(t, rigOpts{accounts: 2, keepAlive: 50 * time.Millisecond})
	accts := r.sim.Accounts()
	a := accts[0]
	testkit.Eventually(t, 10*time.Second, "frames", func() bool { return len(r.sim.PushedFrames(a.ID)) >= 5 })
	// The status pages' listenKey times: obtained at connect, kept alive.
	keyTimes := func() (at, kept time.Time) {
		for _, s := range r.mg.Status() {
			if s.ID == a.ID {
				return s.ListenKeyAt, s.KeptAliveAt
			}
		}
		return
	}
	testkit.Eventually(t, 10*time.Second, "a listenKey kept alive", func() bool {
		at, kept := keyTimes()
		return !at.IsZero() && !kept.Before(at)
	})
	closedAt := time.Now()
	// Another process closes the key: no listenKeyExpired frame is pushed,
	// only the next keep-alive learns it (-1125).
	if err := binanceapi.New(r.restURL).CloseListenKey(context.Background(),
		binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "a listenKeyGone gap marker", func() bool {
		for _, g := range r.stored().gaps[a.ID] {
			if g.Reason == reasonKeyGone && g.FromMs > 0 {
				return true
			}
		}
		return false
	})
	before := len(r.sim.PushedFrames(a.ID))
	testkit.Eventually(t, 10*time.Second, "frames on the new key", func() bool { return len(r.sim.PushedFrames(a.ID)) > before+5 })
	if at, _ := keyTimes(); !at.After(closedAt) {
		t.Errorf("listenKey obtained at %s, not after the old one was closed at %s", at, closedAt)
	}
	r.settle([]string{a.ID, accts[1].ID})
	for _, g := range r.stored().gaps[accts[1].ID] {
		if g.Reason != reasonStartup {
			t.Fatalf("the other account reconnected: %+v", g)
		}
	}
}

// TestTheStreamsSpendTheStreamShareOfTheWeight: the producer's REST client
// (listenKey calls) paces at binanceapi.StreamBudget, above the share the
// background readers on the same IP stop at, so a backfill burst cannot
// hold a reconnect back to the next minute window.
func TestTheStreamsSpendTheStreamShareOfTheWeight(t *testing.T) {
	mg, err := New(Config{RESTBase: "http://127.0.0.1:1", WSBase: "ws://127.0.0.1:1"}, nil, nil, nil, testkit.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if b := mg.REST().Budget; b != binanceapi.StreamBudget || b <= binanceapi.BackgroundBudget {
		t.Fatalf("producer REST budget %v, want the stream share %v (background %v)", b, binanceapi.StreamBudget, binanceapi.BackgroundBudget)
	}
}
