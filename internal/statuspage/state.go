package statuspage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/queues/scheduler"
	"github.com/kraite/stream/topics"
)

// sampleGap is the least event time between two regime points of the same
// band: 2,400 points an hour at most, whatever the input rate (states are
// decoded every refresh, 2 s, and on each request).
const sampleGap = 1500 * time.Millisecond

// maxPoints and maxChanges bound the regime history whatever the window.
const (
	maxPoints  = 4000
	maxChanges = 200
)

// names are the topics the collector follows.
type names struct {
	table, changes, overrides, allowlist, quarantine, mark, rejected, lease string
}

func topicNames(prefix string) names {
	return names{
		table:      regimestate.TableSpec().Name(prefix),
		changes:    topics.RegimeChanges.Name(prefix),
		overrides:  topics.RegimeOverrides.Name(prefix),
		allowlist:  topics.Allowlist.Name(prefix),
		quarantine: topics.Quarantine.Name(prefix),
		mark:       topics.MarkPrice.Name(prefix),
		rejected:   topics.OpenIntentsRejected.Name(prefix),
		lease:      topics.SchedulerLease.Name(prefix),
	}
}

// follow is a topic to consume from tail records before the end of each
// partition (0: from the start).
type follow struct {
	topic string
	tail  int64
}

func (n names) follows(quarantine int) []follow {
	return []follow{
		{n.table, 16}, // a few states per partition: the newest of each scope
		{n.changes, maxChanges},
		{n.overrides, 0},
		{n.allowlist, 0},
		{n.quarantine, int64(quarantine)},
		{n.mark, 1},
		{n.rejected, maxRefusals},
		{n.lease, 1}, // the newest lease: who leads the scheduler
	}
}

// regimeRecord is the part of a regimestate.State the page shows; the rolling
// market state (most of the bytes) is skipped.
type regimeRecord struct {
	Scope           string           `json:"scope"`
	AtMs            int64            `json:"at"`
	Score           float64          `json:"score"`
	Band            regimestate.Band `json:"band"`
	SinceMs         int64            `json:"since"`
	CooldownUntilMs int64            `json:"cooldown_until,omitempty"`
	Gate            string           `json:"gate"`
	Degraded        string           `json:"degraded,omitempty"`
	// OverrideUnreadable: the regime saw only garbage on the overrides
	// topic at its last record (fail closed).
	OverrideUnreadable string             `json:"override_unreadable,omitempty"`
	Inputs             regimestate.Inputs `json:"inputs"`
	Records            int64              `json:"records"`
}

// Point is one regime score sample: event time (ms), score and band.
type Point struct {
	T int64   `json:"t"`
	S float64 `json:"s"`
	B string  `json:"b"`
}

// scope is the regime of one scope (exchange): its newest state, its score
// history and band changes, both sorted by event time.
type scope struct {
	cur regimeRecord
	has bool
	// degradedSince is the event time of the first state of the current
	// degraded spell (0 when the newest state is not degraded).
	degradedSince int64
	points        []Point
	changes       []topics.RegimeChange
}

// add inserts p in time order. Unless force, a point closer than gap to the
// previous one with the same band is dropped (sampling).
func (sc *scope) add(p Point, gap int64, force bool) {
	i := sort.Search(len(sc.points), func(i int) bool { return sc.points[i].T > p.T })
	if i > 0 {
		prev := sc.points[i-1]
		if prev.T == p.T && prev.B == p.B || !force && prev.B == p.B && p.T-prev.T < gap {
			return
		}
	}
	sc.points = append(sc.points, Point{})
	copy(sc.points[i+1:], sc.points[i:])
	sc.points[i] = p
}

// trim drops what is older than window before the newest event time.
func (sc *scope) trim(window int64) {
	newest := sc.cur.AtMs
	if n := len(sc.points); n > 0 {
		newest = max(newest, sc.points[n-1].T)
	}
	cut := newest - window
	i := sort.Search(len(sc.points), func(i int) bool { return sc.points[i].T >= cut })
	i = max(i, len(sc.points)-maxPoints)
	sc.points = append(sc.points[:0], sc.points[i:]...)
	j := sort.Search(len(sc.changes), func(j int) bool { return sc.changes[j].AtMs >= cut })
	j = max(j, len(sc.changes)-maxChanges)
	sc.changes = append(sc.changes[:0], sc.changes[j:]...)
}

// quarantined is a quarantine record, where it sits and when it was
// quarantined (its Kafka timestamp, ms).
type quarantined struct {
	rec       topics.QuarantineRecord
	partition int32
	offset    int64
	at        int64
}

// pendingState is the newest undecoded regime state of a scope.
type pendingState struct {
	raw       []byte
	partition int32
	offset    int64
	at        time.Time
}

// state is everything the collector knows; every method locks mu.
type state struct {
	n          names
	window     int64 // ms
	quarN      int
	stallAfter time.Duration

	mu        sync.Mutex
	following map[string]bool
	pending   map[string]pendingState // newest undecoded regime state per scope
	scopes    map[string]*scope
	override  *topics.Override
	// ovUnreadable is why the overrides topic holds no good override for
	// the scope ("" when it does or holds nothing): the gate refuses opens.
	ovUnreadable string
	allow        map[string]topics.AllowlistValue
	// unreadable are the exchanges whose allowlist records are all
	// garbage: dispatch is in shadow mode for them, whatever the default.
	unreadable map[string]bool
	quar       []quarantined // newest first, at most quarN
	quarTotal  int64
	quarKnown  bool
	marks      map[string]time.Time // mark-price record key -> newest frame
	lag        []groupadmin.GroupStatus
	lagKnown   bool
	venues     []venueRow
	venuesAt   time.Time
	errs       map[string]string // section -> why it failed last

	// problems (problems.go)
	alerts    map[alertID]*ControlAlert // derived: quarantine records and the page's checks
	good      map[string]int64          // goodKey(topic, key, partition) -> offset of its newest good record
	growth    map[string]*qgrowth       // quarantine records per consumer and minute
	commits   map[partKey]*partTrack    // when each group's commit last moved
	down      map[string]time.Time      // account -> disconnected since (as seen here)
	failing   map[string]time.Time      // component -> failing since (as seen here)
	sources   map[string]SourceStatus   // refresh step -> its last run
	ends      map[topicPart][]endSample // when each end offset was first seen (behind.go)
	trading   Trading
	tradingAt time.Time
	refusals  []refusal        // newest first, at most maxRefusals
	drifts    []driftRow       // the oldest drifting positions (database)
	driftN    int64            // how many positions drift
	lease     *scheduler.Lease // the newest good scheduler lease
	leaseBad  string           // why the newest lease record was refused
}

func newState(prefix string, window time.Duration, quarantine int) *state {
	return &state{n: topicNames(prefix), window: window.Milliseconds(), quarN: quarantine, stallAfter: 2 * time.Minute,
		following: map[string]bool{}, pending: map[string]pendingState{}, scopes: map[string]*scope{},
		allow: map[string]topics.AllowlistValue{}, marks: map[string]time.Time{}, errs: map[string]string{},
		unreadable: map[string]bool{}, sources: map[string]SourceStatus{}, ends: map[topicPart][]endSample{}, alerts: map[alertID]*ControlAlert{}, good: map[string]int64{}, growth: map[string]*qgrowth{},
		commits: map[partKey]*partTrack{}, down: map[string]time.Time{}, failing: map[string]time.Time{}}
}

func (s *state) setErr(section string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.errs, section)
		return
	}
	s.errs[section] = err.Error()
}

func (s *state) isFollowing(topic string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.following[topic]
}

func (s *state) setFollowing(topic string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.following[topic] = true
}

// apply folds fetched records into the state.
func (s *state) apply(fs kgo.Fetches) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	fs.EachRecord(func(r *kgo.Record) { s.applyRecord(r, now) })
}

func (s *state) applyRecord(r *kgo.Record, now time.Time) {
	key := string(r.Key)
	switch r.Topic {
	case s.n.table:
		if r.Value == nil {
			// The gate refuses a tombstone and keeps the state it has.
			sc := s.scopes[key]
			s.raise(pageAlert(r.Topic, key, r.Partition, r.Offset, errors.New("regime state tombstone refused"),
				sc != nil && sc.has, now))
			return
		}
		s.pending[key] = pendingState{raw: r.Value, partition: r.Partition, offset: r.Offset, at: now}
	case s.n.changes:
		s.addChange(r.Value)
	case s.n.overrides:
		s.applyOverride(r, now)
	case s.n.allowlist:
		s.applyAllowlist(r, now)
	case s.n.quarantine:
		s.addQuarantine(r, now)
	case s.n.rejected:
		s.addRefusal(r)
	case s.n.lease:
		s.applyLease(r, now)
	case s.n.mark:
		at := topics.ParseReceivedAt(r)
		if at.IsZero() {
			at = r.Timestamp
		}
		if key == "" {
			key = topics.Header(r, topics.HeaderExchange)
		}
		if at.After(s.marks[key]) {
			s.marks[key] = at
		}
	}
}

func (s *state) scope(name string) *scope {
	sc := s.scopes[name]
	if sc == nil {
		sc = &scope{}
		s.scopes[name] = sc
	}
	return sc
}

// decodePending decodes the newest regime state of every scope seen since
// the last call and samples it into the history.
func (s *state) decodePending() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decodePendingLocked()
}

func (s *state) decodePendingLocked() {
	if len(s.pending) == 0 {
		return
	}
	var errs []error
	for key, p := range s.pending {
		delete(s.pending, key)
		rec, err := checkState(p.raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("the regime state of %s: %w", topics.Bound(key, 64), err))
			sc := s.scopes[key]
			s.raise(pageAlert(s.n.table, key, p.partition, p.offset, err, sc != nil && sc.has, p.at))
			continue
		}
		if rec.Scope == "" {
			rec.Scope = key
		}
		s.setRegime(rec)
		s.markGood(s.n.table, topics.Bound(key, topics.MaxQuarantineKey), p.partition, p.offset)
	}
	if err := errors.Join(errs...); err != nil {
		s.errs["regime"] = err.Error()
	} else {
		delete(s.errs, "regime")
	}
}

// setRegime makes rec the current state of its scope unless it is older.
func (s *state) setRegime(rec regimeRecord) {
	sc := s.scope(rec.Scope)
	if sc.has && rec.AtMs < sc.cur.AtMs {
		return
	}
	switch {
	case rec.Degraded == "":
		sc.degradedSince = 0
	case sc.degradedSince == 0 || sc.degradedSince > rec.AtMs:
		sc.degradedSince = rec.AtMs
	}
	sc.cur, sc.has = rec, true
	sc.add(Point{T: rec.AtMs, S: rec.Score, B: string(rec.Band)}, sampleGap.Milliseconds(), false)
	sc.trim(s.window)
}

// addChange records a band or gate change and its point in the history.
func (s *state) addChange(raw []byte) {
	var ch topics.RegimeChange
	if err := json.Unmarshal(raw, &ch); err != nil || ch.Scope == "" {
		return // not ours to judge: the history just lacks this point
	}
	sc := s.scope(ch.Scope)
	i := sort.Search(len(sc.changes), func(i int) bool { return sc.changes[i].AtMs > ch.AtMs })
	sc.changes = append(sc.changes, topics.RegimeChange{})
	copy(sc.changes[i+1:], sc.changes[i:])
	sc.changes[i] = ch
	sc.add(Point{T: ch.AtMs, S: ch.Score, B: ch.To}, 0, true)
	sc.trim(s.window)
}

// applyAllowlist applies an allowlist record as dispatch does
// (dispatch.CheckAllowlist): a refused record (garbage, a tombstone, an
// unknown exchange or type) changes nothing shown and raises an alert;
// the last good list stays, or the default when there was none... which
// dispatch then does not apply: with no good record it is in shadow mode
// (see allowlistView).
func (s *state) applyAllowlist(r *kgo.Record, now time.Time) {
	key := string(r.Key)
	v, err := dispatch.CheckAllowlist(key, r.Value, now)
	if err != nil {
		_, kept := s.allow[key]
		s.raise(pageAlert(r.Topic, key, r.Partition, r.Offset, err, kept, now))
		if validate.Exchange(key) == nil && !kept {
			s.unreadable[key] = true
		}
		return
	}
	if v.UpdatedMs == 0 {
		v.UpdatedMs = r.Timestamp.UnixMilli()
	}
	s.allow[v.Exchange] = v
	delete(s.unreadable, key)
	s.markGood(r.Topic, key, r.Partition, r.Offset)
}

// applyOverride applies an overrides record as the gate does: a refused
// record keeps the active override (never removes a block) and raises an
// alert.
func (s *state) applyOverride(r *kgo.Record, now time.Time) {
	key := string(r.Key)
	ov, err := checkOverride(key, r.Value)
	if err == nil && key != regimestate.OverrideScope {
		err = fmt.Errorf("override scope %q is not known (want %q)", topics.Bound(key, 64), regimestate.OverrideScope)
	}
	if err != nil {
		s.raise(pageAlert(r.Topic, key, r.Partition, r.Offset, err, s.override != nil, now))
		if key == regimestate.OverrideScope && s.override == nil {
			s.ovUnreadable = topics.Bound(err.Error(), 300)
		}
		return
	}
	s.override, s.ovUnreadable = &ov, ""
	s.markGood(r.Topic, key, r.Partition, r.Offset)
}

// addQuarantine keeps the quarN newest records (by their time, then offset).
// It also counts the record for quarantine growth and raises the alert of
// a refused control record.
func (s *state) addQuarantine(r *kgo.Record, now time.Time) {
	q := quarantined{partition: r.Partition, offset: r.Offset, at: r.Timestamp.UnixMilli()}
	if err := json.Unmarshal(r.Value, &q.rec); err != nil {
		q.rec = topics.QuarantineRecord{Key: string(r.Key), Value: string(r.Value),
			Error: "undecodable quarantine record: " + err.Error()}
	}
	if q.at <= 0 || q.at > now.UnixMilli() {
		q.at = now.UnixMilli()
	}
	if q.rec.AtMs == 0 {
		q.rec.AtMs = r.Timestamp.UnixMilli()
	}
	consumer := q.rec.Consumer
	if consumer == "" {
		consumer = "(no consumer)"
	}
	s.countQuarantine(consumer, q.rec.Error, q.at, now.UnixMilli())
	s.fromQuarantine(q)
	s.quar = keepNewest(s.quar, q, s.quarN, func(q quarantined) recPos { return recPos{q.rec.AtMs, q.partition, q.offset} })
}

// recPos orders kept records newest first: by time, then partition, then
// offset.
type recPos struct {
	atMs      int64
	partition int32
	offset    int64
}

func (a recPos) after(b recPos) bool {
	if a.atMs != b.atMs {
		return a.atMs > b.atMs
	}
	if a.partition != b.partition {
		return a.partition > b.partition
	}
	return a.offset > b.offset
}

// keepNewest inserts v into list (newest first by pos) and keeps at most n;
// a record already kept (same pos: read again after a rebalance) is not
// added twice.
func keepNewest[T any](list []T, v T, n int, pos func(T) recPos) []T {
	p := pos(v)
	i := sort.Search(len(list), func(i int) bool { return p.after(pos(list[i])) })
	if i >= n || i > 0 && pos(list[i-1]) == p {
		return list
	}
	list = slices.Insert(list, i, v)
	if len(list) > n {
		list = list[:n]
	}
	return list
}

// maxRefusals is how many recent gate refusals are kept.
const maxRefusals = 20

// refusal is one record of open-intents.rejected.
type refusal struct {
	rec       topics.RejectedIntent
	partition int32
	offset    int64
}

// addRefusal keeps the maxRefusals newest refusals (by their time, then
// offset); an undecodable record is kept with why, cut.
func (s *state) addRefusal(r *kgo.Record) {
	f := refusal{partition: r.Partition, offset: r.Offset}
	if err := json.Unmarshal(r.Value, &f.rec); err != nil {
		f.rec = topics.RejectedIntent{Reason: "undecodable", Detail: cut("undecodable refusal record: "+err.Error(), 300)}
	}
	if f.rec.AtMs == 0 {
		f.rec.AtMs = r.Timestamp.UnixMilli()
	}
	s.refusals = keepNewest(s.refusals, f, maxRefusals, func(f refusal) recPos { return recPos{f.rec.AtMs, f.partition, f.offset} })
}

func (s *state) setSource(name string, took time.Duration, err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SourceStatus{Name: name, OK: err == nil, LatencyMs: math.Round(float64(took.Microseconds())/100) / 10, AtMs: at.UnixMilli()}
	s.sources[name] = st
}

func (s *state) setLag(gs []groupadmin.GroupStatus, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag, s.lagKnown = gs, true
	s.trackCommits(gs, now)
	s.trackEnds(gs, now)
}

func (s *state) setQuarantineTotal(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarTotal, s.quarKnown = n, true
}

func (s *state) setDrifts(rows []driftRow, n int64, _ time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.drifts, s.driftN = rows, n
}

func (s *state) setVenues(v []venueRow, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.venues, s.venuesAt = v, at
}
