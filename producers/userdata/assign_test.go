package userdata

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/topics"
)

// childEnv carries what a producer child process needs.
const childEnv = "KRAITE_USERDATA_ASSIGN_CHILD"

type childConfig struct {
	Broker   string
	RESTBase string
	DBURL    string // the accounts table (a scratch MariaDB database)
	Key      string // the accounts key (a fresh one per test)
	Session  time.Duration
	Grace    time.Duration
	Name     string
}

// openStore opens the accounts table of c as the credential source.
func openStore(ctx context.Context, c childConfig) (*accounts.Store, func(), error) {
	key, err := accounts.ParseKey(c.Key)
	if err != nil {
		return nil, nil, err
	}
	d, err := db.Open(ctx, c.DBURL)
	if err != nil {
		return nil, nil, err
	}
	s, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: testkit.Logger(nil)})
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return s, func() { d.Close() }, nil
}

// TestMain runs a producer child (an Assigner and its Manager) when the
// test binary is started as one by the failover test.
func TestMain(m *testing.M) {
	if v := os.Getenv(childEnv); v != "" {
		os.Exit(runChild(v))
	}
	os.Exit(m.Run())
}

func runChild(v string) int {
	var c childConfig
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	src, closeDB, err := openStore(context.Background(), c)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer closeDB()
	log := testkit.Logger(nil)
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(c.Broker), ClientID: c.Name}, log, publisher.NewMetrics(nil))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	p, err := newProducer(c, src, pub)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("ready")
	_ = p.run(context.Background())
	return 0
}

// producer is an Assigner and its Manager, as one box runs them.
type producer struct {
	as *Assigner
	mg *Manager
}

func newProducer(c childConfig, src accounts.CredentialSource, pub *publisher.Publisher) (*producer, error) {
	log := testkit.Logger(nil)
	mg, err := New(Config{
		RESTBase: c.RESTBase, WSBase: "ws" + strings.TrimPrefix(c.RESTBase, "http"),
		IdleTimeout: 2 * time.Second,
		Backoff:     backoff.Policy{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond},
	}, nil, pub, nil, log)
	if err != nil {
		return nil, err
	}
	as, err := NewAssigner(AssignConfig{Kafka: kclient.ForBrokers(c.Broker), Prefix: prefix, Source: src,
		Grace: c.Grace, SessionTimeout: c.Session, Retry: 200 * time.Millisecond, ClientID: c.Name, Log: log}, mg)
	if err != nil {
		return nil, err
	}
	return &producer{as: as, mg: mg}, nil
}

func (p *producer) run(ctx context.Context) error { return RunAssigned(ctx, p.as, p.mg) }

func (p *producer) connected() map[string]bool {
	out := map[string]bool{}
	for _, s := range p.mg.Status() {
		if s.Connected {
			out[s.ID] = true
		}
	}
	return out
}

// assignRig is a simulator, a broker with the accounts on kraite.accounts,
// and a trading loop; producers are added by the tests.
type assignRig struct {
	*rig
	store *accounts.Store // the accounts table on MariaDB, publishing to kraite.accounts
	admin *kgo.Client
	cfg   childConfig
}

func newAssignRig(t *testing.T, n int, session, grace time.Duration) *assignRig {
	t.Helper()
	sim, err := simulator.New(simulator.Config{
		Seed: 11, Accounts: n, OrderInterval: -1, MarkPriceInterval: time.Hour, PingInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	b := testkit.Broker(t, prefix)
	log := testkit.Logger(t)
	pub, err := publisher.New(publisher.Config{Kafka: kclient.ForBrokers(b.Addr())}, log, publisher.NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	keyText, err := accounts.NewKeyText()
	if err != nil {
		t.Fatal(err)
	}
	d := dbtest.MySQL(t)
	r := &assignRig{
		rig:   &rig{t: t, sim: sim, broker: b, pub: pub, reader: testkit.NewReader(t, b.Addr(), topics.UserDataStream.Name(prefix)), restURL: srv.URL},
		admin: admin,
		cfg:   childConfig{Broker: b.Addr(), RESTBase: srv.URL, DBURL: dbtest.URL(d), Key: keyText, Session: session, Grace: grace},
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = sim.Run(ctx) }()
	go func() { defer wg.Done(); r.tradeSlowly(ctx) }()
	r.trading.Store(true)
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer fcancel()
		_ = pub.Close(fctx)
	})
	// The accounts table is the source: seeding it publishes every account.
	key, err := accounts.ParseKey(keyText)
	if err != nil {
		t.Fatal(err)
	}
	var accts []accounts.Account
	for _, a := range sim.Accounts() {
		accts = append(accts, accounts.Account{ID: a.ID, Exchange: "binance", APIKey: a.APIKey, APISecret: a.APISecret, Enabled: true})
	}
	kp := accounts.KafkaPublisher{Client: admin, Topic: topics.Accounts.Name(prefix)}
	if _, err := accounts.Seed(context.Background(), d, key, kp, log, "test", accts); err != nil {
		t.Fatal(err)
	}
	if r.store, err = accounts.Open(context.Background(), accounts.Config{DB: d, Key: key, Publisher: kp, Log: log}); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *assignRig) produce(rec *kgo.Record) {
	r.t.Helper()
	rec.Topic = topics.Accounts.Name(prefix)
	if err := r.admin.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		r.t.Fatal(err)
	}
}

// start runs an in-process producer until the test ends (or stop).
func (r *assignRig) start(name string) (*producer, func()) {
	r.t.Helper()
	c := r.cfg
	c.Name = name
	p, err := newProducer(c, r.store, r.pub)
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = p.run(ctx) }()
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	r.t.Cleanup(stop)
	return p, stop
}

// startChild runs a producer in a child process (this test binary).
func (r *assignRig) startChild(name string) *exec.Cmd {
	r.t.Helper()
	c := r.cfg
	c.Name = name
	v, _ := json.Marshal(c)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+string(v))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// gapsAfter counts the gap markers of each account published at or after t.
func gapsAfter(st stored, t time.Time) map[string]int {
	out := map[string]int{}
	for acct, gs := range st.gaps {
		for _, g := range gs {
			if g.ToMs >= t.UnixMilli() {
				out[acct]++
			}
		}
	}
	return out
}

func accountIDs(r *assignRig) []string { return ids(r.sim) }

// tradeSlowly steps every account every 100ms while trading (the rig's
// 10ms is too much for a hundred accounts on a shared machine).
func (r *assignRig) tradeSlowly(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
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

// missingSince lists, per account, the frames pushed to a socket at or
// after t that are not in the topic.
func (r *assignRig) missingSince(st stored, t time.Time) map[string]int {
	out := map[string]int{}
	for _, id := range ids(r.sim) {
		// A frame pushed to two sockets (a hand-over's overlap) counts as
		// stored when one copy is.
		have := map[string]bool{}
		for _, f := range st.frames[id] {
			have[string(f)] = true
		}
		for _, p := range r.sim.PushedFrames(id) {
			if !have[string(p.Data)] && !p.At.Before(t) {
				out[id]++
			}
		}
	}
	return out
}

// settleSince stops trading and waits until every frame pushed since t is
// in the topic.
func (r *assignRig) settleSince(t time.Time) stored {
	r.t.Helper()
	r.trading.Store(false)
	var st stored
	testkit.Eventually(r.t, 30*time.Second, "every frame pushed since "+t.Format(time.TimeOnly)+" in the topic", func() bool {
		st = r.stored()
		return len(r.missingSince(st, t)) == 0
	})
	return st
}

func TestAssignerStreamsOwnedAccountsAndFollowsChanges(t *testing.T) {
	r := newAssignRig(t, 6, 6*time.Second, 2*time.Second)
	all := accountIDs(r)
	// A bad record and an account unknown to the credential source: the
	// first is quarantined, the second stays closed with a reason, and
	// neither disturbs the others.
	r.produce(&kgo.Record{Key: []byte(all[0]), Value: []byte(`{"id":"` + all[1] + `","exchange":"binance","enabled":false,"version":99}`)})
	r.produce(&kgo.Record{Key: []byte("acct-ghost"), Value: []byte(`{"id":"acct-ghost","exchange":"binance","enabled":true,"version":1,"changed_at":1}`)})
	r.produce(&kgo.Record{Key: []byte("acct-other"), Value: []byte(`{"id":"acct-other","exchange":"bybit","enabled":true,"version":1,"changed_at":1}`)})
	r.produce(&kgo.Record{Key: []byte(strings.Repeat("x", 300)), Value: []byte(`garbage`)})

	p, _ := r.start("a")
	testkit.Eventually(t, time.Minute, "every account streaming", func() bool { return len(p.connected()) == len(all) })
	st := p.as.Status()
	if len(st.Partitions) != int(topics.Accounts.Partitions) || st.CaughtUp != len(st.Partitions) {
		t.Fatalf("status %s: want all %d partitions caught up", st, topics.Accounts.Partitions)
	}
	if !strings.Contains(st.Problems["acct-ghost"], "not in the accounts table") || len(st.Problems) != 1 {
		t.Fatalf("problems %v: want only acct-ghost, not in the table", st.Problems)
	}
	for _, s := range p.mg.Status() {
		if s.ID == "acct-other" {
			t.Fatal("an account of another exchange is streamed")
		}
	}
	// The two bad records are in quarantine, once each.
	q := testkit.NewReader(t, r.broker.Addr(), topics.Quarantine.Name(prefix))
	testkit.Eventually(t, 10*time.Second, "two quarantine records", func() bool { return len(q.Poll(t)) >= 2 })
	for _, rec := range q.Poll(t) {
		var qr topics.QuarantineRecord
		if err := json.Unmarshal(rec.Value, &qr); err != nil || qr.SourceTopic != topics.Accounts.Name(prefix) || qr.Error == "" {
			t.Fatalf("quarantine record %s: %v", rec.Value, err)
		}
	}
	if n := len(q.Poll(t)); n != 2 {
		t.Fatalf("%d quarantine records, want 2", n)
	}

	// Disable one account in the table (which publishes the change): its
	// socket closes within seconds, the others
	// keep theirs (same connection: no new gap marker).
	victim := all[2]
	t0 := time.Now()
	if _, err := r.store.SetEnabled(context.Background(), "test", victim, false); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the disabled account closed", func() bool {
		for _, s := range p.mg.Status() {
			if s.ID == victim && s.Closed == "" { // listed as closed (disabled), not running
				return false
			}
		}
		return true
	})
	t.Logf("disable -> socket closed: %s", time.Since(t0).Round(time.Millisecond))
	if n := len(p.connected()); n != len(all)-1 {
		t.Fatalf("%d accounts connected after disabling one of %d", n, len(all))
	}
	// Enable it again: it opens.
	t1 := time.Now()
	if _, err := r.store.SetEnabled(context.Background(), "test", victim, true); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the enabled account streaming", func() bool { return p.connected()[victim] })
	t.Logf("enable -> socket streaming: %s", time.Since(t1).Round(time.Millisecond))
	// A rotated secret (new version) reconnects that account only.
	if err := r.store.RotateSecret(context.Background(), "test", all[3], r.sim.Accounts()[3].APIKey, r.sim.Accounts()[3].APISecret); err != nil {
		t.Fatal(err)
	}
	// Removing an account (tombstone) closes it.
	if err := r.store.Remove(context.Background(), "test", all[4]); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the removed account closed", func() bool {
		c := p.connected()
		return !c[all[4]] && len(c) == len(all)-1
	})
	r.settle(all)
	// The re-opened accounts (enabled again, new secret) have one new
	// (start-up) gap marker each; the others none: they kept their socket.
	wantGaps := func(a string) int {
		if a == victim || a == all[3] {
			return 1
		}
		return 0
	}
	testkit.Eventually(t, 10*time.Second, "one new gap marker for each re-opened account, none for the others", func() error {
		newGaps := gapsAfter(r.stored(), t0)
		for _, a := range all {
			if a != all[4] && newGaps[a] != wantGaps(a) {
				return fmt.Errorf("account %s: %d new gap markers, want %d", a, newGaps[a], wantGaps(a))
			}
		}
		return nil
	})
}

// TestAssignerScaleOutAndFailover adds a third producer process to two
// (it takes about a third of the accounts with no gap marker at all:
// make-before-break), then kills -9 one of them: the survivors stream its
// accounts again within the session timeout plus reconnect time, each with
// a start-up gap marker (which the gap watcher turns into a backfill).
func TestAssignerScaleOutAndFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("starts producer processes")
	}
	const n = 100
	session, grace := 6*time.Second, 5*time.Second
	r := newAssignRig(t, n, session, grace)
	all := accountIDs(r)

	a, _ := r.start("a")
	b := r.startChild("b")
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last state: %s", last)
		}
	})
	testkit.Eventually(t, 3*time.Minute, "every account streaming on a or b", func() bool {
		c, g, st := len(a.connected()), len(r.stored().gaps), a.as.Status()
		last = fmt.Sprintf("a connected %d, accounts with a gap marker %d, a: %s", c, g, st)
		// Both members hold about half the partitions and a holds about
		// half the accounts: under load b may join late or a may briefly
		// hold everything, and the scale-out below measures from here.
		parts := len(st.Partitions)
		return g == n && c > n/4 && c < 3*n/4 && st.Releasing == 0 &&
			parts > int(topics.Accounts.Partitions)/4 && parts < 3*int(topics.Accounts.Partitions)/4 &&
			st.Accounts == c
	})
	t0 := time.Now()
	testkit.Eventually(t, time.Minute, "every account streaming", func() bool { return len(r.streamingSince(t0)) == n })

	// Scale out: a third producer takes about a third, make-before-break.
	onA := len(a.connected())
	join := time.Now()
	r.startChild("c")
	testkit.Eventually(t, 2*time.Minute, "the newcomer holding its share", func() bool {
		st := a.as.Status()
		return len(st.Partitions) <= int(topics.Accounts.Partitions)/3+1 && st.Releasing == 0
	})
	t1 := time.Now()
	testkit.Eventually(t, time.Minute, "every account streaming", func() bool { return len(r.streamingSince(t1)) == n })
	t.Logf("third producer: a went from %d to %d accounts (%d of %d partitions)", onA, len(a.connected()),
		len(a.as.Status().Partitions), topics.Accounts.Partitions)
	if moved := onA - len(a.connected()); moved < onA/6 || moved > onA/2 {
		t.Errorf("%d of a's %d accounts moved to the third producer, want about a third", moved, onA)
	}
	if g := gapsAfter(r.stored(), join); len(g) != 0 {
		t.Errorf("gap markers after the third producer joined: %v (want none: make-before-break)", g)
	}

	// Failover: kill -9 b.
	keptA := a.connected()
	kill := time.Now()
	if err := b.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, session+60*time.Second, "every account streaming again", func() bool {
		return len(r.streamingSince(kill.Add(session))) == n
	})
	var (
		gaps map[string]int
		st   stored
	)
	testkit.Eventually(t, 10*time.Second, "the gap markers of the moved accounts", func() bool {
		return len(gapsAfter(r.stored(), kill)) > 0
	})
	time.Sleep(2 * time.Second) // the last ones reach the topic
	st = r.stored()
	gaps = gapsAfter(st, kill)
	var ds []time.Duration
	for id, gs := range st.gaps {
		if keptA[id] && gaps[id] > 0 {
			t.Errorf("account %s stayed on a but has %d gap markers after the kill", id, gaps[id])
		}
		if gaps[id] > 1 {
			t.Errorf("account %s: %d gap markers after the kill, want 1", id, gaps[id])
		}
		for _, g := range gs {
			if g.ToMs >= kill.UnixMilli() {
				ds = append(ds, time.UnixMilli(g.ToMs).Sub(kill))
			}
		}
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	t.Logf("kill -9 of b: %d accounts streaming again after p0 %s p50 %s p90 %s max %s (session timeout %s)",
		len(ds), ds[0].Round(time.Millisecond), ds[len(ds)/2].Round(time.Millisecond), ds[len(ds)*9/10].Round(time.Millisecond), ds[len(ds)-1].Round(time.Millisecond), session)
	if len(ds) < n/6 || len(ds) > n/2 {
		t.Errorf("%d accounts moved after the kill, want about a third of %d", len(ds), n)
	}
	if ds[len(ds)-1] > session+15*time.Second {
		t.Errorf("slowest account back after %s, want within the session timeout %s plus reconnect", ds[len(ds)-1], session)
	}
	// Every frame pushed since then is in the topic.
	st = r.settleSince(kill.Add(ds[len(ds)-1]))
	// Since the third producer joined, no frame of an account that did not
	// fail over is missing: the hand-over lost nothing.
	for id, miss := range r.missingSince(st, join) {
		if gapsAfter(st, kill)[id] == 0 {
			t.Errorf("account %s: %d frames pushed since the third producer joined are not in the topic", id, miss)
		}
	}
	_ = all
}

// streamingSince lists the accounts with a frame produced after t.
func (r *assignRig) streamingSince(t time.Time) map[string]bool {
	out := map[string]bool{}
	for _, rec := range r.reader.Poll(r.t) {
		if topics.Header(rec, topics.HeaderKind) == topics.KindFrame && !rec.Timestamp.Before(t) {
			out[string(rec.Key)] = true
		}
	}
	return out
}

func TestParseReleaseRefusesImplausiblePromises(t *testing.T) {
	now := time.UnixMilli(1_800_000_000_000)
	ms := now.UnixMilli()
	for _, tc := range []struct {
		meta string
		ok   bool
	}{
		{fmt.Sprintf(`{"by":"a","released":%d,"until":%d}`, ms-1000, ms+14000), true},
		{"", false},
		{"garbage", false},
		{`{"released":0,"until":99999999999999}`, false},
		{fmt.Sprintf(`{"released":%d,"until":%d}`, ms-20000, ms-1), false},                   // ended
		{fmt.Sprintf(`{"released":%d,"until":%d}`, ms-1000, ms+int64(time.Hour/1e6)), false}, // an hour
		{fmt.Sprintf(`{"released":%d,"until":%d}`, ms+1000, ms+500), false},                  // backwards
		{fmt.Sprintf(`{"released":%d,"until":%d}`, ms+int64(time.Hour/1e6), ms+int64(time.Hour/1e6)+1000), false},
		{`{"released":1e400,"until":5}`, false},
		{strings.Repeat(" ", 2000) + `{}`, false},
	} {
		h, ok := parseRelease(tc.meta, now)
		if ok != tc.ok {
			t.Errorf("%.60q: ok %v, want %v (%+v)", tc.meta, ok, tc.ok, h)
		}
	}
}

func FuzzParseRelease(f *testing.F) {
	now := time.UnixMilli(1_800_000_000_000)
	f.Add(fmt.Sprintf(`{"by":"kraite-userdata-athena","released":%d,"until":%d}`, now.UnixMilli()-10, now.UnixMilli()+15000))
	f.Add(`{"by":"","released":-1,"until":9223372036854775807}`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, meta string) {
		h, ok := parseRelease(meta, now)
		if !ok {
			return
		}
		if !h.Until.After(now) || h.Released.After(h.Until) || h.Until.Sub(h.Released) > MaxHandOverGrace || h.Released.After(now.Add(MaxHandOverGrace)) {
			t.Fatalf("accepted an implausible promise %q: %+v", meta, h)
		}
	})
}

// TestAssignerRefusesAVersionAheadOfTheTable: a kraite.accounts record
// whose version the accounts table does not have streams nothing. A forged
// record with a huge version closes its account (fail closed) and does not
// pin it: the next legitimate records (a disable, then an enable) are
// followed within seconds. A record ahead of the table because the
// table's commit is not yet visible streams once the table has it, with
// no further record.
func TestAssignerRefusesAVersionAheadOfTheTable(t *testing.T) {
	r := newAssignRig(t, 3, 6*time.Second, time.Second)
	all := accountIDs(r)
	p, _ := r.start("a")
	testkit.Eventually(t, time.Minute, "every account streaming", func() bool { return len(p.connected()) == len(all) })
	closed := func(id string) bool {
		for _, s := range p.mg.Status() {
			if s.ID == id && s.Connected {
				return false
			}
		}
		return true
	}
	forge := func(id string, version int64) {
		r.produce(&kgo.Record{Key: []byte(id), Value: []byte(fmt.Sprintf(`{"id":%q,"exchange":"binance","enabled":true,"version":%d,"changed_at":1}`, id, version))})
	}

	// A forged record with a huge version: the account closes, its problem
	// says why.
	victim := all[0]
	forge(victim, 1<<62)
	t0 := time.Now()
	testkit.Eventually(t, 10*time.Second, "the forged account closed with a version-ahead problem", func() bool {
		return closed(victim) && strings.Contains(p.as.Status().Problems[victim], "ahead of the accounts table")
	})
	t.Logf("forged version -> closed: %s", time.Since(t0).Round(time.Millisecond))
	if n := len(p.connected()); n != len(all)-1 {
		t.Fatalf("%d accounts connected, want %d: a forged record of one account disturbed the others", n, len(all)-1)
	}
	// The legitimate disable is not hidden by the forged version: the
	// account is disabled (no problem left, still closed) ...
	if _, err := r.store.SetEnabled(context.Background(), "test", victim, false); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the disable followed", func() bool {
		_, problem := p.as.Status().Problems[victim]
		return !problem && closed(victim)
	})
	// The status says why it is closed (the status page shows it).
	testkit.Eventually(t, 10*time.Second, "the disabled account listed as closed", func() bool {
		for _, s := range p.mg.Status() {
			if s.ID == victim {
				return strings.HasPrefix(s.Closed, "disabled (kraite.accounts version") && s.Problem == "" && !s.Connected
			}
		}
		return false
	})
	// ... and enabling it opens it again within seconds.
	t1 := time.Now()
	if _, err := r.store.SetEnabled(context.Background(), "test", victim, true); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "the enabled account streaming again", func() bool { return p.connected()[victim] })
	t.Logf("enable after a forged version -> streaming: %s", time.Since(t1).Round(time.Millisecond))
	// A forged record re-sent after the enable closes it again: every
	// record is checked against the table, not only the first.
	forge(victim, 1<<62)
	testkit.Eventually(t, 10*time.Second, "the re-forged account closed", func() bool { return closed(victim) })
	if _, err := r.store.Republish(context.Background()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 10*time.Second, "kraite accounts publish --all reopens it", func() bool { return p.connected()[victim] })

	// A record one version ahead whose commit is not yet visible: closed
	// until the table has that version, then streaming without any new
	// record (read again shortly, not stuck).
	late := all[1]
	infos, err := r.store.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var v int64
	for _, i := range infos {
		if i.ID == late {
			v = i.Version
		}
	}
	forge(late, v+1)
	testkit.Eventually(t, 10*time.Second, "the account ahead of the table closed", func() bool {
		return closed(late) && strings.Contains(p.as.Status().Problems[late], "ahead of the accounts table")
	})
	time.Sleep(2 * time.Second) // a few re-reads while the table is behind
	if !closed(late) {
		t.Fatal("an account whose record is ahead of the table streams")
	}
	d, err := db.Open(context.Background(), r.cfg.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	// The commit becomes visible (what the Store's transaction writes).
	if _, err := d.ExecContext(context.Background(), "UPDATE accounts SET version = ? WHERE account = ?", v+1, late); err != nil {
		t.Fatal(err)
	}
	t2 := time.Now()
	testkit.Eventually(t, 15*time.Second, "the account streaming once the table caught up", func() bool { return p.connected()[late] })
	t.Logf("table caught up -> streaming: %s", time.Since(t2).Round(time.Millisecond))
	if _, problem := p.as.Status().Problems[late]; problem {
		t.Fatalf("problem left after the table caught up: %v", p.as.Status().Problems)
	}
}
