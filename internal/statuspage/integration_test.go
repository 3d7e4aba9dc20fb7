package statuspage_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/statuspage"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/scheduler"
	"github.com/kraite/stream/topics"
)

const prefix = "sp."

// env is a kfake broker with the catalog (and the regime table), a producer
// and a status page collector serving over HTTP.
type env struct {
	addr string
	cl   *kgo.Client
	reg  *prometheus.Registry
	srv  *httptest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	b := testkit.Broker(t, prefix)
	cl, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &env{addr: b.Addr(), cl: cl, reg: prometheus.NewRegistry()}
}

// start runs a collector with cfg (brokers, prefix and registry filled in)
// until the test ends.
func (e *env) start(t *testing.T, cfg statuspage.Config) {
	t.Helper()
	cfg.Kafka, cfg.Prefix, cfg.Registerer, cfg.Interval = kclient.ForBrokers(e.addr), prefix, e.reg, 200*time.Millisecond
	cfg.Log = testkit.Logger(t)
	c, err := statuspage.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	c.Mount(mux)
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("collector Run: %v", err)
		}
	})
}

func (e *env) produce(t *testing.T, recs ...*kgo.Record) {
	t.Helper()
	if err := e.cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func jsonRecord(t *testing.T, topic, key string, v any) *kgo.Record {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return &kgo.Record{Topic: prefix + topic, Key: []byte(key), Value: b}
}

func (e *env) get(t *testing.T, path string) []byte {
	t.Helper()
	resp, err := http.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", path, resp.StatusCode, err, b)
	}
	return b
}

func (e *env) snapshot(t *testing.T) statuspage.Snapshot {
	t.Helper()
	var s statuspage.Snapshot
	if err := json.Unmarshal(e.get(t, "/status.json"), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// gauge returns the value of the gauge name with exactly labels, or false.
func (e *env) gauge(t *testing.T, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			if sameLabels(m.Label, labels) {
				return m.GetGauge().GetValue(), true
			}
		}
	}
	return 0, false
}

func sameLabels(ls []*dto.LabelPair, want map[string]string) bool {
	if len(ls) != len(want) {
		return false
	}
	for _, l := range ls {
		if want[l.GetName()] != l.GetValue() {
			return false
		}
	}
	return true
}

// TestStatusFromKafkaAndTheDatabaseOnThePageAndTheGauges feeds every source
// of the page through a real broker and database and checks status.json,
// the page and the gauges, then changes the regime and the allowlist while
// it runs and sees both follow.
func TestStatusFromKafkaAndTheDatabaseOnThePageAndTheGauges(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := topics.Apply(ctx, e.cl, prefix, []topics.Spec{regimestate.TableSpec()}, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	t0 := now.Add(-3 * time.Minute).UnixMilli() // the newest state stays younger than the gate's limit

	// Regime: two band changes and the newest table state.
	e.produce(t,
		jsonRecord(t, "regime-changes", "binance", topics.RegimeChange{Scope: "binance", From: "none", To: "Calm", Score: 3, AtMs: t0, Gate: "open"}),
		jsonRecord(t, "regime-changes", "binance", topics.RegimeChange{Scope: "binance", From: "Calm", To: "Elevated", Score: 31, AtMs: t0 + 60_000, Gate: "open"}),
		jsonRecord(t, "regime-table", "binance", regimestate.State{Scope: "binance", AtMs: t0 + 90_000, Score: 33.5, Band: regimestate.Elevated,
			SinceMs: t0 + 60_000, Gate: regimestate.GateOpen, Records: 91}))
	// Shadow mode on binance.
	e.produce(t, jsonRecord(t, "allowlist", "binance", topics.AllowlistValue{Exchange: "binance", Types: []string{}, UpdatedMs: now.UnixMilli(), By: "test"}))
	// 25 quarantined records: the page shows the newest 20, the gauge counts 25.
	for i := range 25 {
		e.produce(t, jsonRecord(t, "quarantine", fmt.Sprint("k", i), topics.QuarantineRecord{SourceTopic: prefix + "orders",
			SourceOffset: int64(i), Key: fmt.Sprint("k", i), Value: `{"bad":` + fmt.Sprint(i), Consumer: "kraite-sink-orders",
			Error: "decoding order event: unexpected end of JSON input", AtMs: t0 + int64(i)}))
	}
	// The scheduler's lease: box-7 leads since 10 minutes.
	e.produce(t, jsonRecord(t, "scheduler-lease", prefix+"scheduler", scheduler.Lease{Leader: "box-7-scheduler",
		SinceMs: now.Add(-10 * time.Minute).UnixMilli(), AtMs: now.Add(-2 * time.Second).UnixMilli()}))
	// A mark-price frame read 3 s ago.
	e.produce(t, &kgo.Record{Topic: prefix + "mark-price", Key: []byte("binance"), Value: []byte("[]"),
		Headers: topics.FrameHeaders("binance", "", "", topics.KindFrame, topics.SourceStream, now.Add(-3*time.Second))})
	// A kraite group 6 records behind on one partition, and a foreign group.
	var udp []*kgo.Record
	for range 10 {
		udp = append(udp, &kgo.Record{Topic: prefix + "user-data-stream", Key: []byte("acct-0001"), Value: []byte("{}")})
	}
	e.produce(t, udp...)
	part := udp[0].Partition
	adm := kadm.NewClient(e.cl)
	for _, g := range []string{prefix + "dispatch", "someone-else"} {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: prefix + "user-data-stream", Partition: part, At: 4, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, g, offs); err != nil {
			t.Fatal(err)
		}
	}
	// The database: kucoin priced 2 s ago.
	d := dbtest.SQLite(t)
	if _, err := d.SeedUniverse(ctx); err != nil {
		t.Fatal(err)
	}
	setPrices(t, d, "kucoin", now.Add(-2*time.Second))

	e.start(t, statuspage.Config{Process: "test box", DB: d, Streams: &statuspage.StreamSource{
		Accounts: func() []statuspage.Account { return []statuspage.Account{{ID: "acct-0001", Connected: true}} },
		LastFrames: func() []statuspage.Frame {
			return []statuspage.Frame{{Stream: "userdata", Account: "acct-0001", At: now}}
		},
		Counts: func() []statuspage.StreamCount {
			return []statuspage.StreamCount{{Stream: "userdata", Account: "acct-0001", Reconnects: 2, Gaps: 3}}
		},
		REST: func() statuspage.RESTState {
			return statuspage.RESTState{Exchange: "binance", UsedWeight: 120, UsedAt: now, WeightLimit: 2400}
		},
	}})

	var s statuspage.Snapshot
	testkit.Eventually(t, 30*time.Second, "every section in status.json", func() bool {
		s = e.snapshot(t)
		return len(s.Regime.Scopes) == 1 && len(s.Regime.Scopes[0].Changes) == 2 && s.Quarantine.Total == 25 &&
			len(s.Quarantine.Records) == 20 && len(s.Lag.Rows) > 0 && s.MarkPrice.Database.Available &&
			len(s.MarkPrice.Topic) == 1 && len(s.Allowlist.Exchanges) > 0 && s.Allowlist.Exchanges[0].Source == "topic" &&
			s.Trading.Available && // the last refresh step: every source has run once
			slices.ContainsFunc(s.Sources, func(src statuspage.SourceStatus) bool { return src.Name == "trading" }) && // recorded just after it
			s.Scheduler.Available
	})
	if len(s.Errors) > 0 {
		t.Errorf("errors reported: %v", s.Errors)
	}
	sc := s.Regime.Scopes[0]
	if sc.Scope != "binance" || sc.Score != 33.5 || sc.Band != "Elevated" || sc.Gate != regimestate.GateOpen || !sc.OpensAllowed {
		t.Errorf("regime: %+v", sc)
	}
	wantHist := []statuspage.Point{{T: t0, S: 3, B: "Calm"}, {T: t0 + 60_000, S: 31, B: "Elevated"}, {T: t0 + 90_000, S: 33.5, B: "Elevated"}}
	if fmt.Sprint(sc.History) != fmt.Sprint(wantHist) {
		t.Errorf("history %v, want %v", sc.History, wantHist)
	}
	if sc.Changes[0].To != "Elevated" || sc.Changes[1].To != "Calm" {
		t.Errorf("changes not newest first: %+v", sc.Changes)
	}
	if a := s.Allowlist.Exchanges[0]; a.Exchange != "binance" || !a.Shadow || a.By != "test" {
		t.Errorf("allowlist: %+v", a)
	}
	if q := s.Quarantine.Records; q[0].AtMs != t0+24 || q[19].AtMs != t0+5 || q[0].Consumer != "kraite-sink-orders" || q[0].Value != `{"bad":24` {
		t.Errorf("quarantine: newest %+v, oldest shown %+v", q[0], q[19])
	}
	checkLag(t, s.Lag, part)
	if mt := s.MarkPrice.Topic[0]; mt.Key != "binance" || mt.Age == nil || *mt.Age < 2.5 {
		t.Errorf("mark-price topic: %+v", mt)
	}
	if st := s.Streams; !st.Available || st.Connected != 1 || st.Accounts[0].ID != "acct-0001" || st.Accounts[0].Reconnects != 2 ||
		st.Accounts[0].Gaps != 3 || !st.REST.Available || st.REST.UsedWeight != 120 || st.REST.WeightLimit != 2400 || st.REST.Banned {
		t.Errorf("streams: %+v", st)
	}
	if s.Process != "test box" || s.Prefix != prefix {
		t.Errorf("header: %q %q", s.Process, s.Prefix)
	}
	if sc := s.Scheduler; sc.Leader != "box-7-scheduler" || sc.SinceMs != now.Add(-10*time.Minute).UnixMilli() || sc.Age == nil || *sc.Age < 1.5 || sc.Unreadable != "" {
		t.Errorf("scheduler: %+v", sc)
	}
	if s.Build.Go == "" || s.StartedMs <= 0 || s.StartedMs > s.GeneratedMs {
		t.Errorf("build and start: %+v %d", s.Build, s.StartedMs)
	}
	srcs := map[string]statuspage.SourceStatus{}
	for _, src := range s.Sources {
		srcs[src.Name] = src
	}
	for _, n := range []string{"kafka", "lag", "quarantine", "database", "positions", "trading"} {
		if src, ok := srcs[n]; !ok || !src.OK || src.LatencyMs < 0 || src.AtMs == 0 {
			t.Errorf("source %s: %+v (present %v)", n, src, ok)
		}
	}

	checkGauges(t, e, part)
	checkPage(t, e)

	// Live: the regime goes Critical and the allowlist leaves shadow mode.
	e.produce(t,
		jsonRecord(t, "regime-table", "binance", regimestate.State{Scope: "binance", AtMs: t0 + 120_000, Score: 81, Band: regimestate.Critical,
			SinceMs: t0 + 120_000, Gate: regimestate.GateBlocked, Records: 92}),
		jsonRecord(t, "allowlist", "binance", topics.AllowlistValue{Exchange: "binance", Types: []string{"TRADE", "CANCELED"}, UpdatedMs: now.UnixMilli()}))
	testkit.Eventually(t, 30*time.Second, "the Critical band and the new allowlist", func() bool {
		s = e.snapshot(t)
		crit, _ := e.gauge(t, "kraite_regime_band", map[string]string{"scope": "binance", "band": "Critical"})
		types, _ := e.gauge(t, "kraite_allowlist_types", map[string]string{"exchange": "binance"})
		return s.Regime.Scopes[0].Band == "Critical" && crit == 1 && types == 2
	})
	if sc := s.Regime.Scopes[0]; sc.Gate != regimestate.GateBlocked || sc.OpensAllowed || sc.History[len(sc.History)-1].S != 81 {
		t.Errorf("after going Critical: gate %s allowed %v history %v", sc.Gate, sc.OpensAllowed, sc.History)
	}
	if a := s.Allowlist.Exchanges[0]; a.Shadow || len(a.Types) != 2 {
		t.Errorf("allowlist after the flip: %+v", a)
	}
}

func setPrices(t *testing.T, d *db.DB, venue string, at time.Time) {
	t.Helper()
	q := d.Rebind("UPDATE exchange_symbols SET mark_price = " + d.Decimal() + ", mark_price_synced_at = ? WHERE exchange = ?")
	if _, err := d.ExecContext(context.Background(), q, "2.5", at.UTC(), venue); err != nil {
		t.Fatal(err)
	}
}

func checkLag(t *testing.T, lag statuspage.Lag, part int32) {
	t.Helper()
	var found bool
	for _, r := range lag.Rows {
		if r.Group == "someone-else" {
			t.Errorf("a foreign group is listed: %+v", r)
		}
		if r.Group != prefix+"dispatch" {
			continue
		}
		found = true
		if r.Topic != prefix+"user-data-stream" || r.Queue != 1 || r.Lag != 6 || lag.Total != 6 {
			t.Errorf("lag row %+v (total %d), want 6 behind on queue 1", r, lag.Total)
		}
		for _, p := range r.Partitions {
			if p.Partition == part && (p.Committed != 4 || p.End != 10) {
				t.Errorf("partition %d: %+v", part, p)
			}
		}
	}
	if !found {
		t.Errorf("no lag row for %sdispatch: %+v", prefix, lag.Rows)
	}
}

func checkGauges(t *testing.T, e *env, part int32) {
	t.Helper()
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"kraite_regime_score", map[string]string{"scope": "binance"}, 33.5},
		{"kraite_regime_band", map[string]string{"scope": "binance", "band": "Elevated"}, 1},
		{"kraite_regime_band", map[string]string{"scope": "binance", "band": "Calm"}, 0},
		{"kraite_allowlist_types", map[string]string{"exchange": "binance"}, 0},
		{"kraite_consumer_lag", map[string]string{"group": prefix + "dispatch", "topic": prefix + "user-data-stream", "partition": fmt.Sprint(part)}, 6},
		{"kraite_quarantine_records", map[string]string{}, 25},
	} {
		if got, ok := e.gauge(t, c.name, c.labels); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Freshness per venue comes from the database here: kucoin was priced
	// 2 s ago, binance never (no series).
	if age, ok := e.gauge(t, "kraite_markprice_freshness_seconds", map[string]string{"venue": "kucoin"}); !ok || age < 1.5 || age > 60 {
		t.Errorf("kucoin freshness %v (present %v), want about 2 s", age, ok)
	}
	if _, ok := e.gauge(t, "kraite_markprice_freshness_seconds", map[string]string{"venue": "binance"}); ok {
		t.Error("a venue without prices has a freshness series")
	}
}

// checkPage: the page is self-contained (no external script, style or
// image) and carries the snapshot for its first render.
func checkPage(t *testing.T, e *env) {
	t.Helper()
	page := string(e.get(t, "/"))
	for _, bad := range []string{"<link", "<script src", "src=\"http", "href=\"http", "@import", "url(http"} {
		if strings.Contains(page, bad) {
			t.Errorf("page refers to an external resource (%q)", bad)
		}
	}
	for _, want := range []string{"setInterval(poll, 2000)", `"band":"Elevated"`, `"process":"test box"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	resp, err := http.Get(e.srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /nope: %d, want 404 (the page is mounted at / only)", resp.StatusCode)
	}
}

// TestSectionsWithoutASourceSaySo runs a collector with no database, no
// producers and no regime processor: the page still answers.
func TestSectionsWithoutASourceSaySo(t *testing.T) {
	e := newEnv(t)
	e.start(t, statuspage.Config{})
	var s statuspage.Snapshot
	testkit.Eventually(t, 30*time.Second, "the first refresh", func() bool {
		s = e.snapshot(t)
		return s.Lag.Available && s.Quarantine.Available
	})
	if s.Streams.Available || s.Streams.Note != "not in this process" {
		t.Errorf("streams: %+v", s.Streams)
	}
	if s.Trading.Available || s.Trading.Note != "not in this process" {
		t.Errorf("trading: %+v", s.Trading.Section)
	}
	if s.MarkPrice.Database.Available || s.MarkPrice.Database.Note != "not in this process" {
		t.Errorf("database: %+v", s.MarkPrice.Database)
	}
	if s.Regime.Available || !strings.Contains(s.Regime.Note, "regime processor") {
		t.Errorf("regime: %+v", s.Regime.Section)
	}
	if a := s.Allowlist.Exchanges; len(a) != 1 || a[0].Source != "default" || a[0].Shadow {
		t.Errorf("allowlist without records: %+v", a)
	}
	if s.Lag.Note == "" || len(s.Lag.Rows) != 0 {
		t.Errorf("lag with no groups: %+v", s.Lag)
	}
	if s.Streams.REST.Available || s.Streams.REST.Note == "" {
		t.Errorf("REST without a client: %+v", s.Streams.REST)
	}
	if s.Scheduler.Available || s.Scheduler.Note == "" || s.Scheduler.Leader != "" {
		t.Errorf("scheduler without a lease: %+v", s.Scheduler)
	}
	if _, ok := e.gauge(t, "kraite_quarantine_records", map[string]string{}); !ok {
		t.Error("no kraite_quarantine_records gauge")
	}
}

// TestAnUnreachableBrokerShowsOnThePage: with nothing listening on the
// broker address the page still answers, names the failing source, and Run
// stops cleanly.
func TestAnUnreachableBrokerShowsOnThePage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{addr: ln.Addr().String(), reg: prometheus.NewRegistry()}
	ln.Close()
	e.start(t, statuspage.Config{})
	testkit.Eventually(t, 60*time.Second, "the Kafka error in status.json", func() bool {
		return e.snapshot(t).Errors["kafka"] != ""
	})
	if s := e.snapshot(t); s.Regime.Available || s.Quarantine.Available {
		t.Errorf("sections claim data without a broker: %+v", s)
	}
}

// TestEveryProblemFromKafkaIsOnThePage creates each problem the panel
// lists on a real broker and checks status.json and the page: a degraded
// regime, a garbage override after a block (the block stays), an
// allowlist whose only record is garbage (shadow mode), a refused control
// record known from the quarantine topic only, quarantine growth counted
// past the newest records shown, a stalled group and a disconnected
// account; then a good override and a committing group end theirs.
func TestEveryProblemFromKafkaIsOnThePage(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := topics.Apply(ctx, e.cl, prefix, []topics.Spec{regimestate.TableSpec()}, 1); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	e.produce(t, jsonRecord(t, "regime-table", "binance", regimestate.State{Scope: "binance", AtMs: now.Add(-time.Minute).UnixMilli(),
		Score: 4, Band: regimestate.Calm, SinceMs: now.Add(-time.Hour).UnixMilli(), Gate: regimestate.GateDegraded,
		Degraded: "reference BTCUSDT silent for 45s", Records: 12}))
	block := topics.Override{Scope: regimestate.OverrideScope, Action: "block", Reason: "exchange maintenance", By: "ops",
		CreatedMs: now.UnixMilli(), UntilMs: now.Add(time.Hour).UnixMilli()}
	e.produce(t, jsonRecord(t, "regime-overrides", regimestate.OverrideScope, block))
	garbage := &kgo.Record{Topic: prefix + "regime-overrides", Key: []byte(regimestate.OverrideScope), Value: []byte(`{"scope":"global","action":"open-sesame"`)}
	e.produce(t, garbage)
	e.produce(t, &kgo.Record{Topic: prefix + "allowlist", Key: []byte("binance"), Value: []byte(`{"exchange":"binance","types":null}`)})
	// The gate refused a regime state (the page itself saw only good ones):
	// known from its quarantine record alone.
	e.produce(t, jsonRecord(t, "quarantine", "binance", topics.QuarantineRecord{SourceTopic: prefix + "regime-table", SourcePartition: 0,
		SourceOffset: 1 << 40, Key: "binance", Consumer: prefix + "gate", AtMs: now.UnixMilli(),
		Error: "control record refused (last good value kept): regime state score 500 is outside [0, 100]"}))
	// 30 records quarantined by the orders sink: more than the 20 shown.
	for i := range 30 {
		e.produce(t, jsonRecord(t, "quarantine", fmt.Sprint("k", i), topics.QuarantineRecord{SourceTopic: prefix + "orders",
			SourceOffset: int64(i), Key: fmt.Sprint("k", i), Consumer: prefix + "sink.orders", AtMs: now.UnixMilli(),
			Error: fmt.Sprint("order quantity 1e999999 is not finite ", i)}))
	}
	// The positions worker committed 2 of 10 records and stopped.
	var recs []*kgo.Record
	for range 10 {
		recs = append(recs, &kgo.Record{Topic: prefix + "positions", Key: []byte("acct-0001"), Value: []byte("{}")})
	}
	e.produce(t, recs...)
	part := recs[0].Partition
	adm := kadm.NewClient(e.cl)
	group := prefix + "worker.positions"
	commit := func(at int64) {
		offs := kadm.Offsets{}
		offs.Add(kadm.Offset{Topic: prefix + "positions", Partition: part, At: at, LeaderEpoch: -1})
		if _, err := adm.CommitOffsets(ctx, group, offs); err != nil {
			t.Fatal(err)
		}
	}
	commit(2)
	// The gate refused an open while blocked.
	e.produce(t, jsonRecord(t, "open-intents.rejected", "acct-0001", topics.RejectedIntent{Intent: topics.OpenIntent{Account: "acct-0001",
		Exchange: "binance", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01"}, Band: "Calm", Score: 4, Reason: "override_block",
		Detail: "operator override blocks opens", AtMs: now.UnixMilli()}))

	e.start(t, statuspage.Config{StallAfter: 2 * time.Second, Streams: &statuspage.StreamSource{
		Accounts: func() []statuspage.Account {
			return []statuspage.Account{{ID: "acct-0001", Connected: true}, {ID: "acct-0002", Connected: false}}
		}}})

	kinds := func(s statuspage.Snapshot) map[string]statuspage.Problem {
		out := map[string]statuspage.Problem{}
		for _, p := range s.Problems {
			out[p.Kind+" "+p.Subject] = p
		}
		return out
	}
	want := map[string]string{ // problem -> severity
		"quarantine_growth " + prefix + "gate":                         "warn",
		"regime_degraded regime binance":                               "bad",
		"control_record_refused " + prefix + "regime-overrides global": "warn",
		"control_record_refused " + prefix + "allowlist binance":       "bad",
		"control_record_refused " + prefix + "regime-table binance":    "warn",
		"quarantine_growth " + prefix + "sink.orders":                  "warn",
		"group_stalled " + group + " on " + prefix + "positions":       "bad",
		"account_disconnected account acct-0002":                       "bad",
	}
	var s statuspage.Snapshot
	var ps map[string]statuspage.Problem
	testkit.Eventually(t, 30*time.Second, "every problem in status.json", func() bool {
		s = e.snapshot(t)
		ps = kinds(s)
		for k := range want {
			if _, ok := ps[k]; !ok {
				return false
			}
		}
		return true
	})
	if len(ps) != len(want) {
		t.Errorf("%d problems, want %d", len(ps), len(want))
	}
	for k, sev := range want {
		p, ok := ps[k]
		if !ok || p.Severity != sev || p.Reason == "" || p.SinceMs == 0 {
			t.Errorf("problem %q: %+v (present %v), want severity %s with a reason and a time", k, p, ok, sev)
		}
	}
	if t.Failed() {
		t.Fatalf("problems: %+v", s.Problems)
	}
	if p := ps["quarantine_growth "+prefix+"sink.orders"]; !strings.HasPrefix(p.Reason, "30 records quarantined in the last 10m0s") {
		t.Errorf("growth counts only the shown records: %s", p.Reason)
	}
	if p := ps["group_stalled "+group+" on "+prefix+"positions"]; !strings.Contains(p.Reason, "hold 8 records with no commit") {
		t.Errorf("stall: %s", p.Reason)
	}
	if p := ps["control_record_refused "+prefix+"allowlist binance"]; !strings.Contains(p.Reason, "dispatch in shadow mode for binance") {
		t.Errorf("allowlist: %s", p.Reason)
	}
	if s.Problems[0].Severity != "bad" || s.Problems[len(s.Problems)-1].Severity != "warn" {
		t.Errorf("problems not worst first: %+v", s.Problems)
	}
	sc := s.Regime.Scopes[0]
	if sc.Gate != regimestate.GateOverrideBlock || sc.OpensAllowed || sc.Override == nil || sc.Override.Reason != "exchange maintenance" || sc.Degraded == "" {
		t.Errorf("the block override after garbage: %+v", sc)
	}
	if a := s.Allowlist.Exchanges[0]; a.Source != "unreadable" || !a.Shadow {
		t.Errorf("allowlist: %+v", a)
	}
	if rf := s.Refusals; !rf.Available || len(rf.Records) != 1 || rf.Records[0].Reason != "override_block" || rf.Records[0].Symbol != "BTCUSDT" {
		t.Errorf("refusals: %+v", rf)
	}
	if len(s.Quarantine.Records) != 20 {
		t.Errorf("%d quarantine records shown, want 20", len(s.Quarantine.Records))
	}
	for _, g := range []struct {
		kind, severity string
		want           float64
	}{{"group_stalled", "bad", 1}, {"control_record_refused", "bad", 1}, {"control_record_refused", "warn", 2},
		{"quarantine_growth", "warn", 2}, {"position_drift", "bad", 0}} {
		if v, ok := e.gauge(t, "kraite_status_problems", map[string]string{"kind": g.kind, "severity": g.severity}); !ok || v != g.want {
			t.Errorf("kraite_status_problems{%s,%s} = %v (present %v), want %v", g.kind, g.severity, v, ok, g.want)
		}
	}
	page := string(e.get(t, "/"))
	for _, want := range []string{`id="problems-panel"`, `"kind":"group_stalled"`, `"kind":"control_record_refused"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s", want)
		}
	}

	// A good override and a committing worker end their problems.
	block.Action, block.Reason = "clear", ""
	e.produce(t, jsonRecord(t, "regime-overrides", regimestate.OverrideScope, block))
	commit(10)
	testkit.Eventually(t, 30*time.Second, "the override and stall problems gone", func() bool {
		ps = kinds(e.snapshot(t))
		_, ov := ps["control_record_refused "+prefix+"regime-overrides global"]
		_, st := ps["group_stalled "+group+" on "+prefix+"positions"]
		return !ov && !st && len(ps) == len(want)-2
	})
}

// TestDriftingPositionsAreProblems reads the positions table of each
// database: positions that disagree with the exchange for longer than the
// grace are listed (a fresh disagreement is a fill on its way, not yet).
// The trading section shows the open positions with their notional at the
// mark price and the newest fills.
func TestDriftingPositionsAreProblems(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			now := time.Now()
			if _, err := d.SeedUniverse(ctx); err != nil {
				t.Fatal(err)
			}
			setPrices(t, d, "binance", now)
			ins := d.Rebind("INSERT INTO positions (exchange, account, symbol, position_side, amount, exchange_amount, drift_since, status) VALUES (?, ?, ?, ?, ?, ?, ?, 'open')")
			for _, r := range []struct {
				account, symbol, amount string
				exAmount                any
				since                   time.Time
			}{
				{"acct-0001", "BTCUSDT", "0.5", "0.7", now.Add(-20 * time.Minute)},
				{"acct-0002", "ETHUSDT", "3", nil, now.Add(-8 * time.Minute)},
				{"acct-0003", "SOLUSDT", "1", "2", now.Add(-time.Minute)}, // within the grace
			} {
				if _, err := d.ExecContext(ctx, ins, "binance", r.account, r.symbol, "BOTH", r.amount, r.exAmount, r.since.UnixMilli()); err != nil {
					t.Fatal(err)
				}
			}
			e := newEnv(t)
			e.start(t, statuspage.Config{DB: d})
			var ps []statuspage.Problem
			testkit.Eventually(t, 30*time.Second, "two drifting positions", func() bool {
				ps = nil
				for _, p := range e.snapshot(t).Problems {
					if p.Kind == statuspage.KindPositionDrift {
						ps = append(ps, p)
					}
				}
				return len(ps) == 2
			})
			if ps[0].Subject != "acct-0001 BTCUSDT" || ps[0].SinceMs != now.Add(-20*time.Minute).UnixMilli() ||
				!strings.Contains(ps[0].Reason, "observed 0.5, exchange 0.7") || !strings.Contains(ps[1].Reason, "exchange not reported") {
				t.Fatalf("drift problems: %+v", ps)
			}
			fill := d.Rebind("INSERT INTO order_fills (exchange, account, order_id, trade_id, symbol, side, qty, price, realized_profit, transaction_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
			for i := range 12 {
				if _, err := d.ExecContext(ctx, fill, "binance", "acct-0001", 7, i, "BTCUSDT", "BUY", "0.1", "60000", "0", now.UnixMilli()+int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			var s statuspage.Snapshot
			// Wait for the newest fill too: a refresh between the tenth and
			// the twelfth insert shows ten fills, not the newest (seen in CI).
			testkit.Eventually(t, 30*time.Second, "the trading section with the newest fill", func() bool {
				s = e.snapshot(t)
				return s.Trading.Available && len(s.Trading.Fills) == 10 && s.Trading.Fills[0].AtMs == now.UnixMilli()+11
			})
			if len(s.Errors) > 0 {
				t.Fatalf("sources failing: %v", s.Errors)
			}
			tr := s.Trading
			if tr.OpenPositions != 3 || len(tr.Positions) != 3 || tr.Positions[0].Account != "acct-0001" ||
				tr.Positions[0].Notional == nil || *tr.Positions[0].Notional != 1.25 || tr.Exposure != 1.25+7.5+2.5 {
				t.Fatalf("positions: %+v (exposure %v)", tr.Positions, tr.Exposure)
			}
			if f := tr.Fills[0]; f.AtMs != now.UnixMilli()+11 || f.Symbol != "BTCUSDT" || f.Qty != "0.1" {
				t.Fatalf("newest fill: %+v", f)
			}
		})
	}
}
