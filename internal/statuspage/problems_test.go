package statuspage

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/topics"
)

// quarRecord is a quarantine record as a reader writes it, quarantined at at.
func quarRecord(t *testing.T, q topics.QuarantineRecord, offset int64, at time.Time) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(q)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: "t.quarantine", Key: []byte(q.Key), Value: b, Offset: offset, Timestamp: at}
}

func problemsOf(s *state, snap Snapshot, now time.Time) []Problem {
	snap.ControlAlerts = s.controlAlerts(nil, now)
	return s.problems(&snap, now, 10*time.Minute)
}

func findProblem(ps []Problem, kind, subject string) (Problem, bool) {
	for _, p := range ps {
		if p.Kind == kind && p.Subject == subject {
			return p, true
		}
	}
	return Problem{}, false
}

// TestARefusedOverrideKeepsTheBlockAndIsAProblemUntilAGoodRecord: a
// garbage override record after a block neither removes the block from
// the page (it did: the gate kept it, the page showed it gone) nor goes
// unseen: it is a problem, merged with the gate's quarantine record of the
// same record, until a good override follows.
func TestARefusedOverrideKeepsTheBlockAndIsAProblemUntilAGoodRecord(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.Now()
	block, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "block", Reason: "maintenance",
		CreatedMs: now.UnixMilli(), UntilMs: now.Add(time.Hour).UnixMilli()})
	s.applyRecord(&kgo.Record{Topic: s.n.overrides, Key: []byte(regimestate.OverrideScope), Value: block, Offset: 0}, now)
	s.applyRecord(&kgo.Record{Topic: s.n.overrides, Key: []byte(regimestate.OverrideScope), Value: []byte("{garbage"), Offset: 1}, now)
	if s.override == nil || s.override.Action != "block" {
		t.Fatalf("a garbage override removed the block from the page: %+v", s.override)
	}
	// The gate's quarantine record of the same record.
	s.addQuarantine(quarRecord(t, topics.QuarantineRecord{SourceTopic: s.n.overrides, SourcePartition: 0, SourceOffset: 1,
		Key: regimestate.OverrideScope, Consumer: "t.gate", Value: "{garbage",
		Error: "control record refused (last good value kept): decoding override: unexpected end of JSON input"}, 5, now), now)
	as := s.controlAlerts(nil, now)
	if len(as) != 1 || strings.Join(as[0].Consumers, ",") != "t.gate" || strings.Join(as[0].Sources, ",") != "page,quarantine" ||
		!as[0].KeptLastGood || as[0].Offset != 1 {
		t.Fatalf("alerts: %+v", as)
	}
	ps := problemsOf(s, Snapshot{}, now)
	p, ok := findProblem(ps, KindControlRefused, s.n.overrides+" "+regimestate.OverrideScope)
	if !ok || p.Severity != SeverityWarn || !strings.Contains(p.Reason, "last good value kept") || !strings.Contains(p.Reason, "t.gate") {
		t.Fatalf("problems: %+v", ps)
	}
	// A good record after it ends the alert.
	clear, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "clear", CreatedMs: now.UnixMilli(), UntilMs: now.UnixMilli()})
	s.applyRecord(&kgo.Record{Topic: s.n.overrides, Key: []byte(regimestate.OverrideScope), Value: clear, Offset: 2}, now)
	if as := s.controlAlerts(nil, now); len(as) != 0 {
		t.Fatalf("alerts after a good record: %+v", as)
	}
	// A quarantine record of the old garbage arriving late does not bring it back.
	s.addQuarantine(quarRecord(t, topics.QuarantineRecord{SourceTopic: s.n.overrides, SourceOffset: 1, Key: regimestate.OverrideScope,
		Consumer: "t.regime", Error: "control record refused (last good value kept): x"}, 6, now), now)
	if as := s.controlAlerts(nil, now); len(as) != 0 {
		t.Fatalf("a late quarantine record of a superseded record: %+v", as)
	}
}

// TestAGarbageAllowlistWithNoGoodValueIsShadowModeAndBad: the only record
// of an exchange is garbage, so dispatch is in shadow mode (not the
// default list): the page says so, and the problem is bad; the process's
// own alert (Config.ControlAlerts) merges with the page's.
func TestAGarbageAllowlistWithNoGoodValueIsShadowModeAndBad(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.Now()
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: []byte(`{"exchange":"binance","types":["EVERYTHING"]}`),
		Partition: 2, Offset: 7}, now)
	al := s.allowlistView(map[string][]string{"binance": {"TRADE"}})
	if len(al.Exchanges) != 1 || al.Exchanges[0].Source != "unreadable" || !al.Exchanges[0].Shadow {
		t.Fatalf("allowlist with only garbage: %+v", al.Exchanges)
	}
	local := []ControlAlert{{Topic: s.n.allowlist, Key: "binance", Partition: 2, Offset: 7, Consumers: []string{"t.dispatch"},
		Error: "allowlist type \"EVERYTHING\" is not a known execution type", AtMs: now.UnixMilli()}}
	as := s.controlAlerts(local, now)
	if len(as) != 1 || as[0].KeptLastGood || strings.Join(as[0].Sources, ",") != "page,process" || as[0].Consumers[0] != "t.dispatch" {
		t.Fatalf("merged alerts: %+v", as)
	}
	snap := Snapshot{ControlAlerts: as}
	ps := s.problems(&snap, now, 10*time.Minute)
	if len(ps) != 1 || ps[0].Severity != SeverityBad || !strings.Contains(ps[0].Reason, "dispatch in shadow mode for binance") {
		t.Fatalf("problems: %+v", ps)
	}
	// A good list ends it.
	good, _ := json.Marshal(topics.AllowlistValue{Exchange: "binance", Types: []string{"TRADE"}})
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: good, Partition: 2, Offset: 8}, now)
	if al := s.allowlistView(nil); al.Exchanges[0].Source != "topic" || al.Exchanges[0].Shadow {
		t.Fatalf("after a good list: %+v", al.Exchanges)
	}
	if as := s.controlAlerts(nil, now); len(as) != 0 {
		t.Fatalf("alerts after a good list: %+v", as)
	}
}

// TestAFloodOfGarbageControlKeysStaysOneBoundedAlert: records for keys no
// reader looks up gather under one alert, and quarantine records for
// countless distinct control keys keep at most maxAlerts.
func TestAFloodOfGarbageControlKeysStaysOneBoundedAlert(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.Now()
	for i := range 2000 {
		s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte(fmt.Sprint("nosuch-", i)), Value: []byte("x"), Offset: int64(i)}, now)
	}
	as := s.controlAlerts(nil, now)
	if len(as) != 1 || as[0].Key != UnknownKeys || !as[0].KeptLastGood || as[0].Offset != 1999 {
		t.Fatalf("unknown keys: %+v", as)
	}
	if len(s.allow) != 0 || len(s.unreadable) != 0 || len(s.good) != 0 {
		t.Fatalf("garbage keys grew the state: %d %d %d", len(s.allow), len(s.unreadable), len(s.good))
	}
	for i := range 2000 {
		s.addQuarantine(quarRecord(t, topics.QuarantineRecord{SourceTopic: s.n.table, SourceOffset: int64(i), Key: fmt.Sprint("k", i),
			Consumer: "t.gate", Error: "control record refused (no good value: readers fail closed): decoding"}, int64(i), now), now)
	}
	if n := len(s.alerts); n > maxAlerts {
		t.Fatalf("%d alerts kept, at most %d", n, maxAlerts)
	}
	// Past the lookback an unknown-keys alert is over; a refused record of
	// a real key stays until a good record follows.
	s2 := newState("t.", time.Hour, 20)
	s2.applyRecord(&kgo.Record{Topic: s2.n.allowlist, Key: []byte("nosuch"), Value: []byte("x")}, now)
	s2.applyRecord(&kgo.Record{Topic: s2.n.allowlist, Key: []byte("binance"), Value: []byte("x"), Offset: 1}, now)
	if as := s2.controlAlerts(nil, now.Add(lookback+time.Minute)); len(as) != 1 || as[0].Key != "binance" {
		t.Fatalf("after the lookback: %+v", as)
	}
}

// TestQuarantineGrowthIsCountedByConsumerInTheWindow.
func TestQuarantineGrowthIsCountedByConsumerInTheWindow(t *testing.T) {
	s := newState("t.", time.Hour, 3)
	now := time.UnixMilli(1_800_000_000_000)
	rec := func(consumer, why string, at time.Time, off int64) {
		s.addQuarantine(quarRecord(t, topics.QuarantineRecord{Consumer: consumer, Error: why, SourceTopic: "t.orders"}, off, at), now)
	}
	rec("t.sink.orders", "old", now.Add(-30*time.Minute), 0)
	for i := range 7 {
		rec("t.sink.orders", fmt.Sprint("bad order ", i), now.Add(-time.Duration(7-i)*time.Minute), int64(1+i))
	}
	rec("t.dispatch", "future", now.Add(24*time.Hour), 9) // a forged time counts as now
	ps := problemsOf(s, Snapshot{}, now)
	p, ok := findProblem(ps, KindQuarantineGrowth, "t.sink.orders")
	if !ok || !strings.HasPrefix(p.Reason, "7 records quarantined in the last 10m0s; newest: bad order 6") ||
		p.SinceMs != now.Add(-7*time.Minute).UnixMilli() {
		t.Fatalf("orders growth: %+v in %+v", p, ps)
	}
	if p, ok := findProblem(ps, KindQuarantineGrowth, "t.dispatch"); !ok || p.SinceMs != now.UnixMilli() {
		t.Fatalf("a future-dated quarantine record: %+v", ps)
	}
	// Twenty minutes later nothing is recent.
	later := now.Add(20 * time.Minute)
	s.trimGrowth(later.UnixMilli())
	if ps := problemsOf(s, Snapshot{}, later); len(ps) != 0 {
		t.Fatalf("growth outside the window: %+v", ps)
	}
	// Consumers are bounded.
	for i := range 500 {
		rec(fmt.Sprint("c", i), "x", now, int64(100+i))
	}
	if n := len(s.growth); n > maxConsumers+1 {
		t.Fatalf("%d consumers tracked", n)
	}
	if _, ok := s.growth[otherConsumers]; !ok {
		t.Fatal("no (other consumers) bucket")
	}
}

// TestAGroupWhoseCommitDoesNotMoveWithRecordsWaitingIsStalled: lag > 0 and
// the same committed offset for StallAfter is a stall; a group that
// commits, or has nothing waiting, is not.
func TestAGroupWhoseCommitDoesNotMoveWithRecordsWaitingIsStalled(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	t0 := time.UnixMilli(1_800_000_000_000)
	lag := func(committedPos, committedIdle, end int64) []groupadmin.GroupStatus {
		return []groupadmin.GroupStatus{
			{Group: "t.worker.positions", State: "Stable", Members: []groupadmin.Member{{}}, Partitions: []groupadmin.PartitionStatus{
				{Topic: "t.positions", Partition: 3, Committed: committedPos, End: end, Lag: end - committedPos},
				{Topic: "t.positions", Partition: 4, Committed: committedIdle, End: committedIdle, Lag: 0}}},
			{Group: "t.sink.orders", State: "Stable", Partitions: []groupadmin.PartitionStatus{
				{Topic: "t.orders", Partition: 0, Committed: end, End: end + 5, Lag: 5}}},
		}
	}
	for i := int64(0); i <= 8; i++ { // every 20 s for 160 s; orders commits as it goes
		now := t0.Add(time.Duration(i) * 20 * time.Second)
		s.setLag(lag(100, 50, 313+i), now)
		s.lag[1].Partitions[0].Committed = 1000 + i
	}
	now := t0.Add(160 * time.Second)
	view := s.lagView("t.", now)
	var pos, orders LagRow
	for _, r := range view.Rows {
		switch r.Group {
		case "t.worker.positions":
			pos = r
		case "t.sink.orders":
			orders = r
		}
	}
	if pos.Stalled != 1 || pos.Partitions[0].StalledSinceMs != t0.UnixMilli() || pos.Partitions[1].StalledSinceMs != 0 {
		t.Fatalf("positions: %+v", pos)
	}
	if orders.Stalled != 0 {
		t.Fatalf("a committing group is stalled: %+v", orders)
	}
	ps := s.problems(&Snapshot{Lag: view}, now, 10*time.Minute)
	p, ok := findProblem(ps, KindGroupStalled, "t.worker.positions on t.positions")
	if !ok || p.Severity != SeverityBad || p.Reason != "1 of 2 partitions hold 221 records with no commit for 2m40s (state Stable, 1 members); the oldest waiting record is at least 2m40s old" {
		t.Fatalf("problems: %+v", ps)
	}
	// Within StallAfter of a commit: not stalled.
	s.setLag(lag(101, 50, 330), now)
	if v := s.lagView("t.", now.Add(time.Minute)); v.Rows[0].Stalled+v.Rows[1].Stalled != 0 {
		t.Fatalf("stalled a minute after a commit: %+v", v.Rows)
	}
}

// TestAnIdlePartitionIsNotStalledWhenARecordArrives: a partition caught
// up for longer than StallAfter whose first new record lands is not
// stalled until its commit has not moved for StallAfter with it waiting.
func TestAnIdlePartitionIsNotStalledWhenARecordArrives(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	t0 := time.UnixMilli(1_800_000_000_000)
	lag := func(end int64) []groupadmin.GroupStatus {
		return []groupadmin.GroupStatus{{Group: "t.worker.positions", State: "Stable", Members: []groupadmin.Member{{}},
			Partitions: []groupadmin.PartitionStatus{{Topic: "t.positions", Partition: 0, Committed: 50, End: end, Lag: end - 50}}}}
	}
	for i := int64(0); i <= 30; i++ { // idle for 10 min
		s.setLag(lag(50), t0.Add(time.Duration(i)*20*time.Second))
	}
	now := t0.Add(620 * time.Second)
	s.setLag(lag(51), now)
	if v := s.lagView("t.", now); v.Rows[0].Stalled != 0 {
		t.Fatalf("stalled as its first record after a quiet spell landed: %+v", v.Rows)
	}
	later := now.Add(3 * time.Minute)
	s.setLag(lag(51), later)
	if v := s.lagView("t.", later); v.Rows[0].Stalled != 1 || v.Rows[0].Partitions[0].StalledSinceMs != t0.Add(600*time.Second).UnixMilli() {
		t.Fatalf("not stalled with a record waiting 3 min: %+v", v.Rows)
	}
}

// TestDisconnectedAccountsAreProblemsSinceTheyWentDown, named one by one
// up to maxListed, then gathered.
func TestDisconnectedAccountsAreProblemsSinceTheyWentDown(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	t0 := time.UnixMilli(1_800_000_000_000)
	accts := func(down int) Streams {
		st := Streams{Section: Section{Available: true}}
		for i := range 10 {
			st.Accounts = append(st.Accounts, StreamAccount{ID: fmt.Sprintf("acct-%02d", i), Connected: i >= down})
		}
		st.Total = len(st.Accounts)
		return st
	}
	s.noteStreams(accts(1), t0)
	s.noteStreams(accts(2), t0.Add(time.Minute))
	snap := Snapshot{Streams: accts(2)}
	ps := s.problems(&snap, t0.Add(time.Minute), 10*time.Minute)
	if len(ps) != 2 || ps[0].Subject != "account acct-00" || ps[0].SinceMs != t0.UnixMilli() ||
		ps[1].SinceMs != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("problems: %+v", ps)
	}
	s.noteStreams(accts(8), t0.Add(2*time.Minute))
	snap = Snapshot{Streams: accts(8)}
	ps = s.problems(&snap, t0.Add(2*time.Minute), 10*time.Minute)
	if len(ps) != 1 || ps[0].Subject != "8 of 10 accounts" || ps[0].SinceMs != t0.UnixMilli() || !strings.HasSuffix(ps[0].Reason, "and 3 more") {
		t.Fatalf("gathered: %+v", ps)
	}
	s.noteStreams(accts(0), t0.Add(3*time.Minute))
	if ps := s.problems(&Snapshot{Streams: accts(0)}, t0, 10*time.Minute); len(ps) != 0 || len(s.down) != 0 {
		t.Fatalf("all connected: %+v", ps)
	}
}

// TestTheStreamsSayWhyAnAccountIsNotStreamed: the assigner's reasons reach
// the page. An account that should stream but cannot (not in the table, a
// version ahead of it) is a problem naming the reason; a disabled one is
// listed as closed with its reason, counted neither in the total nor as
// down. A huge reason is clipped.
func TestTheStreamsSayWhyAnAccountIsNotStreamed(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.UnixMilli(1_800_000_000_000)
	huge := strings.Repeat("é", 1000)
	src := &StreamSource{Accounts: func() []Account {
		return []Account{
			{ID: "acct-a", Connected: true},
			{ID: "acct-ghost", Problem: "account acct-ghost is on the accounts topic but not in the accounts table"},
			{ID: "acct-off", Closed: "disabled (kraite.accounts version 3)"},
			{ID: "acct-huge", Problem: huge},
		}
	}}
	st := buildStreams(src, now)
	if st.Total != 3 || st.Connected != 1 {
		t.Fatalf("total %d connected %d, want 3 and 1 (the disabled account is not counted)", st.Total, st.Connected)
	}
	by := map[string]StreamAccount{}
	for _, a := range st.Accounts {
		by[a.ID] = a
	}
	if by["acct-off"].Closed != "disabled (kraite.accounts version 3)" || by["acct-off"].Problem != "" {
		t.Fatalf("disabled account: %+v", by["acct-off"])
	}
	if !strings.Contains(by["acct-ghost"].Problem, "not in the accounts table") {
		t.Fatalf("ghost account: %+v", by["acct-ghost"])
	}
	if p := by["acct-huge"].Problem; len(p) > maxReason+len("…") || !utf8.ValidString(p) {
		t.Fatalf("huge reason not clipped on a rune boundary: %d bytes", len(p))
	}
	s.noteStreams(st, now)
	if _, ok := s.down["acct-off"]; ok {
		t.Fatal("a disabled account counts as down")
	}
	ps := s.problems(&Snapshot{Streams: st}, now, 10*time.Minute)
	var ghost bool
	for _, p := range ps {
		if p.Subject == "account acct-off" {
			t.Fatalf("a disabled account is a problem: %+v", p)
		}
		if p.Subject == "account acct-ghost" {
			ghost = strings.Contains(p.Reason, "not streamed: account acct-ghost is on the accounts topic but not in the accounts table")
		}
	}
	if !ghost || len(ps) != 2 {
		t.Fatalf("problems %+v: want acct-ghost with its reason and acct-huge", ps)
	}
}

// TestADegradedRegimeIsABadProblem.
func TestADegradedRegimeIsABadProblem(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	base := int64(1_800_000_000_000)
	s.setRegime(regimeRecord{Scope: "binance", AtMs: base, Score: 3, Band: regimestate.Calm, Degraded: "reference BTCUSDT silent for 31s"})
	now := time.UnixMilli(base + 5000)
	snap := Snapshot{Regime: s.regimeView(now)}
	ps := s.problems(&snap, now, 10*time.Minute)
	if len(ps) != 1 || ps[0].Kind != KindRegimeDegraded || ps[0].Severity != SeverityBad || ps[0].SinceMs != base ||
		ps[0].Reason != "regime degraded: reference BTCUSDT silent for 31s" {
		t.Fatalf("problems: %+v", ps)
	}
}

// TestAGarbageRegimeStateKeepsTheLastGoodOneWithAnAlert.
func TestAGarbageRegimeStateKeepsTheLastGoodOneWithAnAlert(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.Now()
	good, _ := json.Marshal(regimestate.State{Scope: "binance", AtMs: 100, Score: 10, Band: regimestate.Calm})
	s.applyRecord(&kgo.Record{Topic: s.n.table, Key: []byte("binance"), Value: good, Offset: 1}, now)
	s.decodePendingLocked()
	s.applyRecord(&kgo.Record{Topic: s.n.table, Key: []byte("binance"), Value: []byte(`{"band":"Euphoric","score":500,"at":200}`), Offset: 2}, now)
	s.decodePendingLocked()
	if sc := s.scopes["binance"]; sc.cur.Band != regimestate.Calm || s.errs["regime"] == "" {
		t.Fatalf("after garbage: %+v %q", sc.cur, s.errs["regime"])
	}
	as := s.controlAlerts(nil, now)
	if len(as) != 1 || as[0].Topic != s.n.table || !as[0].KeptLastGood || as[0].Offset != 2 {
		t.Fatalf("alerts: %+v", as)
	}
}

func TestSinceOffsetsReadTheLookbackButBounded(t *testing.T) {
	lo := func(p int32, o int64) kadm.ListedOffset { return kadm.ListedOffset{Partition: p, Offset: o} }
	from := map[int32]kgo.Offset{0: kgo.NewOffset().At(80), 1: kgo.NewOffset().At(0), 2: kgo.NewOffset().At(200_000)}
	ends := map[int32]int64{0: 100, 1: 3, 2: 200_020}
	after := map[int32]kadm.ListedOffset{0: lo(0, 40), 1: lo(1, -1), 2: lo(2, 0)}
	got, ok := sinceOffsets(from, ends, after)
	if !ok || got[0] != kgo.NewOffset().At(40) || got[1] != kgo.NewOffset().At(0) || got[2] != kgo.NewOffset().At(200_020-maxScan) {
		t.Fatalf("got %v %v", got, ok)
	}
	if _, ok := sinceOffsets(from, ends, map[int32]kadm.ListedOffset{0: lo(0, 1)}); ok {
		t.Fatal("a partition without its offset was followed")
	}
}

// TestAGarbageOnlyOverrideShowsTheGateRefusingOpens: with no good override
// on the topic, the gate refuses opens as override_unreadable, and so does
// the page's regime view, until a good override arrives; the regime's own
// state saying so counts too.
func TestAGarbageOnlyOverrideShowsTheGateRefusingOpens(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.Now()
	s.setRegime(regimeRecord{Scope: "binance", AtMs: now.UnixMilli(), Score: 3, Band: regimestate.Calm})
	s.applyRecord(&kgo.Record{Topic: s.n.overrides, Key: []byte(regimestate.OverrideScope), Value: []byte(`{"scope":"global","action":"open"}`)}, now)
	v := s.scopeView(s.scopes["binance"], now)
	if v.Gate != regimestate.GateOverrideUnreadable || v.OpensAllowed || !strings.Contains(v.GateReason, "override action") {
		t.Fatalf("garbage-only override: %+v", v)
	}
	clear, _ := json.Marshal(topics.Override{Scope: regimestate.OverrideScope, Action: "clear", CreatedMs: now.UnixMilli(), UntilMs: now.UnixMilli()})
	s.applyRecord(&kgo.Record{Topic: s.n.overrides, Key: []byte(regimestate.OverrideScope), Value: clear, Offset: 1}, now)
	if v := s.scopeView(s.scopes["binance"], now); v.Gate != regimestate.GateOpen {
		t.Fatalf("after a clear: %+v", v)
	}
	s.setRegime(regimeRecord{Scope: "binance", AtMs: now.UnixMilli() + 1, Score: 3, Band: regimestate.Calm, OverrideUnreadable: "decoding override: EOF"})
	if v := s.scopeView(s.scopes["binance"], now); v.Gate != regimestate.GateOverrideUnreadable {
		t.Fatalf("the regime's own verdict: %+v", v)
	}
}

func TestManyDriftingPositionsAreOneProblemNamingTheOldest(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	var rows []driftRow
	for i := range maxDrifts {
		rows = append(rows, driftRow{exchange: "binance", account: fmt.Sprintf("acct-%02d", i), symbol: "BTCUSDT", side: "BOTH",
			amount: "1", exchangeAmount: "2", since: int64(1000 + i)})
	}
	s.setDrifts(rows, 36, time.Now())
	ps := s.driftProblems()
	if len(ps) != 1 || ps[0].Subject != "36 positions" || ps[0].SinceMs != 1000 ||
		!strings.Contains(ps[0].Reason, "oldest: binance acct-00 BTCUSDT BOTH: observed 1, exchange 2; binance acct-01") {
		t.Fatalf("problems: %+v", ps)
	}
	s.setDrifts(nil, 0, time.Now())
	if ps := s.driftProblems(); len(ps) != 0 {
		t.Fatalf("no drift: %+v", ps)
	}
}

// TestComponentsMergeHealthAndReadinessAndKeepSinceWhenTheyFail.
func TestComponentsMergeHealthAndReadinessAndKeepSinceWhenTheyFail(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	t0 := time.UnixMilli(1_800_000_000_000)
	health := []CheckResult{{Name: "dispatch"}, {Name: "positions-worker", Err: fmt.Errorf("worker stopped")}}
	ready := []CheckResult{{Name: "dispatch"}, {Name: "positions-worker-progress", Err: fmt.Errorf("214 records waiting, no commit for 4m")},
		{Name: "positions-worker", Err: fmt.Errorf("not ready")}}
	cs := s.components(health, ready, t0)
	want := []Component{{Name: "dispatch", State: "ok"},
		{Name: "positions-worker", State: "unhealthy", Reason: "worker stopped", SinceMs: t0.UnixMilli()},
		{Name: "positions-worker-progress", State: "not_ready", Reason: "214 records waiting, no commit for 4m", SinceMs: t0.UnixMilli()}}
	if fmt.Sprint(cs) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", cs, want)
	}
	// A minute later, still failing: same since; dispatch failing now.
	ready[0].Err = fmt.Errorf("recovering tables")
	cs = s.components(health, ready, t0.Add(time.Minute))
	if cs[1].SinceMs != t0.UnixMilli() || cs[0].State != "not_ready" || cs[0].SinceMs != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("a minute later: %+v", cs)
	}
	ps := s.problems(&Snapshot{Components: cs}, t0.Add(time.Minute), 10*time.Minute)
	if len(ps) != 3 || ps[0].Kind != KindComponent || ps[0].Subject != "positions-worker" || ps[0].Reason != "unhealthy: worker stopped" {
		t.Fatalf("problems: %+v", ps)
	}
	// Recovered: forgotten.
	if cs := s.components([]CheckResult{{Name: "dispatch"}}, nil, t0.Add(2*time.Minute)); len(cs) != 1 || len(s.failing) != 0 {
		t.Fatalf("recovered: %+v %v", cs, s.failing)
	}
}

func TestRefusalsKeepTheNewestAndShowGarbageCut(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	for i := range 30 {
		v, _ := json.Marshal(topics.RejectedIntent{Intent: topics.OpenIntent{Account: fmt.Sprint("acct-", i)}, Reason: "blocked", AtMs: int64(1000 + i)})
		s.addRefusal(&kgo.Record{Value: v, Offset: int64(i)})
	}
	s.addRefusal(&kgo.Record{Value: []byte(strings.Repeat("<", 100_000)), Offset: 99, Timestamp: time.UnixMilli(5000)})
	s.following[s.n.rejected] = true
	v := s.refusalsView()
	if len(v.Records) != maxRefusals || v.Records[0].Reason != "undecodable" || len(v.Records[0].Detail) > 310 ||
		v.Records[1].Account != "acct-29" || v.Records[maxRefusals-1].Account != "acct-11" {
		t.Fatalf("refusals: %d, first %+v, second %+v", len(v.Records), v.Records[0], v.Records[1])
	}
}

// TestAGoodRecordOnAnotherPartitionDoesNotEndAnAlert: offsets of two
// partitions cannot be compared (a producer with another partitioner put
// the key elsewhere): only a later good record on the same partition ends
// the alert.
func TestAGoodRecordOnAnotherPartitionDoesNotEndAnAlert(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	now := time.Now()
	good, _ := json.Marshal(topics.AllowlistValue{Exchange: "binance", Types: []string{"TRADE"}})
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: []byte("{"), Partition: 1, Offset: 50}, now)
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: good, Partition: 0, Offset: 900}, now)
	if as := s.controlAlerts(nil, now); len(as) != 1 || as[0].Partition != 1 {
		t.Fatalf("alerts: %+v", as)
	}
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: good, Partition: 1, Offset: 51}, now)
	if as := s.controlAlerts(nil, now); len(as) != 0 {
		t.Fatalf("alerts after a good record on the same partition: %+v", as)
	}
}

// TestTimeBehindIsTheAgeOfTheFirstEndPastTheCommit: end offsets sampled
// over time tell how long ago the first record a group has yet to consume
// was written, at least, without reading it.
func TestTimeBehindIsTheAgeOfTheFirstEndPastTheCommit(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	t0 := time.UnixMilli(1_800_000_000_000)
	status := func(committed, end int64) []groupadmin.GroupStatus {
		return []groupadmin.GroupStatus{{Group: "t.worker.positions", Partitions: []groupadmin.PartitionStatus{
			{Topic: "t.positions", Partition: 0, Committed: committed, End: end, Lag: end - committed}}}}
	}
	// The worker keeps up for a minute, then stops at 120 while records
	// keep coming (end +10 every 2 s).
	now := t0
	for i := int64(0); i <= 90; i++ {
		end := 100 + 10*i
		committed := min(end, 120)
		now = t0.Add(time.Duration(i) * 2 * time.Second)
		s.setLag(status(committed, end), now)
	}
	v := s.lagView("t.", now)
	r := v.Rows[0]
	// End 130 (the first past 120) was seen at t0+4 s, sampled at t0+10 s
	// at the latest: behind about 170 s, at least.
	if r.BehindS == nil || *r.BehindS < 160 || *r.BehindS > 176 || r.BehindAtLeast {
		t.Fatalf("behind: %v (at least %v), want about 170 s", r.BehindS, r.BehindAtLeast)
	}
	// Caught up: not behind.
	s.setLag(status(1000, 1000), now.Add(time.Second))
	if r := s.lagView("t.", now.Add(time.Second)).Rows[0]; r.BehindS != nil {
		t.Fatalf("caught up: %v", *r.BehindS)
	}
	// A commit older than every sample: behind at least since the first.
	s2 := newState("t.", time.Hour, 20)
	s2.setLag(status(5, 500), t0)
	s2.setLag(status(5, 600), t0.Add(time.Minute))
	if r := s2.lagView("t.", t0.Add(time.Minute)).Rows[0]; r.BehindS == nil || *r.BehindS != 60 || !r.BehindAtLeast {
		t.Fatalf("older than the samples: %v %v", r.BehindS, r.BehindAtLeast)
	}
	// Samples are bounded.
	for i := range 2 * endSamples {
		s2.setLag(status(5, int64(700+i)), t0.Add(time.Duration(i)*endEvery))
	}
	if n := len(s2.ends[topicPart{"t.positions", 0}]); n > endSamples {
		t.Fatalf("%d samples kept", n)
	}
}

// TestAnAlertStandsSinceItWasFirstKnown: the page's check and the
// reader's quarantine record of one record merge under the earlier time;
// an unknown-keys alert lasts a lookback after its newest record.
func TestAnAlertStandsSinceItWasFirstKnown(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	t0 := time.Now().Add(-2 * time.Hour)
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: []byte("{"), Offset: 4}, t0.Add(time.Minute))
	s.addQuarantine(quarRecord(t, topics.QuarantineRecord{SourceTopic: s.n.allowlist, SourceOffset: 4, Key: "binance",
		Consumer: "t.dispatch", Error: "control record refused (no good value: readers fail closed): x"}, 0, t0), t0.Add(time.Hour))
	as := s.controlAlerts(nil, t0.Add(time.Hour))
	if len(as) != 1 || as[0].AtMs != t0.UnixMilli() || as[0].LastMs != t0.Add(time.Minute).UnixMilli() {
		t.Fatalf("merged: %+v", as)
	}
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("nosuch"), Value: []byte("{"), Offset: 5}, t0)
	s.applyRecord(&kgo.Record{Topic: s.n.allowlist, Key: []byte("nosuch2"), Value: []byte("{"), Offset: 6}, t0.Add(50*time.Minute))
	var unknown []ControlAlert
	for _, a := range s.controlAlerts(nil, t0.Add(70*time.Minute)) {
		if a.Key == UnknownKeys {
			unknown = append(unknown, a)
		}
	}
	if len(unknown) != 1 || unknown[0].AtMs != t0.UnixMilli() || unknown[0].Offset != 6 {
		t.Fatalf("unknown keys: %+v", unknown)
	}
}

// TestAStaleRegimeStateIsRefusedAsTheGateDoes: a state older than the
// gate's limit, or ahead of the clock, shows gate stale and is a problem;
// an override still wins, as at the gate.
func TestAStaleRegimeStateIsRefusedAsTheGateDoes(t *testing.T) {
	if maxStateAge != gate.DefaultMaxStateAge {
		t.Fatalf("maxStateAge %s, the gate's %s", maxStateAge, gate.DefaultMaxStateAge)
	}
	s := newState("t.", time.Hour, 20)
	now := time.UnixMilli(1_800_000_000_000)
	s.setRegime(regimeRecord{Scope: "binance", AtMs: now.Add(-6 * time.Minute).UnixMilli(), Score: 3, Band: regimestate.Calm})
	snap := Snapshot{Regime: s.regimeView(now)}
	sc := snap.Regime.Scopes[0]
	if sc.Gate != regimestate.GateStale || sc.OpensAllowed || !strings.Contains(sc.GateReason, "6m0s old") {
		t.Fatalf("old state: %+v", sc)
	}
	if ps := s.problems(&snap, now, 10*time.Minute); len(ps) != 1 || ps[0].Kind != KindRegimeStale || ps[0].Severity != SeverityBad {
		t.Fatalf("problems: %+v", ps)
	}
	s.override = &topics.Override{Scope: regimestate.OverrideScope, Action: "block", UntilMs: now.Add(time.Hour).UnixMilli(), Reason: "x"}
	if sc := s.regimeView(now).Scopes[0]; sc.Gate != regimestate.GateOverrideBlock {
		t.Fatalf("override over a stale state: %+v", sc)
	}
	s.override = nil
	s2 := newState("t.", time.Hour, 20)
	s2.setRegime(regimeRecord{Scope: "binance", AtMs: now.Add(time.Hour).UnixMilli(), Score: 3, Band: regimestate.Calm})
	if sc := s2.regimeView(now).Scopes[0]; sc.Gate != regimestate.GateStale || !strings.Contains(sc.GateReason, "ahead") {
		t.Fatalf("a state from the future: %+v", sc)
	}
}
