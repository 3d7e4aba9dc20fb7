package app

import (
	"context"
	"log/slog"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/sinks/regimehistory"
	"github.com/kraite/stream/topics"
)

// buildRegimeHistorySink writes every record of regime-changes (band and
// gate changes, degraded included) into regime_history, as the consumer
// group topics.GroupSinkRegimeHistory under the topic prefix.
func buildRegimeHistorySink(ctx context.Context, w *App) (Component, error) {
	return buildSink(ctx, w, "regime-history-sink", func(d *db.DB, log *slog.Logger) (*regimehistory.Sink, error) {
		return regimehistory.New(regimehistory.Config{SinkConfig: w.sinkConfig(topics.GroupSinkRegimeHistory)}, d, log)
	})
}
