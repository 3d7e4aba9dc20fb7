package lookups

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// # Guarded Views: control topics fail closed
//
// A control topic (the dispatch allowlist, the regime overrides) is a
// compacted table read through a View. goka's default update callback
// stores whatever arrives, so one garbage record replaced the last good
// value, and every reader then decided on garbage (issue 10, items 6 and
// 7: an active block override vanished, a narrowed allowlist widened to
// the built-in default). A Guard is the View's update callback instead: it
// checks every record before it reaches the View's storage.
//
//   - A good record is stored as goka would store it, and clears the
//     key's alert.
//   - A garbage record is not stored. If the key has a good value, that
//     value stays (last good value). If it has none (the garbage is the
//     first record of the key, or the only one left after compaction), the
//     Guard stores an unreadable marker instead, so a reader sees "there is
//     a value and it cannot be read" and fails closed (the gate blocks,
//     dispatch goes to shadow mode) instead of "nothing was ever set"
//     (which falls back to configured defaults). The marker is in the
//     View's storage, so it survives a restart on persistent storage.
//   - Either way the record raises an alert: a log line when the key's
//     alert is raised (once, not per record a processor later reads the
//     value for, nor per further garbage record of the key), a Prometheus
//     gauge and counter, the Alerts list the status page can show, and a
//     quarantine record (bounded, topics.NewQuarantine) written by an
//     emitter of the Guard's own, since a View callback cannot emit.
//   - A record for a key no reader looks up (GuardConfig.KnownKey) is
//     refused without touching storage, under one shared alert.
//
// A tombstone (nil value) goes through the same check: deleting a control
// value would fall back to defaults, so a check refuses it unless it says
// otherwise; an operator clears a value by writing a valid one.
//
// Every instance of every group that reads the table has its own Guard, so
// one garbage record yields one quarantine record per reading instance
// (each names its consumer group), and a View rebuilt from the start of
// the topic (memory storage) raises the alert again; duplicates are the
// price of never missing one.

// unreadablePrefix starts the marker a Guard stores for a key whose only
// records are garbage. No JSON document starts with a NUL byte, so a
// marker can never be mistaken for a value.
const unreadablePrefix = "\x00kraite:unreadable\x00"

// Unreadable reports whether v, a value read from a guarded View, is the
// unreadable marker, and the check's error it recorded.
func Unreadable(v any) (reason string, ok bool) {
	b, _ := v.([]byte)
	if !strings.HasPrefix(string(b), unreadablePrefix) {
		return "", false
	}
	return string(b[len(unreadablePrefix):]), true
}

func unreadableMarker(err error) []byte {
	return []byte(unreadablePrefix + topics.Bound(err.Error(), 512))
}

// Alert is one control-topic key whose last record was garbage.
type Alert struct {
	Topic     string `json:"topic"`
	Key       string `json:"key"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	Consumer  string `json:"consumer"` // the consumer group that refused it
	Error     string `json:"error"`
	// KeptLastGood is true when the key's last good value is still in
	// force, false when the key has no good value (readers fail closed).
	KeptLastGood bool `json:"kept_last_good"`
	// AtMs is when this instance refused the record (its wall clock).
	AtMs int64 `json:"at"`
}

// UnknownKeys is the alert key of records refused for a key no reader
// looks up (GuardConfig.KnownKey).
const UnknownKeys = "(unknown keys)"

// Check validates one record of a control topic (value nil for a
// tombstone); a nil error accepts it.
type Check func(key string, value []byte) error

// GuardConfig configures a guarded View.
type GuardConfig struct {
	// Kafka builds the View's and the quarantine emitter's clients (its
	// seeds and security); nil with goka.WithViewTester in ViewOptions and
	// Quarantined set (graph tests).
	Kafka *kclient.Factory
	// Table is the control topic.
	Table goka.Table
	// Group names the consumer in quarantine records and alerts.
	Group goka.Group
	// Quarantine is the quarantine topic.
	Quarantine goka.Stream
	// Check validates each record. Set Check or Parse.
	Check Check
	// Parse, instead of Check, validates each record and returns what a
	// reader makes of it (a nil error accepts it). The Guard remembers the
	// value under the version of the write it stored (see Parsed), so a
	// reader (Decoded) does not decode the record a second time.
	Parse func(key string, value []byte) (any, error)
	// KnownKey reports whether a reader may ever look key up (nil: every
	// key). A record of another key is refused without touching storage,
	// and all such keys share one alert (UnknownKeys), so a flood of
	// random keys grows neither the storage nor the alerts nor the series.
	KnownKey func(key string) bool
	// ViewOptions are the View's options (see NewView).
	ViewOptions []goka.ViewOption
	// Quarantined, when set, receives each quarantine record (with its
	// Kafka key) instead of the quarantine topic, synchronously: graph
	// tests (goka's tester emitter is not safe to use beside a running
	// View). Otherwise an emitter of Kafka writes them.
	Quarantined func(key string, rec *topics.QuarantineRecord)
	// Log receives one warning per refused record; nil discards.
	Log *slog.Logger
}

// Guard is the update callback of a guarded View (see NewGuardedView).
type Guard struct {
	cfg         GuardConfig
	seen        atomic.Int64
	rejected    atomic.Int64
	quarantined atomic.Int64
	wg          sync.WaitGroup // running quarantine emits

	mu      sync.Mutex
	alerts  map[string]Alert
	emitter *goka.Emitter
	closed  bool

	// versions count the writes to each key's stored value (see
	// Version); guarded by vmu, apart from mu so a reader's Version never
	// waits for an alert or an emit.
	vmu      sync.RWMutex
	versions map[string]uint64
	vlast    uint64
	parsed   map[string]any // what Parse made of the key's stored value, at versions[key]

	alertDesc, rejectedDesc *prometheus.Desc
}

// NewGuardedView creates a View of cfg.Table whose every record passes
// cfg.Check first (see Guard), and the Guard. Give the Guard to the
// Runner (Runner.Guard) so its emitter is closed after the View stopped
// and its alerts are listed.
func NewGuardedView(cfg GuardConfig) (*goka.View, *Guard, error) {
	switch {
	case cfg.Check == nil && cfg.Parse == nil:
		return nil, nil, errors.New("guarded view: Check and Parse are nil")
	case cfg.Check != nil && cfg.Parse != nil:
		return nil, nil, errors.New("guarded view: set Check or Parse, not both")
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	labels := prometheus.Labels{"group": string(cfg.Group), "topic": string(cfg.Table)}
	g := &Guard{cfg: cfg, alerts: map[string]Alert{}, versions: map[string]uint64{}, parsed: map[string]any{},
		alertDesc: prometheus.NewDesc("kraite_control_alert",
			"1 while the last record of a control-topic key was refused as garbage; kept_last_good=false: readers fail closed.",
			[]string{"key", "kept_last_good"}, labels),
		rejectedDesc: prometheus.NewDesc("kraite_control_records_refused_total",
			"Control-topic records refused as garbage (not applied).", nil, labels)}
	opts := append(slices.Clone(cfg.ViewOptions), goka.WithViewCallback(g.update))
	v, err := NewView(brokers(cfg.Kafka), cfg.Table, topics.Raw{}, cfg.Log, opts)
	if err != nil {
		return nil, nil, err
	}
	return v, g, nil
}

// update is the View's UpdateCallback. It returns an error only when the
// storage fails (that stops the View, as goka's default would); a garbage
// record never does.
func (g *Guard) update(ctx goka.UpdateContext, s storage.Storage, key string, value []byte) error {
	defer g.seen.Add(1) // after the record took effect: tests wait on Seen
	var parsed any
	var cerr error
	if g.cfg.Parse != nil {
		parsed, cerr = g.cfg.Parse(key, value)
	} else {
		cerr = g.cfg.Check(key, value)
	}
	if cerr == nil {
		g.clear(key)
		if err := goka.DefaultUpdate(ctx, s, key, value); err != nil {
			return fmt.Errorf("storing %s of %s: %w", topics.Bound(key, 64), g.cfg.Table, err)
		}
		g.bumpParsed(key, parsed, g.cfg.Parse != nil)
		return nil
	}
	g.rejected.Add(1)
	if g.cfg.KnownKey != nil && !g.cfg.KnownKey(key) {
		g.raise(ctx, key, value, cerr, true)
		return nil
	}
	prev, err := s.Get(key)
	if err != nil {
		return fmt.Errorf("reading %s of %s: %w", topics.Bound(key, 64), g.cfg.Table, err)
	}
	_, wasUnreadable := Unreadable(prev)
	kept := len(prev) > 0 && !wasUnreadable
	if !kept {
		marker := unreadableMarker(cerr)
		if string(prev) != string(marker) { // the same marker again changes nothing a reader sees
			if err := s.Set(key, marker); err != nil {
				return fmt.Errorf("marking %s of %s unreadable: %w", topics.Bound(key, 64), g.cfg.Table, err)
			}
			g.bump(key)
		}
	}
	g.raise(ctx, key, value, cerr, kept)
	return nil
}

// bump records a write to key's stored value; called after the write,
// so a reader that sees the new version reads the new value (Version).
func (g *Guard) bump(key string) { g.bumpParsed(key, nil, false) }

// bumpParsed is bump, remembering what Parse made of the value written
// (when ok) under the new version, or forgetting it.
func (g *Guard) bumpParsed(key string, parsed any, ok bool) {
	g.vmu.Lock()
	g.vlast++
	g.versions[key] = g.vlast
	if ok && (g.cfg.KnownKey == nil || g.cfg.KnownKey(key)) {
		g.parsed[key] = parsed
	} else {
		delete(g.parsed, key)
	}
	g.vmu.Unlock()
}

// Parsed returns what GuardConfig.Parse made of key's stored value and
// the version it is of, when the Guard parsed the value it stored last
// (ok false otherwise: no Parse, the unreadable marker, or a value
// restored from storage that no record has replaced yet). Like a value
// read at Version, it is the View's value for as long as Version returns
// the same number.
func (g *Guard) Parsed(key string) (val any, version uint64, ok bool) {
	g.vmu.RLock()
	defer g.vmu.RUnlock()
	val, ok = g.parsed[key]
	return val, g.versions[key], ok
}

// Version identifies the value of key in the guarded View's storage: it
// changes each time the Guard writes the key (a good record stored, or the
// unreadable marker set), and only then. It is 0 while the Guard has not
// written the key since the View was created (a value restored from a
// persistent storage keeps version 0 until its next record), and a
// version is never reused, across keys either.
//
// Every write to a View's storage passes its update callback, the Guard
// (goka's storage proxy is the View's only writer; only goka's tester
// can write behind it, with SetTableValue, so tests of a reader write the
// table's topic instead), and the Guard bumps
// the version after the write. So a reader that reads Version, then the
// value, and remembers what it decoded under that version, knows the
// decoding is still the View's value for as long as Version returns the
// same number: a write between its two reads bumps the version after it,
// and the next reader reads again. Decoded builds on this.
func (g *Guard) Version(key string) uint64 {
	g.vmu.RLock()
	defer g.vmu.RUnlock()
	return g.versions[key]
}

func (g *Guard) clear(key string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.alerts[key]; ok {
		delete(g.alerts, key)
		g.cfg.Log.Info("control value readable again", "topic", g.cfg.Table, "key", topics.Bound(key, 64))
	}
}

// raise records the alert of a refused record, logs it when the key's
// alert is new (or its effect changed: once, not per record), and
// quarantines the record.
func (g *Guard) raise(ctx goka.UpdateContext, key string, value []byte, cerr error, kept bool) {
	alertKey, effect := topics.Bound(key, topics.MaxQuarantineKey), "last good value kept"
	switch {
	case g.cfg.KnownKey != nil && !g.cfg.KnownKey(key):
		alertKey, effect = UnknownKeys, "a key no reader looks up: ignored"
	case !kept:
		effect = "no good value: readers fail closed"
	}
	a := Alert{Topic: string(g.cfg.Table), Key: alertKey, Partition: ctx.Partition(),
		Offset: ctx.Offset(), Consumer: string(g.cfg.Group), Error: topics.Bound(cerr.Error(), 512),
		KeptLastGood: kept, AtMs: time.Now().UnixMilli()}
	g.mu.Lock()
	prev, had := g.alerts[alertKey]
	g.alerts[alertKey] = a
	g.mu.Unlock()
	if !had || prev.KeptLastGood != kept {
		g.cfg.Log.Error("refusing control record: "+effect, "topic", a.Topic, "key", topics.Bound(key, 64),
			"partition", a.Partition, "offset", a.Offset, "err", a.Error)
	}

	var at int64
	if ts := ctx.Timestamp(); !ts.IsZero() {
		at = ts.UnixMilli()
	}
	q := topics.NewQuarantine(topics.QuarantineSource{Topic: string(g.cfg.Table), Partition: ctx.Partition(),
		Offset: ctx.Offset(), Key: []byte(key), Value: value, Headers: topics.SortedHeaderPairs(ctx.Headers())},
		string(g.cfg.Group), fmt.Errorf("control record refused (%s): %w", effect, cerr), at)

	if g.cfg.Quarantined != nil {
		g.cfg.Quarantined(string(q.Key), &q.Value)
		g.quarantined.Add(1)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed || g.cfg.Quarantined != nil {
		return
	}
	// The emit runs beside the View: a View callback must not wait for a
	// producer (a broker that is down would stall the View; goka's tester
	// emitter even waits for this very View).
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.quarantine(q, a)
	}()
}

func (g *Guard) quarantine(q topics.Quarantined, a Alert) {
	fail := func(err error) {
		g.cfg.Log.Error("cannot quarantine control record", "topic", a.Topic, "offset", a.Offset, "err", err)
	}
	g.mu.Lock()
	em, err := g.emitterLocked()
	g.mu.Unlock()
	if err != nil {
		fail(err)
		return
	}
	p, err := em.EmitWithHeaders(string(q.Key), &q.Value, QuarantineHeaders(q))
	if err != nil {
		fail(err)
		return
	}
	p.Then(func(err error) {
		if err != nil {
			fail(err)
			return
		}
		g.quarantined.Add(1)
	})
}

// emitterLocked returns the quarantine emitter, created on first use (most
// processes never see a garbage control record); g.mu is held.
func (g *Guard) emitterLocked() (*goka.Emitter, error) {
	if g.emitter != nil {
		return g.emitter, nil
	}
	if err := g.cfg.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("creating quarantine emitter: %w", err)
	}
	em, err := goka.NewEmitter(g.cfg.Kafka.Brokers(), g.cfg.Quarantine, topics.JSON[topics.QuarantineRecord]{},
		g.cfg.Kafka.GokaEmitterOptions()...)
	if err != nil {
		return nil, fmt.Errorf("creating quarantine emitter: %w", err)
	}
	g.emitter = em
	return em, nil
}

// Close flushes and closes the quarantine emitter; call it after the
// View stopped (the Runner does).
func (g *Guard) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.wg.Wait() // no emit starts once closed is set
	g.mu.Lock()
	em := g.emitter
	g.emitter = nil
	g.mu.Unlock()
	if em == nil {
		return nil
	}
	if err := em.Finish(); err != nil {
		return fmt.Errorf("closing quarantine emitter of %s: %w", g.cfg.Table, err)
	}
	return nil
}

// Alerts returns the keys whose last record was refused, by key.
func (g *Guard) Alerts() []Alert {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make([]Alert, 0, len(g.alerts))
	for _, a := range g.alerts {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b Alert) int { return strings.Compare(a.Key, b.Key) })
	return out
}

// Seen is how many records the Guard has handled (good or not), counted
// once each has taken effect.
func (g *Guard) Seen() int64 { return g.seen.Load() }

// Rejected is how many records the Guard has refused.
func (g *Guard) Rejected() int64 { return g.rejected.Load() }

// Quarantined is how many quarantine records the broker acknowledged.
func (g *Guard) Quarantined() int64 { return g.quarantined.Load() }

// Table is the guarded topic.
func (g *Guard) Table() goka.Table { return g.cfg.Table }

// Describe implements prometheus.Collector. The descriptors carry the
// group and topic as constant labels, so the Guards of several processors
// in one process register side by side.
func (g *Guard) Describe(ch chan<- *prometheus.Desc) {
	ch <- g.alertDesc
	ch <- g.rejectedDesc
}

// Collect implements prometheus.Collector. Keys are bounded (an alert
// keeps at most topics.MaxQuarantineKey bytes) and few.
func (g *Guard) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(g.rejectedDesc, prometheus.CounterValue, float64(g.Rejected()))
	for _, a := range g.Alerts() {
		ch <- prometheus.MustNewConstMetric(g.alertDesc, prometheus.GaugeValue, 1, a.Key, fmt.Sprint(a.KeptLastGood))
	}
}
