package statuspage

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

const sec = int64(1000)

func TestRegimeHistoryIsSampledSortedAndKeptForTheWindow(t *testing.T) {
	s := newState("t.", 10*time.Minute, 20)
	base := int64(1_800_000_000_000)
	state := func(at int64, score float64, band string) {
		s.setRegime(regimeRecord{Scope: "binance", AtMs: at, Score: score, Band: regimestate.Band(band)})
	}
	// 1 Hz states: only one per sampleGap survives while the band holds.
	for i := int64(0); i < 10; i++ {
		state(base+i*sec, 10, "Calm")
	}
	sc := s.scopes["binance"]
	if n := len(sc.points); n != 5 {
		t.Fatalf("10 states 1 s apart kept %d points, want 5 (one per %s)", n, sampleGap)
	}
	// A band change is kept however close; a change record is inserted in
	// time order even when it arrives after later states.
	state(base+10*sec, 30, "Elevated")
	ch, _ := json.Marshal(topics.RegimeChange{Scope: "binance", From: "Calm", To: "Elevated", Score: 26, AtMs: base + 9500})
	s.addChange(ch)
	if got := sc.points[len(sc.points)-2]; got != (Point{T: base + 9500, S: 26, B: "Elevated"}) {
		t.Fatalf("change point not inserted before the newest state: %+v", sc.points)
	}
	for i := 1; i < len(sc.points); i++ {
		if sc.points[i].T < sc.points[i-1].T {
			t.Fatalf("points out of order: %+v", sc.points)
		}
	}
	// An older state never replaces the current one.
	state(base+5*sec, 99, "Critical")
	if sc.cur.Score != 30 {
		t.Fatalf("an older state replaced the current one: %+v", sc.cur)
	}
	// Eleven minutes later everything but the window is gone.
	state(base+11*60*sec, 12, "Calm")
	if sc.points[0].T < base+60*sec || len(sc.changes) != 0 {
		t.Fatalf("history beyond the 10 min window kept: first %d (want >= %d), %d changes", sc.points[0].T, base+60*sec, len(sc.changes))
	}
}

func TestKraiteGroupsKeepsThisDeploymentsGroups(t *testing.T) {
	got := KraiteGroups([]string{"kcat-inspect", "t.dispatch", "kraite-sink-orders", "other.regime", "t.worker.priority",
		"t.sink.audit", "t.scheduler", "other.sink.orders", "t.typo", "t.rebuild-x-orders"}, "t.")
	want := []string{"t.dispatch", "t.rebuild-x-orders", "t.sink.audit", "t.worker.priority"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

func TestQuarantineKeepsTheNewestRecords(t *testing.T) {
	s := newState("t.", time.Hour, 3)
	for i, at := range []int64{5, 1, 9, 7, 3} {
		v, _ := json.Marshal(topics.QuarantineRecord{Consumer: "c", Error: fmt.Sprint("e", i), AtMs: at})
		s.addQuarantine(&kgo.Record{Topic: "t.quarantine", Value: v, Offset: int64(i)}, time.Now())
	}
	s.addQuarantine(&kgo.Record{Topic: "t.quarantine", Key: []byte("k"), Value: []byte("not json"), Offset: 9, Timestamp: time.UnixMilli(8)}, time.Now())
	var ats []int64
	for _, q := range s.quar {
		ats = append(ats, q.rec.AtMs)
	}
	if !reflect.DeepEqual(ats, []int64{9, 8, 7}) {
		t.Fatalf("kept %v, want the three newest [9 8 7]", ats)
	}
	if s.quar[1].rec.Value != "not json" || s.quar[1].rec.Error == "" {
		t.Fatalf("an undecodable quarantine record is shown raw with why: %+v", s.quar[1].rec)
	}
}

func TestStreamsMergeAccountsWithTheirLastFrames(t *testing.T) {
	now := time.UnixMilli(1_800_000_010_000)
	src := &StreamSource{
		Accounts: func() []Account { return []Account{{ID: "acct-2", Connected: false}, {ID: "acct-1", Connected: true}} },
		LastFrames: func() []Frame {
			return []Frame{{Stream: "markprice", At: now.Add(-time.Second)}, {Stream: "userdata", Account: "acct-1", At: now.Add(-3 * time.Second)}}
		},
	}
	st := buildStreams(src, now)
	if !st.Available || st.Connected != 1 || st.Total != 2 || st.Accounts[0].ID != "acct-1" || *st.Accounts[0].Age != 3 ||
		st.Accounts[1].Age != nil || len(st.Public) != 1 || *st.Public[0].Age != 1 {
		b, _ := json.Marshal(st)
		t.Fatalf("merged streams: %s", b)
	}
	if st := buildStreams(nil, now); st.Available || st.Note != notHere {
		t.Fatalf("no source: %+v", st)
	}
}

func TestLagRowsPerGroupAndTopicWithQueueNumbers(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	s.setLag([]groupadmin.GroupStatus{
		{Group: "t.dispatch", State: "Stable", Members: []groupadmin.Member{{}}, Partitions: []groupadmin.PartitionStatus{
			{Topic: "t.user-data-stream", Partition: 0, Committed: 5, End: 9, Lag: 4},
			{Topic: "t.user-data-stream", Partition: 1, Committed: -1, End: 0, Lag: -1},
			{Topic: "t.dispatch-table", Partition: 0, Committed: 1, End: 3, Lag: 2},
		}},
		{Group: "t.sink.orders", State: "Empty"},
	}, time.Now())
	lag := s.lagView("t.", time.Now())
	if !lag.Available || lag.Total != 6 || len(lag.Rows) != 3 {
		t.Fatalf("lag: %+v", lag)
	}
	udp := lag.Rows[1]
	if udp.Topic != "t.user-data-stream" || udp.Queue != 1 || udp.Lag != 4 || len(udp.Partitions) != 2 || udp.Members != 1 {
		t.Fatalf("user-data-stream row: %+v", udp)
	}
	if lag.Rows[0].Queue != 0 || lag.Rows[2].Group != "t.sink.orders" || lag.Rows[2].Topic != "" {
		t.Fatalf("rows: %+v", lag.Rows)
	}
}

func TestAllowlistFromTheTopicBeatsTheDefaultAndEmptyIsShadowMode(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	s.following[s.n.allowlist] = true
	v, _ := json.Marshal(topics.AllowlistValue{Exchange: "binance", Types: []string{}, UpdatedMs: 42, By: "ops"})
	s.applyAllowlist(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Value: v, Offset: 3}, time.Now())
	al := s.allowlistView(map[string][]string{"binance": {"TRADE"}, "bybit": {"TRADE", "CANCELED"}})
	want := []AllowlistRow{
		{Exchange: "binance", Types: []string{}, Shadow: true, Source: "topic", UpdatedMs: 42, By: "ops"},
		{Exchange: "bybit", Types: []string{"TRADE", "CANCELED"}, Source: "default"},
	}
	if !reflect.DeepEqual(al.Exchanges, want) {
		t.Fatalf("got %+v\nwant %+v", al.Exchanges, want)
	}
	// A tombstone would fall back to the default (widening the list):
	// dispatch refuses it and so does the page, which raises an alert.
	s.applyAllowlist(&kgo.Record{Topic: s.n.allowlist, Key: []byte("binance"), Offset: 4}, time.Now())
	if al := s.allowlistView(map[string][]string{"binance": {"TRADE"}}); al.Exchanges[0].Source != "topic" || !al.Exchanges[0].Shadow {
		t.Fatalf("after a tombstone: %+v", al.Exchanges)
	}
	if as := s.controlAlerts(nil, time.Now()); len(as) != 1 || as[0].Key != "binance" || !as[0].KeptLastGood || as[0].Offset != 4 {
		t.Fatalf("alerts after a tombstone: %+v", as)
	}
}

func TestFreshnessPrefersTheDatabaseVenues(t *testing.T) {
	one, two := 1.0, 2.0
	s := Snapshot{MarkPrice: MarkPrice{Topic: []MarkTopic{{Key: "binance", Age: &one}},
		Venues: []Venue{{Venue: "kucoin", Age: &two}, {Venue: "bybit"}}}}
	if got := Freshness(s); !reflect.DeepEqual(got, map[string]float64{"binance": 1}) {
		t.Fatalf("without the database: %v", got)
	}
	s.MarkPrice.Database.Available = true
	if got := Freshness(s); !reflect.DeepEqual(got, map[string]float64{"kucoin": 2}) {
		t.Fatalf("with the database: %v", got)
	}
}

func TestCutShortensLongValuesOnRuneBoundaries(t *testing.T) {
	if got := cut("ééééé", 3); got != "ééé…" {
		t.Fatalf("got %q", got)
	}
	if got := cut("abc", 3); got != "abc" {
		t.Fatalf("got %q", got)
	}
}

// TestADegradedRegimeShowsDegradedWithItsReason: a state whose feed is too
// thin to judge shows gate "degraded" with the regime's reason (not the
// band's "open"), since when the page saw it degraded, and back to open
// once a healthy state arrives.
func TestADegradedRegimeShowsDegradedWithItsReason(t *testing.T) {
	s := newState("t.", time.Hour, 20)
	base := int64(1_800_000_000_000)
	now := time.UnixMilli(base + 10*sec)
	s.setRegime(regimeRecord{Scope: "binance", AtMs: base, Score: 5, Band: regimestate.Calm})
	s.setRegime(regimeRecord{Scope: "binance", AtMs: base + sec, Score: 5, Band: regimestate.Calm, Degraded: "reference BTCUSDT silent for 45s"})
	s.setRegime(regimeRecord{Scope: "binance", AtMs: base + 2*sec, Score: 5, Band: regimestate.Calm, Degraded: "reference BTCUSDT silent for 46s"})
	v := s.scopeView(s.scopes["binance"], now)
	if v.Gate != regimestate.GateDegraded || v.OpensAllowed || v.Degraded != "reference BTCUSDT silent for 46s" ||
		v.GateReason != "regime degraded: reference BTCUSDT silent for 46s" || v.DegradedSinceMs != base+sec {
		t.Fatalf("degraded scope: %+v", v)
	}
	// An operator allow override still wins, as at the gate.
	s.override = &topics.Override{Scope: regimestate.OverrideScope, Action: "allow", UntilMs: now.UnixMilli() + 60_000, Reason: "feed known thin"}
	if v := s.scopeView(s.scopes["binance"], now); v.Gate != regimestate.GateOverrideAllow || !v.OpensAllowed {
		t.Fatalf("allow override over a degraded regime: %+v", v)
	}
	s.override = nil
	s.setRegime(regimeRecord{Scope: "binance", AtMs: base + 3*sec, Score: 5, Band: regimestate.Calm})
	if v := s.scopeView(s.scopes["binance"], now); v.Gate != regimestate.GateOpen || v.Degraded != "" || v.DegradedSinceMs != 0 {
		t.Fatalf("recovered scope: %+v", v)
	}
	// Decoded from the table's JSON (the field the regime writes).
	raw, _ := json.Marshal(regimestate.State{Scope: "bybit", AtMs: base, Score: 1, Band: regimestate.Calm, Gate: regimestate.GateDegraded, Degraded: "2 of 40 symbols fresh"})
	s.pending["bybit"] = pendingState{raw: raw, offset: 1}
	s.decodePendingLocked()
	if v := s.scopeView(s.scopes["bybit"], now); v.Gate != regimestate.GateDegraded || v.Degraded != "2 of 40 symbols fresh" {
		t.Fatalf("decoded degraded state: %+v", v)
	}
}

// TestKeepNewestOrdersOutOfOrderRecordsAndCaps: records arriving out of
// order land newest first (time, then partition, then offset), a record
// older than the n kept is dropped, one already kept (read again) is not
// kept twice, and the list never grows past n.
func TestKeepNewestOrdersOutOfOrderRecordsAndCaps(t *testing.T) {
	pos := func(p recPos) recPos { return p }
	var list []recPos
	for _, p := range []recPos{{5, 0, 1}, {9, 0, 2}, {5, 1, 0}, {7, 0, 3}, {5, 1, 0}, {1, 0, 9}, {1 << 62, 0, 0}} {
		list = keepNewest(list, p, 5, pos)
		if len(list) > 5 {
			t.Fatalf("grew past 5: %v", list)
		}
	}
	want := []recPos{{1 << 62, 0, 0}, {9, 0, 2}, {7, 0, 3}, {5, 1, 0}, {5, 0, 1}}
	if !slices.Equal(list, want) {
		t.Fatalf("kept %v, want %v", list, want)
	}
}

// TestStreamsShowReconnectsGapsAndTheRESTBudget: each account gets its
// listenKey age, reconnects and gap markers (a public stream its reconnects), counts of
// accounts this box does not stream are left out, negative counts are
// cut to 0; the REST client's weight and an active ban show, and the ban
// is a problem; without a REST client the page says so.
func TestStreamsShowReconnectsGapsAndTheRESTBudget(t *testing.T) {
	now := time.UnixMilli(1_800_000_010_000)
	rest := RESTState{Exchange: "binance", UsedWeight: 1900, UsedAt: now.Add(-time.Second), WeightLimit: 2400}
	src := &StreamSource{
		Accounts: func() []Account {
			return []Account{{ID: "acct-1", Connected: true, ListenKeyAt: now.Add(-90 * time.Second), KeptAliveAt: now.Add(-30 * time.Second)}, {ID: "acct-2"}}
		},
		LastFrames: func() []Frame {
			return []Frame{{Stream: "markprice", At: now.Add(-time.Second)}}
		},
		Counts: func() []StreamCount {
			return []StreamCount{{Stream: "userdata", Account: "acct-1", Reconnects: 2, Gaps: 3},
				{Stream: "userdata", Account: "acct-1", Reconnects: 1}, // a duplicate row adds up
				{Stream: "userdata", Account: "acct-2", Reconnects: -5, Gaps: -1},
				{Stream: "userdata", Account: "acct-elsewhere", Reconnects: 9, Gaps: 9},
				{Stream: "markprice", Reconnects: 4}}
		},
		REST: func() RESTState { return rest },
	}
	st := buildStreams(src, now)
	a1, a2 := st.Accounts[0], st.Accounts[1]
	if a1.Reconnects != 3 || a1.Gaps != 3 || a2.Reconnects != 0 || a2.Gaps != 0 || st.Reconnects != 3 || st.Gaps != 3 ||
		st.Public[0].Reconnects != 4 || a1.ListenKeyAge == nil || *a1.ListenKeyAge != 90 || a1.KeptAliveAtMs != now.Add(-30*time.Second).UnixMilli() ||
		a2.ListenKeyAge != nil || a2.ListenKeyAtMs != 0 || a2.KeptAliveAtMs != 0 {
		b, _ := json.Marshal(st)
		t.Fatalf("counts: %s", b)
	}
	if r := st.REST; !r.Available || r.UsedWeight != 1900 || r.WeightLimit != 2400 || r.UsedAtMs != now.Add(-time.Second).UnixMilli() ||
		r.Banned || r.BannedUntilMs != 0 || r.Exchange != "binance" {
		t.Fatalf("rest: %+v", r)
	}
	s := newState("t.", time.Hour, 20)
	problems := func(st Streams) []Problem {
		snap := Snapshot{Streams: st}
		return s.problems(&snap, now, 10*time.Minute)
	}
	for _, p := range problems(st) {
		if p.Kind == KindExchangeBanned {
			t.Fatalf("a ban problem without a ban: %+v", p)
		}
	}
	// A ban in force, then one that ended.
	rest.BannedUntil = now.Add(10 * time.Minute)
	st = buildStreams(src, now)
	if r := st.REST; !r.Banned || r.BannedUntilMs != rest.BannedUntil.UnixMilli() {
		t.Fatalf("ban: %+v", r)
	}
	var banned []Problem
	for _, p := range problems(st) {
		if p.Kind == KindExchangeBanned {
			banned = append(banned, p)
		}
	}
	if len(banned) != 1 || banned[0].Severity != SeverityBad || banned[0].Subject != "REST binance" {
		t.Fatalf("ban problems: %+v", banned)
	}
	rest.BannedUntil = now.Add(-time.Second)
	if r := buildStreams(src, now).REST; r.Banned || r.BannedUntilMs == 0 {
		t.Fatalf("ended ban: %+v", r)
	}
	// Only a REST client here: streams not here, the REST budget shown.
	if st := buildStreams(&StreamSource{REST: src.REST}, now); st.Available || st.Note != notHere || !st.REST.Available {
		t.Fatalf("REST only: %+v", st)
	}
	if st := buildStreams(nil, now); st.REST.Available || st.REST.Note == "" {
		t.Fatalf("no REST client: %+v", st.REST)
	}
}

// TestMergeRESTKeepsTheNewestWeightAndTheLatestBan: a box's REST clients
// share its IP, so the newest weight report and the latest ban end win.
func TestMergeRESTKeepsTheNewestWeightAndTheLatestBan(t *testing.T) {
	now := time.UnixMilli(1_800_000_010_000)
	workers := RESTState{Exchange: "binance", UsedWeight: 300, UsedAt: now.Add(-time.Second), WeightLimit: 2400, BannedUntil: now.Add(time.Minute)}
	producer := RESTState{Exchange: "binance", UsedWeight: 40, UsedAt: now.Add(-20 * time.Second), WeightLimit: 2400}
	got := MergeREST(producer, workers)
	if got.UsedWeight != 300 || !got.UsedAt.Equal(workers.UsedAt) || got.WeightLimit != 2400 || !got.BannedUntil.Equal(workers.BannedUntil) || got.Exchange != "binance" {
		t.Fatalf("merged: %+v", got)
	}
	if got := MergeREST(producer); got != producer {
		t.Fatalf("one client: %+v", got)
	}
	if got := MergeREST(); got != (RESTState{}) {
		t.Fatalf("no client: %+v", got)
	}
}
