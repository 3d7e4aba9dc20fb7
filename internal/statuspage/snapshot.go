package statuspage

import (
	"fmt"
	"math"
	"runtime"
	"runtime/debug"
	"sort"
	"time"
	"unicode/utf8"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

// Snapshot is what GET /status.json returns and the page renders. Times are
// Unix milliseconds; ages are seconds at GeneratedMs, null when unknown.
type Snapshot struct {
	GeneratedMs int64  `json:"generated_at"`
	Process     string `json:"process"`
	Prefix      string `json:"prefix"`
	Build       Build  `json:"build"`
	// StartedMs is when this process's status page started (about the
	// process's start).
	StartedMs int64 `json:"started_at"`
	// Sources are the page's refresh steps (broker admin calls, database
	// queries): whether the last run worked and how long it took.
	Sources []SourceStatus `json:"sources"`
	// Errors are the failing sources (kafka, fetch, lag, database, ...).
	Errors map[string]string `json:"errors,omitempty"`
	// Problems are what an operator must act on, worst first (problems.go).
	Problems []Problem `json:"problems"`
	// Components are this process's components with their health and
	// readiness (empty when the page has no checks).
	Components []Component `json:"components"`
	// ControlAlerts are the refused control records still in force.
	ControlAlerts []ControlAlert `json:"control_alerts"`
	Streams       Streams        `json:"streams"`
	Regime        Regime         `json:"regime"`
	Lag           Lag            `json:"lag"`
	Allowlist     Allowlist      `json:"allowlist"`
	MarkPrice     MarkPrice      `json:"mark_price"`
	Quarantine    Quarantine     `json:"quarantine"`
	Refusals      Refusals       `json:"refusals"`
	Trading       Trading        `json:"trading"`
	// Scheduler is who leads the scheduler (the scheduler-lease topic).
	Scheduler Scheduler `json:"scheduler"`
}

// Refusals are the gate's newest refusals (open-intents.rejected).
type Refusals struct {
	Section
	Records []RefusalRow `json:"records"`
}

// RefusalRow is one refused open intent; text fields are cut.
type RefusalRow struct {
	AtMs     int64   `json:"at"`
	Account  string  `json:"account"`
	Exchange string  `json:"exchange"`
	Symbol   string  `json:"symbol"`
	Side     string  `json:"side"`
	Size     string  `json:"size"`
	Reason   string  `json:"reason"`
	Detail   string  `json:"detail,omitempty"`
	Band     string  `json:"band,omitempty"`
	Score    float64 `json:"score"`
}

// Build is what this binary is: module version, VCS revision, Go version.
type Build struct {
	Version  string `json:"version"`
	Revision string `json:"revision,omitempty"`
	Modified bool   `json:"modified,omitempty"`
	Go       string `json:"go"`
}

func readBuild() Build {
	b := Build{Version: "unknown", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Version = bi.Main.Version
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value[:min(12, len(s.Value))]
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

// SourceStatus is one refresh step's last run.
type SourceStatus struct {
	Name      string  `json:"name"`
	OK        bool    `json:"ok"`
	LatencyMs float64 `json:"latency_ms"`
	AtMs      int64   `json:"at"`
}

// Component is one component's state: "ok", "not_ready" (its readiness
// check fails) or "unhealthy" (its liveness check fails), with the
// check's reason and since when this page has seen it so.
type Component struct {
	Name    string `json:"name"`
	State   string `json:"state"`
	Reason  string `json:"reason,omitempty"`
	SinceMs int64  `json:"since,omitempty"`
}

// Section says whether a part of the page has a source, and if not why.
type Section struct {
	Available bool   `json:"available"`
	Note      string `json:"note,omitempty"`
}

// Streams are this process's WebSocket streams.
type Streams struct {
	Section
	Connected int             `json:"connected"`
	Total     int             `json:"total"`
	Accounts  []StreamAccount `json:"accounts"`
	Public    []StreamPublic  `json:"public"`
	// Reconnects and Gaps total the accounts' (since the process started).
	Reconnects int64 `json:"reconnects"`
	Gaps       int64 `json:"gaps"`
	// REST is this process's exchange REST client.
	REST REST `json:"rest"`
}

// REST is an exchange REST client's weight used and ban state, as this
// process's client last saw them.
type REST struct {
	Section
	Exchange    string `json:"exchange,omitempty"`
	UsedWeight  int64  `json:"used_weight"`
	WeightLimit int64  `json:"weight_limit"`
	// UsedAtMs is when the exchange reported the used weight (0: no
	// answer yet); the weight is per minute, so an older one is stale.
	UsedAtMs      int64 `json:"used_at,omitempty"`
	Banned        bool  `json:"banned"`
	BannedUntilMs int64 `json:"banned_until,omitempty"`
}

// StreamAccount is one user-data account's stream.
type StreamAccount struct {
	ID        string `json:"id"`
	Connected bool   `json:"connected"`
	// Problem is why an account that should stream is not running; Closed
	// why it is deliberately not streamed (disabled: not counted in Total,
	// not a problem).
	Problem     string   `json:"problem,omitempty"`
	Closed      string   `json:"closed,omitempty"`
	LastFrameMs int64    `json:"last_frame_at,omitempty"`
	Age         *float64 `json:"age_s"`
	// DownSinceMs is since when this page has seen the socket down.
	DownSinceMs int64 `json:"down_since,omitempty"`
	// Reconnects and Gaps count the socket's reconnects and the gap
	// markers published since the process started.
	Reconnects int64 `json:"reconnects"`
	Gaps       int64 `json:"gaps"`
	// ListenKeyAtMs is when the stream obtained its listenKey (at its last
	// connect), ListenKeyAge its age in seconds; KeptAliveAtMs when it
	// was last kept alive (0: not yet).
	ListenKeyAtMs int64    `json:"listen_key_at,omitempty"`
	ListenKeyAge  *float64 `json:"listen_key_age_s"`
	KeptAliveAtMs int64    `json:"kept_alive_at,omitempty"`
}

// StreamPublic is a public stream (mark prices).
type StreamPublic struct {
	Stream      string   `json:"stream"`
	LastFrameMs int64    `json:"last_frame_at,omitempty"`
	Age         *float64 `json:"age_s"`
	Reconnects  int64    `json:"reconnects"`
}

// Regime is the regime of every scope in the regime table.
type Regime struct {
	Section
	WindowMs int64         `json:"window_ms"`
	Scopes   []RegimeScope `json:"scopes"`
}

// RegimeScope is one scope's current regime, history and recent changes.
type RegimeScope struct {
	Scope        string  `json:"scope"`
	Score        float64 `json:"score"`
	Band         string  `json:"band"`
	Gate         string  `json:"gate"`
	GateReason   string  `json:"gate_reason"`
	OpensAllowed bool    `json:"opens_allowed"`
	// Degraded is why the regime cannot judge the market ("" when it can);
	// DegradedSinceMs is the event time the page first saw it degraded.
	Degraded        string                `json:"degraded,omitempty"`
	DegradedSinceMs int64                 `json:"degraded_since,omitempty"`
	AtMs            int64                 `json:"at"`
	Age             *float64              `json:"age_s"`
	SinceMs         int64                 `json:"since"`
	CooldownUntilMs int64                 `json:"cooldown_until,omitempty"`
	Records         int64                 `json:"records"`
	Inputs          map[string]float64    `json:"inputs,omitempty"`
	Override        *topics.Override      `json:"override,omitempty"`
	History         []Point               `json:"history"`
	Changes         []topics.RegimeChange `json:"changes"` // newest first
}

// Lag is consumer lag of the kraite groups, one row per group and topic.
type Lag struct {
	Section
	Total int64    `json:"total"`
	Rows  []LagRow `json:"rows"`
}

// LagRow is one group's lag on one topic.
type LagRow struct {
	Group      string    `json:"group"`
	State      string    `json:"state"`
	Members    int       `json:"members"`
	Topic      string    `json:"topic"`
	Queue      int       `json:"queue,omitempty"` // DESIGN.md section 4 queue number
	Lag        int64     `json:"lag"`
	Partitions []PartLag `json:"partitions"`
	// Stalled counts the partitions with records waiting and no commit
	// for Config.StallAfter.
	Stalled int `json:"stalled,omitempty"`
	// BehindS is the most any partition is behind, in seconds (see
	// behind.go), nil when none is or it is not known yet; BehindAtLeast
	// says it is older than the page's samples.
	BehindS       *float64 `json:"behind_s"`
	BehindAtLeast bool     `json:"behind_at_least,omitempty"`
	Err           string   `json:"error,omitempty"`
}

// PartLag is one partition's lag (-1 when unknown).
type PartLag struct {
	Partition int32 `json:"p"`
	Committed int64 `json:"committed"`
	End       int64 `json:"end"`
	Lag       int64 `json:"lag"`
	// StalledSinceMs is when the commit last moved, set while the
	// partition is stalled (records waiting, no commit for StallAfter).
	StalledSinceMs int64 `json:"stalled_since,omitempty"`
	// BehindS is how old the oldest record yet to consume is, at least
	// (seconds; nil when not behind or unknown).
	BehindS       *float64 `json:"behind_s"`
	BehindAtLeast bool     `json:"behind_at_least,omitempty"`
}

// Allowlist is the dispatch allowlist per exchange.
type Allowlist struct {
	Section
	Exchanges []AllowlistRow `json:"exchanges"`
}

// AllowlistRow is one exchange's allowlist; empty Types is shadow mode.
type AllowlistRow struct {
	Exchange  string   `json:"exchange"`
	Types     []string `json:"types"`
	Shadow    bool     `json:"shadow"`
	Source    string   `json:"source"` // "topic", "default" or "unreadable" (only garbage on the topic: shadow mode)
	UpdatedMs int64    `json:"updated_at,omitempty"`
	By        string   `json:"by,omitempty"`
}

// MarkPrice is mark-price freshness on the topic and, when this process
// has the database, per venue in exchange_symbols.
type MarkPrice struct {
	Section
	Topic    []MarkTopic `json:"topic"`
	Database Section     `json:"database"`
	Venues   []Venue     `json:"venues"`
}

// MarkTopic is the newest record of one key (exchange) on the topic.
type MarkTopic struct {
	Key      string   `json:"key"`
	NewestMs int64    `json:"newest"`
	Age      *float64 `json:"age_s"`
}

// Venue is one venue's mark prices in the database.
type Venue struct {
	Venue    string   `json:"venue"`
	Symbols  int64    `json:"symbols"`
	Priced   int64    `json:"priced"`
	NewestMs int64    `json:"newest,omitempty"`
	Age      *float64 `json:"age_s"`
}

// Quarantine is the quarantine topic: its record count and newest records.
type Quarantine struct {
	Section
	Total   int64           `json:"total"`
	Records []QuarantineRow `json:"records"`
}

// QuarantineRow is one quarantined record; Value is cut to valueMax runes.
type QuarantineRow struct {
	AtMs            int64  `json:"at"`
	Consumer        string `json:"consumer"`
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	Key             string `json:"key"`
	Error           string `json:"error"`
	Value           string `json:"value"`
}

// maxStateAge is the gate's limit on the regime state's age
// (gate.DefaultMaxStateAge; a test pins them equal).
const maxStateAge = 5 * time.Minute

// valueMax bounds the quarantined value shown per record.
const valueMax = 240

// notHere is the note of a section whose source this process does not run.
const notHere = "not in this process"

// Snapshot returns the status as of now.
func (c *Collector) Snapshot(now time.Time) Snapshot {
	// The process's own sources first, outside the lock: checks may wait
	// a little (a processor's readiness), records keep being applied.
	var health, ready []CheckResult
	if c.cfg.Checks != nil {
		health, ready = c.cfg.Checks()
	}
	var local []ControlAlert
	if c.cfg.ControlAlerts != nil {
		local = c.cfg.ControlAlerts()
	}
	s := c.st
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decodePendingLocked()
	snap := Snapshot{GeneratedMs: now.UnixMilli(), Process: c.cfg.Process, Prefix: c.cfg.Prefix, Build: c.build,
		StartedMs: c.started.UnixMilli(), Sources: make([]SourceStatus, 0, len(s.sources))}
	for _, src := range s.sources {
		snap.Sources = append(snap.Sources, src)
	}
	sort.Slice(snap.Sources, func(i, j int) bool { return snap.Sources[i].Name < snap.Sources[j].Name })
	if len(s.errs) > 0 {
		snap.Errors = make(map[string]string, len(s.errs))
		for k, v := range s.errs {
			snap.Errors[k] = v
		}
	}
	snap.Streams = buildStreams(c.cfg.Streams, now)
	s.noteStreams(snap.Streams, now)
	for i, a := range snap.Streams.Accounts {
		if t, ok := s.down[a.ID]; ok {
			snap.Streams.Accounts[i].DownSinceMs = t.UnixMilli()
		}
	}
	snap.Components = s.components(health, ready, now)
	snap.Regime = s.regimeView(now)
	snap.Lag = s.lagView(c.cfg.Prefix, now)
	snap.Allowlist = s.allowlistView(c.cfg.DefaultAllowlists)
	snap.MarkPrice = s.markView(now, c.cfg.DB != nil)
	snap.Quarantine = s.quarantineView()
	snap.Refusals = s.refusalsView()
	snap.Trading = s.tradingView(c.cfg.DB != nil)
	snap.Scheduler = s.schedulerView(now)
	s.trimGrowth(now.UnixMilli())
	snap.ControlAlerts = s.controlAlerts(local, now)
	snap.Problems = s.problems(&snap, now, c.cfg.ProblemWindow)
	return snap
}

func age(now time.Time, t time.Time) *float64 {
	if t.IsZero() {
		return nil
	}
	a := math.Round(now.Sub(t).Seconds()*10) / 10
	return &a
}

// buildStreams merges the accounts of the user-data producer with the last
// frame per (stream, account); a frame without an account is a public stream.
func buildStreams(src *StreamSource, now time.Time) Streams {
	if src == nil || src.Accounts == nil && src.LastFrames == nil {
		out := Streams{Section: Section{Note: notHere}, Accounts: []StreamAccount{}, Public: []StreamPublic{}}
		out.REST = buildREST(src, now)
		return out
	}
	out := Streams{Section: Section{Available: true}, Accounts: []StreamAccount{}, Public: []StreamPublic{}}
	out.REST = buildREST(src, now)
	counts := map[[2]string]StreamCount{}
	if src.Counts != nil {
		for _, c := range src.Counts() {
			k := [2]string{c.Stream, c.Account}
			prev := counts[k]
			counts[k] = StreamCount{Stream: c.Stream, Account: c.Account, Reconnects: prev.Reconnects + max(c.Reconnects, 0), Gaps: prev.Gaps + max(c.Gaps, 0)}
		}
	}
	perAccount := map[string]StreamCount{}
	for k, c := range counts {
		if k[1] != "" {
			p := perAccount[k[1]]
			p.Reconnects += c.Reconnects
			p.Gaps += c.Gaps
			perAccount[k[1]] = p
		}
	}
	last := map[string]time.Time{}
	var frames []Frame
	if src.LastFrames != nil {
		frames = src.LastFrames()
	}
	for _, f := range frames {
		if f.Account == "" {
			out.Public = append(out.Public, StreamPublic{Stream: f.Stream, LastFrameMs: f.At.UnixMilli(), Age: age(now, f.At),
				Reconnects: counts[[2]string{f.Stream, ""}].Reconnects})
		} else if f.At.After(last[f.Account]) {
			last[f.Account] = f.At
		}
	}
	if src.Accounts == nil {
		out.Note = "no user-data producer in this process"
		return out
	}
	for _, a := range src.Accounts() {
		c := perAccount[a.ID]
		row := StreamAccount{ID: a.ID, Connected: a.Connected, Reconnects: c.Reconnects, Gaps: c.Gaps,
			Problem: clipReason(a.Problem), Closed: clipReason(a.Closed)}
		if !a.ListenKeyAt.IsZero() {
			row.ListenKeyAtMs, row.ListenKeyAge = a.ListenKeyAt.UnixMilli(), age(now, a.ListenKeyAt)
		}
		if !a.KeptAliveAt.IsZero() {
			row.KeptAliveAtMs = a.KeptAliveAt.UnixMilli()
		}
		out.Reconnects += c.Reconnects
		out.Gaps += c.Gaps
		if t, ok := last[a.ID]; ok {
			row.LastFrameMs, row.Age = t.UnixMilli(), age(now, t)
		}
		if a.Connected {
			out.Connected++
		}
		out.Accounts = append(out.Accounts, row)
	}
	sort.Slice(out.Accounts, func(i, j int) bool { return out.Accounts[i].ID < out.Accounts[j].ID })
	for _, a := range out.Accounts {
		if a.Closed == "" {
			out.Total++
		}
	}
	return out
}

func (s *state) regimeView(now time.Time) Regime {
	out := Regime{WindowMs: s.window, Scopes: []RegimeScope{}}
	names := make([]string, 0, len(s.scopes))
	for n, sc := range s.scopes {
		if sc.has {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		out.Scopes = append(out.Scopes, s.scopeView(s.scopes[n], now))
	}
	switch {
	case len(out.Scopes) > 0:
		out.Available = true
	case !s.following[s.n.table]:
		out.Note = "no regime table yet: is the regime processor running?"
	default:
		out.Note = "no regime state yet: are mark prices flowing?"
	}
	if e := s.errs["regime"]; e != "" {
		out.Note = e
	}
	return out
}

func (s *state) scopeView(sc *scope, now time.Time) RegimeScope {
	r := sc.cur
	st := &regimestate.State{Band: r.Band, CooldownUntilMs: r.CooldownUntilMs, Degraded: r.Degraded,
		OverrideUnreadable: r.OverrideUnreadable}
	if s.ovUnreadable != "" { // what the gate's overrides View holds now
		st.OverrideUnreadable = s.ovUnreadable
	}
	gate, reason := regimestate.GateStatus(st, s.override, now.UnixMilli())
	if gate != regimestate.GateOverrideAllow && gate != regimestate.GateOverrideBlock {
		// The gate's own clock check (gate.Decide): a state too old, or
		// ahead of the clock, refuses opens whatever it says.
		switch stAge := now.UnixMilli() - r.AtMs; {
		case -stAge > topics.DefaultMaxAhead.Milliseconds():
			gate, reason = regimestate.GateStale, fmt.Sprintf("regime state claims a time %s ahead of this clock", time.Duration(-stAge)*time.Millisecond)
		case stAge > maxStateAge.Milliseconds():
			gate, reason = regimestate.GateStale, fmt.Sprintf("regime state is %s old (the gate's limit is %s): is the regime processor running, are mark prices flowing?",
				(time.Duration(stAge)*time.Millisecond).Truncate(time.Second), maxStateAge)
		}
	}
	v := RegimeScope{Scope: r.Scope, Score: r.Score, Band: string(r.Band), Gate: gate, GateReason: reason,
		OpensAllowed: regimestate.Allowed(gate), Degraded: r.Degraded, DegradedSinceMs: sc.degradedSince, AtMs: r.AtMs, Age: age(now, time.UnixMilli(r.AtMs)), SinceMs: r.SinceMs,
		CooldownUntilMs: r.CooldownUntilMs, Records: r.Records, Inputs: r.Inputs.Map(),
		History: append([]Point{}, sc.points...), Changes: []topics.RegimeChange{}}
	if gate == regimestate.GateOverrideAllow || gate == regimestate.GateOverrideBlock {
		v.Override = s.override
	}
	for i := len(sc.changes) - 1; i >= 0 && len(v.Changes) < 10; i-- {
		v.Changes = append(v.Changes, sc.changes[i])
	}
	return v
}

func (s *state) lagView(prefix string, now time.Time) Lag {
	out := Lag{Rows: []LagRow{}}
	switch {
	case s.errs["lag"] != "":
		out.Note = s.errs["lag"]
	case !s.lagKnown:
		out.Note = "waiting for the first refresh"
	default:
		out.Available = true
		if len(s.lag) == 0 {
			out.Note = "no kraite consumer groups on the cluster"
		}
	}
	for _, g := range s.lag {
		byTopic := map[string]*LagRow{}
		var ts []string
		for _, p := range g.Partitions {
			row := byTopic[p.Topic]
			if row == nil {
				row = &LagRow{Group: g.Group, State: g.State, Members: len(g.Members), Topic: p.Topic, Err: g.Err}
				if spec, ok := topics.Lookup(prefix, p.Topic); ok && p.Topic == spec.Name(prefix) {
					row.Queue = spec.Queue
				}
				byTopic[p.Topic] = row
				ts = append(ts, p.Topic)
			}
			pl := PartLag{Partition: p.Partition, Committed: p.Committed, End: p.End, Lag: p.Lag}
			if d, atLeast, ok := s.behind(p.Topic, p.Partition, p.Committed, p.End, now); ok {
				sec := math.Round(d.Seconds()*10) / 10
				pl.BehindS, pl.BehindAtLeast = &sec, atLeast
				if row.BehindS == nil || sec > *row.BehindS {
					row.BehindS, row.BehindAtLeast = &sec, atLeast
				}
			}
			if t := s.stalledSince(g.Group, p, now); !t.IsZero() {
				pl.StalledSinceMs = t.UnixMilli()
				row.Stalled++
			}
			row.Partitions = append(row.Partitions, pl)
			if p.Lag > 0 {
				row.Lag += p.Lag
			}
		}
		if len(ts) == 0 {
			out.Rows = append(out.Rows, LagRow{Group: g.Group, State: g.State, Members: len(g.Members),
				Partitions: []PartLag{}, Err: g.Err})
			continue
		}
		sort.Strings(ts)
		for _, t := range ts {
			out.Rows = append(out.Rows, *byTopic[t])
			out.Total += byTopic[t].Lag
		}
	}
	return out
}

func (s *state) allowlistView(defaults map[string][]string) Allowlist {
	out := Allowlist{Section: Section{Available: s.following[s.n.allowlist]}, Exchanges: []AllowlistRow{}}
	if !out.Available {
		out.Note = "allowlist topic not found"
	}
	if e := s.errs["allowlist"]; e != "" {
		out.Note = e
	}
	seen := map[string]bool{}
	for ex, v := range s.allow {
		seen[ex] = true
		types := append([]string{}, v.Types...)
		out.Exchanges = append(out.Exchanges, AllowlistRow{Exchange: ex, Types: types, Shadow: len(types) == 0,
			Source: "topic", UpdatedMs: v.UpdatedMs, By: v.By})
	}
	for ex := range s.unreadable {
		seen[ex] = true
		out.Exchanges = append(out.Exchanges, AllowlistRow{Exchange: ex, Types: []string{}, Shadow: true, Source: "unreadable"})
	}
	for ex, types := range defaults {
		if !seen[ex] {
			out.Exchanges = append(out.Exchanges, AllowlistRow{Exchange: ex, Types: append([]string{}, types...),
				Shadow: len(types) == 0, Source: "default"})
		}
	}
	sort.Slice(out.Exchanges, func(i, j int) bool { return out.Exchanges[i].Exchange < out.Exchanges[j].Exchange })
	return out
}

func (s *state) markView(now time.Time, haveDB bool) MarkPrice {
	out := MarkPrice{Section: Section{Available: s.following[s.n.mark]}, Topic: []MarkTopic{}, Venues: []Venue{}}
	if !out.Available {
		out.Note = "mark-price topic not found"
	}
	keys := make([]string, 0, len(s.marks))
	for k := range s.marks {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out.Topic = append(out.Topic, MarkTopic{Key: k, NewestMs: s.marks[k].UnixMilli(), Age: age(now, s.marks[k])})
	}
	switch {
	case !haveDB:
		out.Database.Note = notHere
	case s.errs["database"] != "":
		out.Database.Note = s.errs["database"]
	case s.venuesAt.IsZero():
		out.Database.Note = "waiting for the first refresh"
	default:
		out.Database.Available = true
	}
	for _, v := range s.venues {
		row := Venue{Venue: v.venue, Symbols: v.symbols, Priced: v.priced}
		if !v.newest.IsZero() {
			row.NewestMs, row.Age = v.newest.UnixMilli(), age(now, v.newest)
		}
		out.Venues = append(out.Venues, row)
	}
	return out
}

func (s *state) quarantineView() Quarantine {
	out := Quarantine{Section: Section{Available: s.following[s.n.quarantine]}, Total: s.quarTotal,
		Records: make([]QuarantineRow, 0, len(s.quar))}
	if !out.Available {
		out.Note = "quarantine topic not found"
	}
	if e := s.errs["quarantine"]; e != "" {
		out.Note = e
	}
	for _, q := range s.quar {
		r := q.rec
		// Anyone may write the quarantine topic: every field is cut.
		out.Records = append(out.Records, QuarantineRow{AtMs: r.AtMs, Consumer: cut(r.Consumer, 128), SourceTopic: cut(r.SourceTopic, 128),
			SourcePartition: r.SourcePartition, SourceOffset: r.SourceOffset, Key: cut(r.Key, 128), Error: cut(r.Error, 600),
			Value: cut(r.Value, valueMax)})
	}
	return out
}

func (s *state) refusalsView() Refusals {
	out := Refusals{Section: Section{Available: s.following[s.n.rejected]}, Records: make([]RefusalRow, 0, len(s.refusals))}
	if !out.Available {
		out.Note = "refusals topic not found"
	}
	for _, f := range s.refusals {
		r, in := f.rec, f.rec.Intent
		out.Records = append(out.Records, RefusalRow{AtMs: r.AtMs, Account: cut(in.Account, 64), Exchange: cut(in.Exchange, 32),
			Symbol: cut(in.Symbol, 32), Side: cut(in.Side, 8), Size: cut(in.Size, 40), Reason: cut(r.Reason, 64),
			Detail: cut(r.Detail, 300), Band: cut(r.Band, 16), Score: r.Score})
	}
	return out
}

// cut shortens s to at most n runes, marking the cut.
func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// buildREST reads the process's REST client; "not on this box" without one.
func buildREST(src *StreamSource, now time.Time) REST {
	if src == nil || src.REST == nil {
		return REST{Section: Section{Note: "no exchange REST client on this box"}}
	}
	r := src.REST()
	out := REST{Section: Section{Available: true}, Exchange: r.Exchange, UsedWeight: max(r.UsedWeight, 0), WeightLimit: max(r.WeightLimit, 0)}
	if !r.UsedAt.IsZero() {
		out.UsedAtMs = r.UsedAt.UnixMilli()
	}
	if !r.BannedUntil.IsZero() {
		out.BannedUntilMs = r.BannedUntil.UnixMilli()
		out.Banned = r.BannedUntil.After(now)
	}
	return out
}

// maxReason bounds why an account is not streamed on the page.
const maxReason = 300

// clipReason bounds a reason to maxReason bytes on a rune boundary.
func clipReason(s string) string {
	if len(s) <= maxReason {
		return s
	}
	n := maxReason
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
