package lookups

import (
	"log/slog"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/topics"
)

// Quarantine emits the current input record, which the processor of group
// could not decode, to stream (the quarantine topic) with its headers and
// the error, and logs a warning; what names the record kind in the log.
// The record's timestamp (zero when the record has none) keeps a replay's
// quarantine records identical.
func Quarantine(ctx goka.Context, stream goka.Stream, group goka.Group, raw []byte, err error, log *slog.Logger, what string) {
	log.Warn("quarantining undecodable "+what,
		"topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(), "err", err)
	hs := map[string]string{}
	for k, v := range ctx.Headers() {
		hs[k] = string(v)
	}
	var at int64
	if ts := ctx.Timestamp(); !ts.IsZero() {
		at = ts.UnixMilli()
	}
	ctx.Emit(stream, ctx.Key(), &topics.QuarantineRecord{
		SourceTopic:     string(ctx.Topic()),
		SourcePartition: ctx.Partition(),
		SourceOffset:    ctx.Offset(),
		Key:             ctx.Key(),
		Value:           string(raw),
		Headers:         hs,
		Consumer:        string(group),
		Error:           err.Error(),
		AtMs:            at,
	})
}
