package topics

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Record header keys (DESIGN.md section 3). Metadata travels in headers so
// that values stay exactly what the exchange sent.
const (
	HeaderExchange   = "exchange"
	HeaderAccount    = "account"
	HeaderReceivedAt = "received_at" // RFC3339Nano, when the frame was read off the socket
	HeaderConnID     = "conn_id"
	HeaderKind       = "kind"   // KindFrame | KindGap | KindBackfill
	HeaderSource     = "source" // "stream" or "backfill"; on quarantine: the source topic
)

// Record kinds carried in HeaderKind.
const (
	KindFrame    = "frame"
	KindGap      = "gap"
	KindBackfill = "backfill"
)

// Sources carried in HeaderSource.
const (
	SourceStream   = "stream"
	SourceBackfill = "backfill"
)

// ExchangeBinance is the exchange name used in keys and headers.
const ExchangeBinance = "binance"

// Header returns the value of header key on r, or "".
func Header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

// FrameHeaders builds the headers of a raw frame record.
func FrameHeaders(exchange, account, connID, kind, source string, receivedAt time.Time) []kgo.RecordHeader {
	hs := []kgo.RecordHeader{
		{Key: HeaderExchange, Value: []byte(exchange)},
		{Key: HeaderKind, Value: []byte(kind)},
		{Key: HeaderSource, Value: []byte(source)},
		{Key: HeaderReceivedAt, Value: []byte(receivedAt.UTC().Format(time.RFC3339Nano))},
	}
	if account != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderAccount, Value: []byte(account)})
	}
	if connID != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderConnID, Value: []byte(connID)})
	}
	return hs
}

// ParseReceivedAt reads HeaderReceivedAt; zero time when absent or invalid.
func ParseReceivedAt(r *kgo.Record) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, Header(r, HeaderReceivedAt))
	return t
}
