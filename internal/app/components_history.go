package app

import (
	"context"

	"github.com/kraite/stream/sinks/regimehistory"
	"github.com/kraite/stream/topics"
)

// buildRegimeHistorySink writes every record of regime-changes (band and
// gate changes, degraded included) into regime_history, as the consumer
// group topics.GroupSinkRegimeHistory under the topic prefix.
func buildRegimeHistorySink(ctx context.Context, w *App) (Component, error) {
	d, err := w.sinkDatabase(ctx)
	if err != nil {
		return Component{}, err
	}
	s, err := regimehistory.New(regimehistory.Config{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix,
		Group: topics.GroupSinkRegimeHistory.Name(w.Common.TopicPrefix), Registerer: w.Ops.Registry},
		d, w.Log.With("component", "regime-history-sink"))
	if err != nil {
		return Component{}, err
	}
	return w.addSink("regime-history-sink", s), nil
}
