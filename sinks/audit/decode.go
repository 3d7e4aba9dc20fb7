package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/validate"
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
	// TransactionTime is the frame's T (ms), 0 when it has none.
	TransactionTime int64
	Payload         string
	SourceTopic     string
	SourcePartition int32
	SourceOffset    int64
	ReceivedAt      time.Time // zero when the header is absent
}

// frameBody is what the audit reads of a frame's body: T, the transaction
// time every user-data event but MARGIN_CALL and listenKeyExpired carries
// (read as binance.Int64 reads it: a number, a numeric string, "" or null),
// and an order's x and X.
type frameBody struct {
	T json.RawMessage `json:"T"`
	// encoding/json would match a key "t" case-insensitively to T: a
	// field of its own keeps it out.
	LowerT json.RawMessage `json:"t"`
	O      struct {
		Exec   string `json:"x"`
		Status string `json:"X"`
	} `json:"o"`
}

// Decode turns a user-data-stream record into its audit row, judged by this
// process's clock and topics.DefaultMaxAhead; see DecodeAt.
func Decode(rec *kgo.Record) (Row, error) {
	return DecodeAt(rec, time.Now(), topics.DefaultMaxAhead)
}

// DecodeAt turns a user-data-stream record into its audit row. It never
// panics and always returns a storable row: every text made valid UTF-8
// without NUL bytes (which MySQL and PostgreSQL text columns refuse) and cut
// to its column, every time within the column's range. A non-nil error says
// what was wrong with the record (an unparseable frame, or a header or event
// time that fails validation); the sink audits the row anyway, because the
// audit keeps every frame, and quarantines the record with that error, which
// is how a doubtful row is flagged.
//
// # A bad received_at
//
// A received_at header that is missing, unparseable, outside the sane range
// (validate.SaneTime: "9999-12-31T23:59:59-23:59" once stopped this sink) or
// more than maxAhead ahead of now is replaced by the record's Kafka
// timestamp when that one passes the same checks, else left NULL; the record
// is quarantined with the reason. An event time E that is not positive or
// lies more than maxAhead ahead (topics.CheckEventTime) is stored as 0 (the
// raw frame keeps it) and quarantined the same way.
func DecodeAt(rec *kgo.Record, now time.Time, maxAhead time.Duration) (Row, error) {
	var problems []error
	r := Row{
		Kind:            topics.Header(rec, topics.HeaderKind),
		Source:          topics.Header(rec, topics.HeaderSource),
		Payload:         sanitize(rec.Value),
		SourceTopic:     clip(sanitize([]byte(rec.Topic)), 255),
		SourcePartition: rec.Partition,
		SourceOffset:    rec.Offset,
	}
	r.Exchange, problems = header(rec, topics.HeaderExchange, validate.ExchangeWidth, problems, func(v string) error {
		if v == "" {
			return nil // the producers always set it; a record without one is Binance's
		}
		return validate.Exchange(v)
	})
	if r.Exchange == "" {
		r.Exchange = topics.ExchangeBinance
	}
	r.Account, problems = header(rec, topics.HeaderAccount, validate.AccountWidth, problems, func(v string) error {
		if v == "" {
			return nil // the key stands in
		}
		return validate.Name(v, validate.AccountWidth)
	})
	if r.Account == "" {
		if err := validate.Name(string(rec.Key), validate.AccountWidth); err != nil {
			problems = append(problems, fmt.Errorf("no account header, and the key is no account: %w", err))
		}
		r.Account = clip(sanitize(rec.Key), validate.AccountWidth)
	}
	if r.Kind != "" && validate.OneOf(r.Kind, topics.KindFrame, topics.KindGap, topics.KindBackfill) != nil {
		problems = append(problems, fmt.Errorf("kind header %q is not frame, gap or backfill", topics.Bound(r.Kind, 32)))
	}
	if r.Source != "" && validate.OneOf(r.Source, topics.SourceStream, topics.SourceBackfill) != nil {
		problems = append(problems, fmt.Errorf("source header %q is not stream or backfill", topics.Bound(r.Source, 32)))
	}
	r.Kind, r.Source = clip(sanitize([]byte(r.Kind)), 16), clip(sanitize([]byte(r.Source)), 16)
	var err error
	if r.ReceivedAt, err = receivedAt(rec, now, maxAhead); err != nil {
		problems = append(problems, err)
	}
	eventTime := func(ms int64) int64 {
		if ms == 0 {
			return 0
		}
		if err := topics.CheckEventTime(ms, now, maxAhead); err != nil {
			problems = append(problems, fmt.Errorf("event time stored as 0: %w", err))
			return 0
		}
		return ms
	}
	if r.Kind == topics.KindGap {
		var g topics.GapMarker
		if err := json.Unmarshal(rec.Value, &g); err != nil {
			r.EventType = EventUnparseable
			return r, errors.Join(append(problems, err)...)
		}
		r.EventType, r.EventTime = "gap", eventTime(g.ToMs)
		return r, errors.Join(problems...)
	}
	env, err := binance.ParseEnvelope(rec.Value)
	r.EventType, r.EventTime = clip(sanitize([]byte(env.Event)), 64), eventTime(env.EventTime)
	if err != nil {
		if r.EventType == "" {
			r.EventType = EventUnparseable
		}
		return r, errors.Join(append(problems, err)...)
	}
	if r.EventType == "" {
		r.EventType = "unknown"
	}
	var b frameBody
	if json.Unmarshal(env.Payload, &b) != nil {
		return r, errors.Join(problems...) // an array frame, or a body the envelope already judged
	}
	if env.Event == binance.EventOrderTradeUpdate || env.Event == binance.EventAlgoUpdate {
		r.ExecutionType = b.O.Exec
		if env.Event == binance.EventAlgoUpdate && b.O.Status != "" {
			r.ExecutionType = "ALGO_" + b.O.Status
		}
		r.ExecutionType = clip(sanitize([]byte(r.ExecutionType)), 32)
	}
	if len(b.T) > 0 {
		var t binance.Int64
		if json.Unmarshal(b.T, &t) != nil {
			problems = append(problems, fmt.Errorf("transaction time stored as 0: T %q is not an integer", topics.Bound(string(b.T), 32)))
		} else {
			r.TransactionTime = eventTime(int64(t))
		}
	}
	return r, errors.Join(problems...)
}

// header reads header key, checks it (valid UTF-8 without NUL within width
// characters, then check when given) and returns it made storable; a
// failure is added to problems.
func header(rec *kgo.Record, key string, width int, problems []error, check func(string) error) (string, []error) {
	v := topics.Header(rec, key)
	err := validate.Text(v, width)
	if err == nil && check != nil {
		err = check(v)
	}
	if err != nil {
		problems = append(problems, fmt.Errorf("%s header: %w", key, err))
	}
	return clip(sanitize([]byte(v)), width), problems
}

// receivedAt reads the received_at header (see DecodeAt), falling back to
// the record's timestamp; zero means NULL.
func receivedAt(rec *kgo.Record, now time.Time, maxAhead time.Duration) (time.Time, error) {
	check := func(t time.Time) error {
		if err := validate.SaneTime(t); err != nil {
			return err
		}
		return topics.CheckEventTime(t.UnixMilli(), now, maxAhead)
	}
	raw := topics.Header(rec, topics.HeaderReceivedAt)
	var err error
	if raw == "" {
		err = errors.New("received_at header missing")
	} else if t, perr := time.Parse(time.RFC3339Nano, raw); perr != nil {
		err = fmt.Errorf("received_at header %q does not parse as RFC 3339", topics.Bound(raw, 64))
	} else if cerr := check(t); cerr != nil {
		err = fmt.Errorf("received_at header: %w", cerr)
	} else {
		return t, nil
	}
	if !rec.Timestamp.IsZero() && check(rec.Timestamp) == nil {
		return rec.Timestamp, fmt.Errorf("%w; the record timestamp is stored instead", err)
	}
	return time.Time{}, fmt.Errorf("%w; received_at stored as NULL", err)
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
