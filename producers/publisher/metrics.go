package publisher

import (
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Metrics are the producer metrics. A nil *Metrics is valid and records
// nothing, so tests can pass nil.
type Metrics struct {
	frames     *prometheus.CounterVec
	bytes      *prometheus.CounterVec
	reconnects *prometheus.CounterVec
	gaps       *prometheus.CounterVec
	malformed  *prometheus.CounterVec
	errors     *prometheus.CounterVec
	refusals   *prometheus.CounterVec
	latency    *prometheus.HistogramVec

	mu        sync.Mutex
	lastFrame map[[2]string]time.Time // (stream, account) -> last frame time
	ageDesc   *prometheus.Desc
}

// NewMetrics registers the producer metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		frames: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_frames_total",
			Help: "WebSocket frames read and handed to Kafka."}, []string{"stream", "account"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_bytes_total",
			Help: "Bytes of WebSocket frames read."}, []string{"stream", "account"}),
		reconnects: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_reconnects_total",
			Help: "WebSocket connections lost and re-established."}, []string{"stream", "account", "reason"}),
		gaps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_gaps_total",
			Help: "Gap markers published (a window with no attached socket)."}, []string{"account"}),
		malformed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_malformed_frames_total",
			Help: "Frames whose envelope did not parse (still published raw)."}, []string{"stream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_produce_errors_total",
			Help: "Records Kafka did not acknowledge (client closed)."}, []string{"stream"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "kraite_producer_refused_frames_total",
			Help: "Frames that can never be stored: too large (too_large before producing, broker_too_large), refused by the broker as invalid (broker_invalid), or over the WebSocket read limit (read_limit)."},
			[]string{"stream", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "kraite_producer_frame_to_ack_seconds",
			Help:    "From reading a frame off the socket to Kafka's acknowledgement.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18)}, []string{"stream"}),
		lastFrame: map[[2]string]time.Time{},
		ageDesc: prometheus.NewDesc("kraite_producer_last_frame_age_seconds",
			"Seconds since the last frame of a stream (per account for user data).", []string{"stream", "account"}, nil),
	}
	if reg != nil {
		reg.MustRegister(m.frames, m.bytes, m.reconnects, m.gaps, m.malformed, m.errors, m.refusals, m.latency, m)
	}
	return m
}

// Describe implements prometheus.Collector for the age gauge.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) { ch <- m.ageDesc }

// Collect implements prometheus.Collector for the age gauge.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	for k, t := range m.lastFrame {
		ch <- prometheus.MustNewConstMetric(m.ageDesc, prometheus.GaugeValue, now.Sub(t).Seconds(), k[0], k[1])
	}
}

// Frame records one frame read.
func (m *Metrics) Frame(stream, account string, size int, at time.Time) {
	if m == nil {
		return
	}
	m.frames.WithLabelValues(stream, account).Inc()
	m.bytes.WithLabelValues(stream, account).Add(float64(size))
	m.mu.Lock()
	m.lastFrame[[2]string{stream, account}] = at
	m.mu.Unlock()
}

// LastFrame is when a stream last delivered a frame; Account is "" for a
// public stream (mark prices).
type LastFrame struct {
	Stream  string
	Account string
	At      time.Time
}

// LastFrames lists the last frame of every (stream, account) seen, sorted,
// for status pages. A nil *Metrics has none.
func (m *Metrics) LastFrames() []LastFrame {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	out := make([]LastFrame, 0, len(m.lastFrame))
	for k, t := range m.lastFrame {
		out = append(out, LastFrame{Stream: k[0], Account: k[1], At: t})
	}
	m.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stream != out[j].Stream {
			return out[i].Stream < out[j].Stream
		}
		return out[i].Account < out[j].Account
	})
	return out
}

// StreamCount is how often a stream (an account's, or a public one when
// Account is "") reconnected and, for an account, how many gap markers were
// published, since the process started: the values of the
// kraite_producer_reconnects_total and kraite_producer_gaps_total series.
type StreamCount struct {
	Stream     string
	Account    string
	Reconnects int64
	Gaps       int64
}

// Counts lists the reconnects (all reasons) and gap markers of every
// stream, sorted, for status pages. A nil *Metrics has none.
func (m *Metrics) Counts() []StreamCount {
	if m == nil {
		return nil
	}
	byKey := map[[2]string]*StreamCount{}
	get := func(stream, account string) *StreamCount {
		k := [2]string{stream, account}
		if byKey[k] == nil {
			byKey[k] = &StreamCount{Stream: stream, Account: account}
		}
		return byKey[k]
	}
	eachCounter(m.reconnects, func(l map[string]string, v int64) { get(l["stream"], l["account"]).Reconnects += v })
	// Gap markers are the user-data stream's (labelled by account only).
	eachCounter(m.gaps, func(l map[string]string, v int64) { get("userdata", l["account"]).Gaps += v })
	out := make([]StreamCount, 0, len(byKey))
	for _, c := range byKey {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Stream != out[j].Stream {
			return out[i].Stream < out[j].Stream
		}
		return out[i].Account < out[j].Account
	})
	return out
}

// eachCounter calls fn with the labels and value of every series of c.
func eachCounter(c prometheus.Collector, fn func(labels map[string]string, v int64)) {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	for pm := range ch {
		var d dto.Metric
		if pm.Write(&d) != nil || d.Counter == nil {
			continue
		}
		l := make(map[string]string, len(d.Label))
		for _, lp := range d.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		fn(l, int64(d.Counter.GetValue()))
	}
}

// Forget drops the per-account series of a removed account.
func (m *Metrics) Forget(stream, account string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	delete(m.lastFrame, [2]string{stream, account})
	m.mu.Unlock()
}

// Reconnect records a lost connection.
func (m *Metrics) Reconnect(stream, account, reason string) {
	if m != nil {
		m.reconnects.WithLabelValues(stream, account, reason).Inc()
	}
}

// Gap records a gap marker.
func (m *Metrics) Gap(account string) {
	if m != nil {
		m.gaps.WithLabelValues(account).Inc()
	}
}

// Malformed records a frame whose envelope did not parse.
func (m *Metrics) Malformed(stream string) {
	if m != nil {
		m.malformed.WithLabelValues(stream).Inc()
	}
}

// ReadLimit records a frame over the WebSocket read limit (the connection
// is dropped and reconnected).
func (m *Metrics) ReadLimit(stream string) { m.refused(stream, "read_limit") }

func (m *Metrics) refused(stream, reason string) {
	if m != nil {
		m.refusals.WithLabelValues(stream, reason).Inc()
	}
}

func (m *Metrics) produceError(stream string) {
	if m != nil {
		m.errors.WithLabelValues(stream).Inc()
	}
}

func (m *Metrics) acked(stream string, d time.Duration) {
	if m != nil {
		m.latency.WithLabelValues(stream).Observe(d.Seconds())
	}
}
