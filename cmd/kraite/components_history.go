package main

import (
	"context"

	"github.com/kraite/stream/sinks/regimehistory"
	"github.com/kraite/stream/topics"
)

// buildRegimeHistorySink writes every record of regime-changes (band and
// gate changes, degraded included) into regime_history, as the consumer
// group topics.GroupSinkRegimeHistory under the topic prefix.
func buildRegimeHistorySink(ctx context.Context, w *wiring) (component, error) {
	d, err := w.sinkDatabase(ctx)
	if err != nil {
		return component{}, err
	}
	s, err := regimehistory.New(regimehistory.Config{Brokers: w.c.Brokers, Prefix: w.c.TopicPrefix,
		Group: topics.GroupSinkRegimeHistory.Name(w.c.TopicPrefix), Registerer: w.ops.Registry, Hooks: w.kafkaHooks()},
		d, w.log.With("component", "regime-history-sink"))
	if err != nil {
		return component{}, err
	}
	return w.addSink("regime-history-sink", s), nil
}
