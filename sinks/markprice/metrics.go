package markprice

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the mark-price sink's own metrics; nil-safe.
type metrics struct {
	freshness *prometheus.GaugeVec
	skipped   prometheus.Counter
	tickDur   prometheus.Histogram
	rows      prometheus.Counter
	errors    prometheus.Counter
	refused   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	if reg == nil {
		return nil
	}
	m := &metrics{
		freshness: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kraite_markprice_oldest_row_age_seconds",
			Help: "Per venue, the age of the least recently written mark price (since sink start for rows never written)."}, []string{"exchange"}),
		skipped: prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_markprice_skipped_ticks_total",
			Help: "Ticks superseded by a newer tick before the database was free to write them."}),
		tickDur: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "kraite_markprice_tick_write_seconds",
			Help: "Time to write one tick (all venues).", Buckets: prometheus.ExponentialBuckets(0.001, 2, 12)}),
		rows:   prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_markprice_rows_written_total", Help: "Rows updated."}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_markprice_write_errors_total", Help: "Failed tick writes (retried)."}),
		refused: prometheus.NewCounter(prometheus.CounterOpts{Name: "kraite_markprice_refused_ticks_total",
			Help: "Single-symbol ticks refused (bad symbol, price, precision or event time; or refused by the database) and never written."}),
	}
	reg.MustRegister(m.freshness, m.skipped, m.tickDur, m.rows, m.errors, m.refused)
	return m
}

func (m *metrics) wrote(rows int, d time.Duration) {
	if m == nil {
		return
	}
	m.rows.Add(float64(rows))
	m.tickDur.Observe(d.Seconds())
}

func (m *metrics) failed() {
	if m == nil {
		return
	}
	m.errors.Inc()
}

func (m *metrics) skip(n uint64) {
	if m == nil || n == 0 {
		return
	}
	m.skipped.Add(float64(n))
}

func (m *metrics) fresh(ages map[string]time.Duration) {
	if m == nil {
		return
	}
	for ex, a := range ages {
		m.freshness.WithLabelValues(ex).Set(a.Seconds())
	}
}

func (m *metrics) refuse(n int) {
	if m == nil || n == 0 {
		return
	}
	m.refused.Add(float64(n))
}
