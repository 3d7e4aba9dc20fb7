package audit

import (
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/topics"
)

// EventUnparseable is the event_type of a frame that is not valid JSON or
// has no readable envelope; the raw payload is still stored.
const EventUnparseable = "UNPARSEABLE"

// Row is one api_data_stream row.
type Row struct {
	Exchange, Account, EventType, ExecutionType string
	Kind, Source                                string
	EventTime                                   int64
	Payload                                     string
	SourceTopic                                 string
	SourcePartition                             int32
	SourceOffset                                int64
	ReceivedAt                                  time.Time // zero when the header is absent
}

type orderBody struct {
	O struct {
		Exec   string `json:"x"`
		Status string `json:"X"`
	} `json:"o"`
}

// Decode turns a user-data-stream record into its audit row. It never
// panics and always returns a storable row (payload made valid UTF-8 without
// NUL bytes, which MySQL and PostgreSQL text columns refuse); a non-nil error
// says the frame could not be parsed and should also be quarantined.
func Decode(rec *kgo.Record) (Row, error) {
	r := Row{
		Exchange:        topics.Header(rec, topics.HeaderExchange),
		Account:         topics.Header(rec, topics.HeaderAccount),
		Kind:            topics.Header(rec, topics.HeaderKind),
		Source:          topics.Header(rec, topics.HeaderSource),
		Payload:         sanitize(rec.Value),
		SourceTopic:     rec.Topic,
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
		ReceivedAt:      topics.ParseReceivedAt(rec),
	}
	if r.Exchange == "" {
		r.Exchange = topics.ExchangeBinance
	}
	if r.Account == "" {
		r.Account = sanitize(rec.Key)
	}
	r.Exchange, r.Account = clip(r.Exchange, 32), clip(r.Account, 64)
	r.Kind, r.Source = clip(r.Kind, 16), clip(r.Source, 16)
	if r.Kind == topics.KindGap {
		var g topics.GapMarker
		if err := json.Unmarshal(rec.Value, &g); err != nil {
			r.EventType = EventUnparseable
			return r, err
		}
		r.EventType, r.EventTime = "gap", g.ToMs
		return r, nil
	}
	env, err := binance.ParseEnvelope(rec.Value)
	r.EventType, r.EventTime = clip(sanitize([]byte(env.Event)), 64), env.EventTime
	if err != nil {
		if r.EventType == "" {
			r.EventType = EventUnparseable
		}
		return r, err
	}
	if r.EventType == "" {
		r.EventType = "unknown"
	}
	switch env.Event {
	case binance.EventOrderTradeUpdate, binance.EventAlgoUpdate:
		var b orderBody
		if json.Unmarshal(env.Payload, &b) == nil {
			r.ExecutionType = b.O.Exec
			if env.Event == binance.EventAlgoUpdate && b.O.Status != "" {
				r.ExecutionType = "ALGO_" + b.O.Status
			}
			r.ExecutionType = clip(sanitize([]byte(r.ExecutionType)), 32)
		}
	}
	return r, nil
}

func sanitize(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	}
	return s
}

// clip shortens s to at most n runes (column widths count characters).
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
