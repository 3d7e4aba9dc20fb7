package dispatch

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics counts dispatch outcomes per exchange, execution type and
// outcome. A nil *Metrics is valid and counts nothing (tests).
type Metrics struct {
	records *prometheus.CounterVec
}

// NewMetrics registers the dispatch collectors on reg (nil: not registered,
// still counting, e.g. for tests that read the counters).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{records: prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: "kraite",
		Subsystem: "dispatch",
		Name:      "records_total",
		Help:      "User-data records seen by dispatch, by exchange, execution type and outcome (dispatched, filtered, shadowed, quarantined, gap).",
	}, []string{"exchange", "execution_type", "outcome"})}
	if reg != nil {
		if err := reg.Register(m.records); err != nil {
			return nil, fmt.Errorf("registering dispatch metrics: %w", err)
		}
	}
	return m, nil
}

func (m *Metrics) count(exchange, executionType string, o Outcome) {
	if m == nil {
		return
	}
	m.records.WithLabelValues(exchange, executionType, string(o)).Inc()
}

// Count returns the current value of one counter (for tests and status).
func (m *Metrics) Count(exchange, executionType string, o Outcome) float64 {
	if m == nil {
		return 0
	}
	c, err := m.records.GetMetricWithLabelValues(exchange, executionType, string(o))
	if err != nil {
		return 0
	}
	return readCounter(c)
}
