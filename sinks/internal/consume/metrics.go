package consume

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the sink metrics every sink shares. A nil *Metrics is valid
// and records nothing (tests).
type Metrics struct {
	batchSize   prometheus.Observer
	batchDur    prometheus.Observer
	retries     prometheus.Counter
	quarantined prometheus.Counter
	rows        prometheus.Counter
}

// NewMetrics registers the metrics of sink on reg; a nil reg returns nil.
func NewMetrics(reg prometheus.Registerer, sink string) *Metrics {
	if reg == nil {
		return nil
	}
	labels := prometheus.Labels{"sink": sink}
	bs := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kraite_sink_batch_records", Help: "Records per written batch.",
		ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(1, 4, 8)})
	bd := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kraite_sink_batch_seconds", Help: "Database write time per batch.",
		ConstLabels: labels, Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)})
	rt := prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_sink_retries_total", Help: "Failed batch writes that were retried.", ConstLabels: labels})
	qu := prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_sink_quarantined_total", Help: "Records sent to quarantine.", ConstLabels: labels})
	rw := prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_sink_rows_total", Help: "Rows written (or confirmed) in the database.", ConstLabels: labels})
	reg.MustRegister(bs, bd, rt, qu, rw)
	return &Metrics{batchSize: bs, batchDur: bd, retries: rt, quarantined: qu, rows: rw}
}

// Batch records one written batch.
func (m *Metrics) Batch(records int, d time.Duration) {
	if m == nil {
		return
	}
	m.batchSize.Observe(float64(records))
	m.batchDur.Observe(d.Seconds())
}

// Retry counts a failed attempt.
func (m *Metrics) Retry(error) {
	if m == nil {
		return
	}
	m.retries.Inc()
}

// Quarantined counts a quarantined record.
func (m *Metrics) Quarantined() {
	if m == nil {
		return
	}
	m.quarantined.Inc()
}

// Rows counts written rows.
func (m *Metrics) Rows(n int) {
	if m == nil {
		return
	}
	m.rows.Add(float64(n))
}
