package consume

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"
)

// NewSink builds the loop of the sink named name (its metrics label, log
// attribute and error prefix): the loop of cfg, logging with sink=name
// (log nil: discarded), its retries counted in the sink's metrics on reg
// (nil reg: none).
func NewSink(name string, cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Loop, *Metrics, *slog.Logger, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("sink", name)
	loop, err := New(cfg, log)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("creating %s sink: %w", name, err)
	}
	m := NewMetrics(reg, name)
	loop.OnRetry = m.Retry
	return loop, m, log, nil
}
