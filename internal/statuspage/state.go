package statuspage

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/processors/regime"
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
	table, changes, overrides, allowlist, quarantine, mark string
}

func topicNames(prefix string) names {
	return names{
		table:      string(regime.Table(prefix)),
		changes:    topics.RegimeChanges.Name(prefix),
		overrides:  topics.RegimeOverrides.Name(prefix),
		allowlist:  topics.Allowlist.Name(prefix),
		quarantine: topics.Quarantine.Name(prefix),
		mark:       topics.MarkPrice.Name(prefix),
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
	}
}

// regimeRecord is the part of a regime.State the page shows; the rolling
// market state (most of the bytes) is skipped.
type regimeRecord struct {
	Scope           string        `json:"scope"`
	AtMs            int64         `json:"at"`
	Score           float64       `json:"score"`
	Band            regime.Band   `json:"band"`
	SinceMs         int64         `json:"since"`
	CooldownUntilMs int64         `json:"cooldown_until,omitempty"`
	Gate            string        `json:"gate"`
	Degraded        string        `json:"degraded,omitempty"`
	Inputs          regime.Inputs `json:"inputs"`
	Records         int64         `json:"records"`
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

// quarantined is a quarantine record and where it sits.
type quarantined struct {
	rec       topics.QuarantineRecord
	partition int32
	offset    int64
}

// state is everything the collector knows; every method locks mu.
type state struct {
	n      names
	window int64 // ms
	quarN  int

	mu        sync.Mutex
	following map[string]bool
	pending   map[string][]byte // newest undecoded regime state per scope
	scopes    map[string]*scope
	override  *topics.Override
	allow     map[string]topics.AllowlistValue
	quar      []quarantined // newest first, at most quarN
	quarTotal int64
	quarKnown bool
	marks     map[string]time.Time // mark-price record key -> newest frame
	lag       []groupadmin.GroupStatus
	lagKnown  bool
	venues    []venueRow
	venuesAt  time.Time
	errs      map[string]string // section -> why it failed last
}

func newState(prefix string, window time.Duration, quarantine int) *state {
	return &state{n: topicNames(prefix), window: window.Milliseconds(), quarN: quarantine,
		following: map[string]bool{}, pending: map[string][]byte{}, scopes: map[string]*scope{},
		allow: map[string]topics.AllowlistValue{}, marks: map[string]time.Time{}, errs: map[string]string{}}
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
	fs.EachRecord(func(r *kgo.Record) { s.applyRecord(r) })
}

func (s *state) applyRecord(r *kgo.Record) {
	key := string(r.Key)
	switch r.Topic {
	case s.n.table:
		if r.Value == nil {
			delete(s.pending, key)
			delete(s.scopes, key)
			return
		}
		s.pending[key] = r.Value
	case s.n.changes:
		s.addChange(r.Value)
	case s.n.overrides:
		if key == regime.OverrideScope {
			s.override = regime.DecodeOverride(r.Value)
		}
	case s.n.allowlist:
		s.applyAllowlist(key, r.Value, r.Timestamp)
	case s.n.quarantine:
		s.addQuarantine(r)
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
	for key, raw := range s.pending {
		delete(s.pending, key)
		var rec regimeRecord
		if err := json.Unmarshal(raw, &rec); err != nil {
			errs = append(errs, fmt.Errorf("decoding the regime state of %s: %w", key, err))
			continue
		}
		if rec.Scope == "" {
			rec.Scope = key
		}
		s.setRegime(rec)
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

func (s *state) applyAllowlist(key string, raw []byte, ts time.Time) {
	if raw == nil {
		delete(s.allow, key)
		return
	}
	var v topics.AllowlistValue
	if err := json.Unmarshal(raw, &v); err != nil {
		s.errs["allowlist"] = fmt.Sprintf("decoding the allowlist of %s: %v", key, err)
		return
	}
	if v.Exchange == "" {
		v.Exchange = key
	}
	if v.UpdatedMs == 0 {
		v.UpdatedMs = ts.UnixMilli()
	}
	delete(s.errs, "allowlist")
	s.allow[v.Exchange] = v
}

// addQuarantine keeps the quarN newest records (by their time, then offset).
func (s *state) addQuarantine(r *kgo.Record) {
	q := quarantined{partition: r.Partition, offset: r.Offset}
	if err := json.Unmarshal(r.Value, &q.rec); err != nil {
		q.rec = topics.QuarantineRecord{Key: string(r.Key), Value: string(r.Value),
			Error: "undecodable quarantine record: " + err.Error()}
	}
	if q.rec.AtMs == 0 {
		q.rec.AtMs = r.Timestamp.UnixMilli()
	}
	newer := func(a, b quarantined) bool {
		if a.rec.AtMs != b.rec.AtMs {
			return a.rec.AtMs > b.rec.AtMs
		}
		if a.partition != b.partition {
			return a.partition > b.partition
		}
		return a.offset > b.offset
	}
	i := sort.Search(len(s.quar), func(i int) bool { return newer(q, s.quar[i]) })
	if i >= s.quarN {
		return
	}
	s.quar = append(s.quar, quarantined{})
	copy(s.quar[i+1:], s.quar[i:])
	s.quar[i] = q
	if len(s.quar) > s.quarN {
		s.quar = s.quar[:s.quarN]
	}
}

func (s *state) setLag(gs []groupadmin.GroupStatus) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lag, s.lagKnown = gs, true
}

func (s *state) setQuarantineTotal(n int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quarTotal, s.quarKnown = n, true
}

func (s *state) setVenues(v []venueRow, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.venues, s.venuesAt = v, at
}
