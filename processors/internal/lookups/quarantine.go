package lookups

import (
	"log/slog"

	"github.com/lovoo/goka"

	"github.com/kraite/stream/topics"
)

// Quarantine emits the current input record, which the processor of group
// could not accept, to stream (the quarantine topic) with its headers and
// the error, and logs a warning; what names the record kind in the log.
// The record is built by topics.NewQuarantine, so it is bounded in
// size whatever the input (an emit the producer refuses would stop the
// processor). The record's timestamp (zero when the record has none) keeps
// a replay's quarantine records identical.
func Quarantine(ctx goka.Context, stream goka.Stream, group goka.Group, raw []byte, err error, log *slog.Logger, what string) {
	log.Warn("quarantining "+what,
		"topic", ctx.Topic(), "partition", ctx.Partition(), "offset", ctx.Offset(), "err", topics.Bound(err.Error(), 512))
	var at int64
	if ts := ctx.Timestamp(); !ts.IsZero() {
		at = ts.UnixMilli()
	}
	q := topics.NewQuarantine(topics.QuarantineSource{
		Topic: string(ctx.Topic()), Partition: ctx.Partition(), Offset: ctx.Offset(),
		Key: []byte(ctx.Key()), Value: raw, Headers: topics.SortedHeaderPairs(ctx.Headers()),
	}, string(group), err, at)
	ctx.Emit(stream, string(q.Key), &q.Value, goka.WithCtxEmitHeaders(QuarantineHeaders(q)))
}

// QuarantineHeaders are the goka headers of a quarantine record.
func QuarantineHeaders(q topics.Quarantined) goka.Headers {
	return goka.Headers{topics.HeaderSource: []byte(q.Source)}
}
