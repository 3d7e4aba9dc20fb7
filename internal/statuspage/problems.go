package statuspage

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// The problems panel lists what an operator must act on, each with a
// reason and since when, from sources every box has (the control topics,
// the quarantine topic, consumer lag, the regime table) plus, where this
// process runs them, the guarded Views' alerts and its own streams:
//
//   - a refused control record (allowlist, regime overrides, regime
//     table): from the process's processors (Config.ControlAlerts), from
//     the quarantine records the readers write (every box reads them), and
//     from the page's own check of the control topics it follows from the
//     start, so a box without dispatch or gate still shows it. An alert
//     ends when a later good record of the same key arrives;
//   - a degraded regime (the regime cannot judge the market: opens refused);
//   - quarantine growth: records quarantined in the last ProblemWindow, by
//     consumer;
//   - a stalled consumer group: a partition with records waiting whose
//     committed offset has not moved for StallAfter;
//   - user-data accounts whose socket is down.
//
// Every map here is bounded: a flood of garbage keys or consumers cannot
// grow the page's memory.

// Problem kinds.
const (
	KindControlRefused   = "control_record_refused"
	KindRegimeDegraded   = "regime_degraded"
	KindRegimeStale      = "regime_stale"
	KindQuarantineGrowth = "quarantine_growth"
	KindGroupStalled     = "group_stalled"
	KindDisconnected     = "account_disconnected"
	KindPositionDrift    = "position_drift"
	KindComponent        = "component"
	KindExchangeBanned   = "exchange_banned"
)

// Severities: bad needs action now (trading is affected), warn needs a look.
const (
	SeverityBad  = "bad"
	SeverityWarn = "warn"
)

// Problem is one line of the problems panel.
type Problem struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Subject  string `json:"subject"`
	Reason   string `json:"reason"`
	SinceMs  int64  `json:"since,omitempty"`
}

// ControlAlert is a control-topic record a reader refused as garbage (the
// shape of gate.Alert and dispatch.Alert, with every consumer that refused
// it). KeptLastGood false means the key has no good value: readers fail
// closed (dispatch in shadow mode, opens refused as override or state
// unreadable).
type ControlAlert struct {
	Topic        string   `json:"topic"`
	Key          string   `json:"key"`
	Partition    int32    `json:"partition"`
	Offset       int64    `json:"offset"`
	Consumers    []string `json:"consumers"`
	Error        string   `json:"error"`
	KeptLastGood bool     `json:"kept_last_good"`
	// AtMs is when the refusal was first known (since when it stands);
	// LastMs when the newest refusal it gathers was (unknown keys gather
	// many records).
	AtMs   int64 `json:"at"`
	LastMs int64 `json:"last_at"`
	// Sources say where the page learnt of it: "process" (this process's
	// processors), "quarantine" (a quarantine record), "page" (the page's
	// own check of the control topic).
	Sources []string `json:"sources"`
}

// UnknownKeys is the key of the one alert that gathers records refused for
// a key no reader looks up (as the processors' guards do).
const UnknownKeys = "(unknown keys)"

// Bounds of the problem state.
const (
	maxAlerts    = 256
	maxGood      = 1024
	maxConsumers = 64
	maxListed    = 5 // disconnected accounts named in one problem
	// lookback is how far back the quarantine topic is read at start (and
	// how long an unknown-keys alert lasts without a new record).
	lookback = time.Hour
	// maxScan bounds the quarantine records read back per partition at start.
	maxScan = 50_000
	// otherConsumers gathers quarantine counts past maxConsumers.
	otherConsumers = "(other consumers)"
	pageSource     = "page"
	quarSource     = "quarantine"
	processSource  = "process"
)

// alertID identifies an alert: the refused record, or for unknown keys the
// topic alone (one alert however many keys).
type alertID struct {
	topic     string
	key       string
	partition int32
	offset    int64
}

func idOf(a ControlAlert) alertID {
	if a.Key == UnknownKeys {
		return alertID{topic: a.Topic, key: UnknownKeys, partition: -1, offset: -1}
	}
	return alertID{topic: a.Topic, key: a.Key, partition: a.Partition, offset: a.Offset}
}

// raise records a derived alert (quarantine or page), merging with one
// already known for the same record. s.mu is held.
func (s *state) raise(a ControlAlert) {
	id := idOf(a)
	if cur, ok := s.alerts[id]; ok {
		cur.Consumers = union(cur.Consumers, a.Consumers)
		cur.Sources = union(cur.Sources, a.Sources)
		if a.Offset >= cur.Offset {
			cur.Error, cur.Partition, cur.Offset = a.Error, a.Partition, a.Offset
		}
		cur.AtMs, cur.LastMs = min(cur.AtMs, a.AtMs), max(cur.LastMs, a.AtMs)
		if a.Sources[0] == quarSource { // the reader's own verdict beats the page's guess
			cur.KeptLastGood = a.KeptLastGood
		}
		return
	}
	if len(s.alerts) >= maxAlerts {
		var oldest alertID
		first := true
		for k, v := range s.alerts {
			if first || v.AtMs < s.alerts[oldest].AtMs {
				oldest, first = k, false
			}
		}
		delete(s.alerts, oldest)
	}
	a.Consumers = union(nil, a.Consumers)
	a.Sources = union(nil, a.Sources)
	a.LastMs = a.AtMs
	s.alerts[id] = &a
}

// markGood notes the newest good record of a control key on a partition:
// alerts for older records of that key there are over (offsets of two
// partitions cannot be compared; one key lives in one partition unless a
// producer used another partitioner). s.mu is held.
func (s *state) markGood(topic, key string, partition int32, offset int64) {
	k := goodKey(topic, key, partition)
	cur, ok := s.good[k]
	if !ok && len(s.good) >= maxGood {
		return
	}
	if !ok || offset > cur {
		s.good[k] = offset
	}
	for id, a := range s.alerts {
		if id.topic == topic && id.key == key && a.Partition == partition && a.Offset <= offset {
			delete(s.alerts, id)
		}
	}
}

func goodKey(topic, key string, partition int32) string {
	return fmt.Sprintf("%s\x00%s\x00%d", topic, key, partition)
}

// superseded reports whether a good record of a's key came after a.
func (s *state) superseded(a ControlAlert) bool {
	if a.Key == UnknownKeys {
		return false
	}
	off, ok := s.good[goodKey(a.Topic, a.Key, a.Partition)]
	return ok && off >= a.Offset
}

func union(a, b []string) []string {
	out := append([]string{}, a...)
	for _, x := range b {
		if x != "" && !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	sort.Strings(out)
	return out
}

// isControl reports whether topic is a control topic the page follows.
func (n names) isControl(topic string) bool {
	return topic == n.allowlist || topic == n.overrides || topic == n.table
}

// fromQuarantine raises the alert a reader's quarantine record of a
// control record stands for. The reader says in its error whether the
// last good value was kept (see lookups.Guard). s.mu is held.
func (s *state) fromQuarantine(q quarantined) {
	r := q.rec
	if !s.n.isControl(r.SourceTopic) {
		return
	}
	// Anyone may write the quarantine topic: bound what is kept.
	a := ControlAlert{Topic: r.SourceTopic, Key: topics.Bound(r.Key, topics.MaxQuarantineKey), Partition: r.SourcePartition,
		Offset: r.SourceOffset, Consumers: []string{topics.Bound(r.Consumer, topics.MaxQuarantineHeader)}, Error: topics.Bound(r.Error, 512), KeptLastGood: !strings.Contains(r.Error, "readers fail closed"),
		AtMs: q.at, Sources: []string{quarSource}}
	if strings.Contains(r.Error, "a key no reader looks up") {
		a.Key, a.KeptLastGood = UnknownKeys, true
	}
	if s.superseded(a) {
		return
	}
	s.raise(a)
}

// checkOverride is the page's check of an overrides record: what the
// gate's own check refuses first (a tombstone, undecodable JSON, a scope
// other than the key or global, an unknown action). The gate checks more
// (times, lengths); its quarantine records bring those here.
func checkOverride(key string, raw []byte) (topics.Override, error) {
	var ov topics.Override
	if raw == nil {
		return ov, errors.New("override tombstone refused: end an override with action \"clear\"")
	}
	if err := json.Unmarshal(raw, &ov); err != nil {
		return ov, fmt.Errorf("decoding override: %w", err)
	}
	if ov.Scope != key {
		return ov, fmt.Errorf("override key %q differs from its scope %q", topics.Bound(key, 64), topics.Bound(ov.Scope, 64))
	}
	switch ov.Action {
	case "allow", "block", "clear":
	default:
		return ov, fmt.Errorf("override action %q is not allow, block or clear", topics.Bound(ov.Action, 64))
	}
	return ov, nil
}

// checkState is the page's check of a regime table record, as the gate's.
func checkState(raw []byte) (regimeRecord, error) {
	var rec regimeRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		return rec, fmt.Errorf("decoding regime state: %w", err)
	}
	switch rec.Band {
	case regimestate.Calm, regimestate.Elevated, regimestate.Fragile, regimestate.Critical, "":
	default:
		return rec, fmt.Errorf("regime state band %q is not known", topics.Bound(string(rec.Band), 64))
	}
	if !(rec.Score >= 0 && rec.Score <= 100) {
		return rec, fmt.Errorf("regime state score %v is outside [0, 100]", rec.Score)
	}
	if rec.AtMs <= 0 {
		return rec, fmt.Errorf("regime state time %d is not positive", rec.AtMs)
	}
	return rec, nil
}

// pageAlert is an alert of the page's own check of a control record.
func pageAlert(topic, key string, partition int32, offset int64, err error, kept bool, at time.Time) ControlAlert {
	a := ControlAlert{Topic: topic, Key: topics.Bound(key, topics.MaxQuarantineKey), Partition: partition, Offset: offset,
		Error: topics.Bound(err.Error(), 512), KeptLastGood: kept, AtMs: at.UnixMilli(), Sources: []string{pageSource}}
	if validate.Exchange(key) != nil && key != regimestate.OverrideScope {
		a.Key, a.KeptLastGood = UnknownKeys, true
	}
	return a
}

// qgrowth counts one consumer's quarantine records per minute.
type qgrowth struct {
	minutes []qminute // ascending
	lastErr string
	lastAt  int64
}

type qminute struct{ minute, n, first int64 }

// countQuarantine counts a quarantine record of consumer at (ms, the
// quarantine record's own Kafka time, never after now). s.mu is held.
func (s *state) countQuarantine(consumer, why string, at, now int64) {
	at = min(at, now)
	if at < now-lookback.Milliseconds() {
		return
	}
	consumer = topics.Bound(consumer, topics.MaxQuarantineHeader)
	g := s.growth[consumer]
	if g == nil {
		if len(s.growth) >= maxConsumers {
			consumer = otherConsumers
			g = s.growth[consumer]
		}
		if g == nil {
			g = &qgrowth{}
			s.growth[consumer] = g
		}
	}
	if at >= g.lastAt {
		g.lastAt, g.lastErr = at, topics.Bound(why, 300)
	}
	m := at / 60_000
	i := sort.Search(len(g.minutes), func(i int) bool { return g.minutes[i].minute >= m })
	if i < len(g.minutes) && g.minutes[i].minute == m {
		g.minutes[i].n++
		g.minutes[i].first = min(g.minutes[i].first, at)
		return
	}
	g.minutes = append(g.minutes, qminute{})
	copy(g.minutes[i+1:], g.minutes[i:])
	g.minutes[i] = qminute{minute: m, n: 1, first: at}
}

// trimGrowth forgets minutes older than the lookback. s.mu is held.
func (s *state) trimGrowth(now int64) {
	cut := (now - lookback.Milliseconds()) / 60_000
	for c, g := range s.growth {
		i := sort.Search(len(g.minutes), func(i int) bool { return g.minutes[i].minute >= cut })
		g.minutes = append(g.minutes[:0], g.minutes[i:]...)
		if len(g.minutes) == 0 {
			delete(s.growth, c)
		}
	}
}

// partKey names one partition of one group.
type partKey struct {
	group, topic string
	partition    int32
}

// partTrack is when a group's committed offset on a partition last moved
// or had nothing waiting (or the page first saw it).
type partTrack struct {
	committed int64
	movedAt   time.Time
}

// trackCommits notes which committed offsets moved since the last lag
// refresh. s.mu is held.
func (s *state) trackCommits(gs []groupadmin.GroupStatus, now time.Time) {
	seen := make(map[partKey]bool, len(s.commits))
	for _, g := range gs {
		for _, p := range g.Partitions {
			k := partKey{g.Group, p.Topic, p.Partition}
			seen[k] = true
			t := s.commits[k]
			if t == nil {
				s.commits[k] = &partTrack{committed: p.Committed, movedAt: now}
				continue
			}
			// A caught-up partition is idle, not stuck: its clock restarts
			// (as health.StallWatch does), so the first record after a quiet
			// spell is not a stall the moment it lands.
			if t.committed != p.Committed || p.Lag <= 0 {
				t.committed, t.movedAt = p.Committed, now
			}
		}
	}
	for k := range s.commits {
		if !seen[k] {
			delete(s.commits, k)
		}
	}
}

// stalledSince is when the partition's commit last moved if it holds
// waiting records and has not moved for stallAfter; zero otherwise.
func (s *state) stalledSince(group string, p groupadmin.PartitionStatus, now time.Time) time.Time {
	if p.Lag <= 0 {
		return time.Time{}
	}
	t := s.commits[partKey{group, p.Topic, p.Partition}]
	if t == nil || now.Sub(t.movedAt) < s.stallAfter {
		return time.Time{}
	}
	return t.movedAt
}

// noteStreams keeps since when each account has been disconnected (as
// this page saw it) and returns it. s.mu is held.
func (s *state) noteStreams(st Streams, now time.Time) {
	down := make(map[string]time.Time, len(s.down))
	for _, a := range st.Accounts {
		if a.Connected || a.Closed != "" {
			continue
		}
		since, ok := s.down[a.ID]
		if !ok {
			since = now
		}
		down[a.ID] = since
	}
	s.down = down
}

// problems lists the problems of snap (built at now), worst first, then
// longest-standing first. s.mu is held.
func (s *state) problems(snap *Snapshot, now time.Time, window time.Duration) []Problem {
	out := []Problem{}
	for _, c := range snap.Components {
		if c.State != stateOK {
			out = append(out, Problem{Kind: KindComponent, Severity: SeverityBad, Subject: c.Name,
				Reason: strings.ReplaceAll(c.State, "_", " ") + ": " + c.Reason, SinceMs: c.SinceMs})
		}
	}
	if r := snap.Streams.REST; r.Banned {
		out = append(out, Problem{Kind: KindExchangeBanned, Severity: SeverityBad, Subject: "REST " + orDash(r.Exchange),
			Reason: "the exchange banned this box's IP (418) until " + time.UnixMilli(r.BannedUntilMs).UTC().Format("15:04:05 MST") +
				": no REST calls (order sync, positions, listenKeys) until then"})
	}
	for _, a := range snap.ControlAlerts {
		out = append(out, controlProblem(s.n, a))
	}
	for _, sc := range snap.Regime.Scopes {
		if sc.Gate == regimestate.GateStale {
			out = append(out, Problem{Kind: KindRegimeStale, Severity: SeverityBad, Subject: "regime " + sc.Scope,
				Reason: sc.GateReason + "; the gate refuses opens as stale", SinceMs: sc.AtMs})
		}
		if sc.Degraded != "" {
			p := Problem{Kind: KindRegimeDegraded, Severity: SeverityBad, Subject: "regime " + sc.Scope,
				Reason: sc.GateReason, SinceMs: sc.DegradedSinceMs}
			if sc.OpensAllowed {
				p.Severity, p.Reason = SeverityWarn, "regime degraded: "+sc.Degraded+" (opens allowed by "+sc.Gate+")"
			} else if sc.Gate != regimestate.GateDegraded {
				p.Reason = "regime degraded: " + sc.Degraded + "; gate " + sc.Gate + ": " + sc.GateReason
			}
			out = append(out, p)
		}
	}
	out = append(out, s.growthProblems(now, window)...)
	for _, r := range snap.Lag.Rows {
		if r.Stalled == 0 {
			continue
		}
		var since int64
		var behind int64
		for _, p := range r.Partitions {
			if p.StalledSinceMs != 0 {
				behind += p.Lag
				if since == 0 || p.StalledSinceMs < since {
					since = p.StalledSinceMs
				}
			}
		}
		reason := fmt.Sprintf("%d of %d partitions hold %d records with no commit for %s (state %s, %d members)",
			r.Stalled, len(r.Partitions), behind, now.Sub(time.UnixMilli(since)).Truncate(time.Second), orDash(r.State), r.Members)
		if r.BehindS != nil {
			at := ""
			if r.BehindAtLeast {
				at = "at least "
			}
			reason += fmt.Sprintf("; the oldest waiting record is %s%s old", at, (time.Duration(*r.BehindS) * time.Second).Truncate(time.Second))
		}
		out = append(out, Problem{Kind: KindGroupStalled, Severity: SeverityBad, Subject: r.Group + " on " + r.Topic,
			Reason: reason, SinceMs: since})
	}
	out = append(out, disconnectedProblems(snap.Streams, s.down)...)
	out = append(out, s.driftProblems()...)
	rank := map[string]int{SeverityBad: 0, SeverityWarn: 1}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Severity] != rank[out[j].Severity] {
			return rank[out[i].Severity] < rank[out[j].Severity]
		}
		return out[i].SinceMs < out[j].SinceMs
	})
	return out
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// controlProblem says what a refused control record does to trading.
func controlProblem(n names, a ControlAlert) Problem {
	p := Problem{Kind: KindControlRefused, Severity: SeverityWarn, Subject: a.Topic + " " + a.Key, SinceMs: a.AtMs}
	effect := "last good value kept"
	switch {
	case a.Key == UnknownKeys:
		effect = "records for keys no reader looks up: ignored"
	case a.KeptLastGood:
	case a.Topic == n.allowlist:
		p.Severity, effect = SeverityBad, "no good allowlist: dispatch in shadow mode for "+a.Key
	case a.Topic == n.overrides:
		p.Severity, effect = SeverityBad, "no good override: opens refused (override_unreadable)"
	case a.Topic == n.table:
		p.Severity, effect = SeverityBad, "no good regime state: opens refused (state_unreadable)"
	default:
		p.Severity, effect = SeverityBad, "no good value: readers fail closed"
	}
	by := strings.Join(a.Consumers, ", ")
	if by == "" {
		by = "the status page's check"
	}
	p.Reason = fmt.Sprintf("%s; record %d@%d refused by %s: %s", effect, a.Partition, a.Offset, by, a.Error)
	return p
}

// growthProblems: one per consumer that quarantined records in the window.
func (s *state) growthProblems(now time.Time, window time.Duration) []Problem {
	cut := now.Add(-window).UnixMilli()
	var out []Problem
	for c, g := range s.growth {
		var n, first int64
		for _, m := range g.minutes {
			// a minute straddling the cut counts whole: a bound, not an estimate
			if (m.minute+1)*60_000 <= cut {
				continue
			}
			n += m.n
			if first == 0 || m.first < first {
				first = m.first
			}
		}
		if n == 0 {
			continue
		}
		out = append(out, Problem{Kind: KindQuarantineGrowth, Severity: SeverityWarn, Subject: c,
			Reason:  fmt.Sprintf("%s quarantined in the last %s; newest: %s", plural(n, "record"), window, g.lastErr),
			SinceMs: first})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Subject < out[j].Subject })
	return out
}

// driftProblems: one per drifting position, or one for all of them
// past maxListed (naming the oldest).
func (s *state) driftProblems() []Problem {
	if s.driftN == 0 || len(s.drifts) == 0 {
		return nil
	}
	line := func(d driftRow) string {
		ex := d.exchangeAmount
		if ex == "" {
			ex = "not reported"
		}
		return fmt.Sprintf("%s %s %s %s: observed %s, exchange %s", topics.Bound(d.exchange, 32), topics.Bound(d.account, 64),
			topics.Bound(d.symbol, 64), topics.Bound(d.side, 8), topics.Bound(d.amount, 40), topics.Bound(ex, 40))
	}
	if s.driftN > maxListed {
		var names []string
		for _, d := range s.drifts[:min(3, len(s.drifts))] {
			names = append(names, line(d))
		}
		return []Problem{{Kind: KindPositionDrift, Severity: SeverityBad, Subject: fmt.Sprintf("%d positions", s.driftN),
			Reason:  "observed positions differ from the exchange's beyond the grace; oldest: " + strings.Join(names, "; "),
			SinceMs: s.drifts[0].since}}
	}
	out := make([]Problem, 0, len(s.drifts))
	for _, d := range s.drifts {
		out = append(out, Problem{Kind: KindPositionDrift, Severity: SeverityBad,
			Subject: topics.Bound(d.account, 64) + " " + topics.Bound(d.symbol, 64),
			Reason:  line(d) + " (the order stream and the sweep disagree with the exchange)", SinceMs: d.since})
	}
	return out
}

// Component states.
const (
	stateOK        = "ok"
	stateNotReady  = "not_ready"
	stateUnhealthy = "unhealthy"
)

// components merges the liveness and readiness results per component
// (a failing liveness check wins) and keeps since when each has been
// failing. s.mu is held.
func (s *state) components(health, ready []CheckResult, now time.Time) []Component {
	byName := map[string]*Component{}
	var names []string
	set := func(rs []CheckResult, bad string) {
		for _, r := range rs {
			c := byName[r.Name]
			if c == nil {
				c = &Component{Name: r.Name, State: stateOK}
				byName[r.Name] = c
				names = append(names, r.Name)
			}
			if r.Err != nil && c.State != stateUnhealthy {
				c.State, c.Reason = bad, topics.Bound(r.Err.Error(), 600)
			}
		}
	}
	set(health, stateUnhealthy)
	set(ready, stateNotReady)
	sort.Strings(names)
	failing := map[string]time.Time{}
	out := make([]Component, 0, len(names))
	for _, n := range names {
		c := byName[n]
		if c.State != stateOK {
			since, ok := s.failing[n+"\x00"+c.State]
			if !ok {
				since = now
			}
			failing[n+"\x00"+c.State] = since
			c.SinceMs = since.UnixMilli()
		}
		out = append(out, *c)
	}
	s.failing = failing
	return out
}

// disconnectedProblems: one per disconnected account, or one for all of
// them past maxListed.
func disconnectedProblems(st Streams, down map[string]time.Time) []Problem {
	var ids []string
	var since int64
	why := map[string]string{}
	for _, a := range st.Accounts {
		if !a.Connected && a.Closed == "" {
			ids = append(ids, a.ID)
			why[a.ID] = a.Problem
			if t := down[a.ID]; !t.IsZero() && (since == 0 || t.UnixMilli() < since) {
				since = t.UnixMilli()
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if len(ids) > maxListed {
		return []Problem{{Kind: KindDisconnected, Severity: SeverityBad,
			Subject: fmt.Sprintf("%d of %d accounts", len(ids), st.Total),
			Reason:  fmt.Sprintf("user-data sockets down: %s and %d more", strings.Join(ids[:maxListed], ", "), len(ids)-maxListed),
			SinceMs: since}}
	}
	out := make([]Problem, 0, len(ids))
	for _, id := range ids {
		reason := "user-data socket down: no fills or order updates from this account"
		if why[id] != "" {
			reason = "not streamed: " + why[id] + ": no fills or order updates from this account"
		}
		out = append(out, Problem{Kind: KindDisconnected, Severity: SeverityBad, Subject: "account " + id,
			Reason: reason, SinceMs: down[id].UnixMilli()})
	}
	return out
}

// controlAlerts merges this process's alerts (local) with the derived
// ones still in force, newest first. s.mu is held.
func (s *state) controlAlerts(local []ControlAlert, now time.Time) []ControlAlert {
	merged := map[alertID]*ControlAlert{}
	var order []alertID
	add := func(a ControlAlert, authoritative bool) {
		id := idOf(a)
		cur, ok := merged[id]
		if !ok {
			c := a
			c.Consumers, c.Sources = union(nil, a.Consumers), union(nil, a.Sources)
			merged[id] = &c
			order = append(order, id)
			return
		}
		cur.Consumers = union(cur.Consumers, a.Consumers)
		cur.Sources = union(cur.Sources, a.Sources)
		if authoritative {
			cur.KeptLastGood, cur.Error = a.KeptLastGood, a.Error
		}
		cur.AtMs, cur.LastMs = min(cur.AtMs, a.AtMs), max(cur.LastMs, a.AtMs, a.LastMs)
	}
	for _, a := range local {
		a.Sources, a.LastMs = []string{processSource}, a.AtMs
		add(a, true)
	}
	expired := now.Add(-lookback).UnixMilli()
	for id, a := range s.alerts {
		if a.Key == UnknownKeys && a.LastMs < expired {
			delete(s.alerts, id)
			continue
		}
		add(*a, false)
	}
	out := make([]ControlAlert, 0, len(order))
	for _, id := range order {
		out = append(out, *merged[id])
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].AtMs > out[j].AtMs })
	return out
}

// plural is "1 record", "2 records".
func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
