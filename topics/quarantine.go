package topics

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Bounds of a quarantine record. A quarantined record is hostile or broken
// by definition, so nothing of it is copied unbounded: a 200 KB frame full
// of '<' once became a 1.2 MB quarantine record (encoding/json escapes each
// to six bytes), which the producer refused, which stopped the consumer.
// With these bounds the encoded record stays under MaxQuarantineBytes
// whatever the input (every byte escapes to at most six).
const (
	// MaxQuarantineValue is how many bytes of the source value are kept;
	// the whole value stays readable at SourceTopic/SourcePartition/SourceOffset.
	MaxQuarantineValue = 16 << 10
	// MaxQuarantineKey bounds the kept key (also the quarantine record's key).
	MaxQuarantineKey = 256
	// MaxQuarantineHeaders is how many headers are kept, each key and value
	// cut to MaxQuarantineHeader bytes.
	MaxQuarantineHeaders = 16
	MaxQuarantineHeader  = 256
	// MaxQuarantineError bounds the error text.
	MaxQuarantineError = 2 << 10
	// MaxQuarantineBytes is the most an encoded QuarantineRecord takes:
	// well under the 1 MiB default max.message.bytes of every topic.
	MaxQuarantineBytes = 256 << 10
)

// QuarantineSource is where a quarantined record came from.
type QuarantineSource struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	// Headers as (key, value) pairs in record order.
	Headers [][2]string
}

// QuarantineRecord is the value of the quarantine topic: a record a
// consumer could not accept, bounded, with why (NewQuarantine builds it).
type QuarantineRecord struct {
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
	Key             string `json:"key"`
	Value           string `json:"value"` // raw bytes as text (JSON frames stay readable), at most MaxQuarantineValue
	// ValueBytes is the source value's full length; Truncated is set when
	// the value, key or headers were cut (see NewQuarantineRecord).
	ValueBytes int               `json:"value_bytes"`
	Truncated  bool              `json:"truncated,omitempty"`
	Headers    map[string]string `json:"headers,omitempty"`
	Consumer   string            `json:"consumer"` // group or component that gave up
	Error      string            `json:"error"`
	AtMs       int64             `json:"at"`
}

// Quarantined is one record for the quarantine topic (Quarantine), whatever publishes
// it (a goka emit, a franz-go produce): its key (the source key,
// QuarantineKey), its value, and its one header, HeaderSource = the source
// topic (bounded).
type Quarantined struct {
	Key    []byte
	Value  QuarantineRecord
	Source string
}

// NewQuarantine is the one constructor of quarantine records: every
// consumer (processors, sinks, workers, producers) builds them here, so
// they share fields, bounds, key and header. consumer names the group or
// component that gave up, cause why, atMs when (the input's timestamp in
// processors, so a replay writes identical records; the wall clock
// elsewhere).
func NewQuarantine(src QuarantineSource, consumer string, cause error, atMs int64) Quarantined {
	q := QuarantineRecord{
		SourceTopic:     Bound(src.Topic, MaxQuarantineHeader),
		SourcePartition: src.Partition,
		SourceOffset:    src.Offset,
		Key:             Bound(string(src.Key), MaxQuarantineKey),
		Value:           Bound(string(src.Value), MaxQuarantineValue),
		ValueBytes:      len(src.Value),
		Consumer:        Bound(consumer, MaxQuarantineHeader),
		AtMs:            atMs,
	}
	q.Truncated = len(src.Value) > MaxQuarantineValue || len(src.Key) > MaxQuarantineKey
	if cause != nil {
		q.Error = Bound(cause.Error(), MaxQuarantineError)
	}
	if len(src.Headers) > 0 {
		q.Headers = make(map[string]string, min(len(src.Headers), MaxQuarantineHeaders))
		for i, h := range src.Headers {
			if i >= MaxQuarantineHeaders {
				q.Truncated = true
				break
			}
			q.Headers[Bound(h[0], MaxQuarantineHeader)] = Bound(h[1], MaxQuarantineHeader)
		}
	}
	return Quarantined{Key: QuarantineKey(src.Key), Value: q, Source: q.SourceTopic}
}

// QuarantineSourceOf describes a franz-go record as the source of a
// quarantine record (its headers in record order).
func QuarantineSourceOf(rec *kgo.Record) QuarantineSource {
	src := QuarantineSource{Topic: rec.Topic, Partition: rec.Partition, Offset: rec.Offset, Key: rec.Key, Value: rec.Value}
	for _, h := range rec.Headers {
		src.Headers = append(src.Headers, [2]string{h.Key, string(h.Value)})
	}
	return src
}

// Record encodes q as a franz-go record on the quarantine topic under
// prefix, ready to produce.
func (q Quarantined) Record(prefix string) (*kgo.Record, error) {
	v, err := json.Marshal(q.Value)
	if err != nil {
		return nil, fmt.Errorf("encoding quarantine record: %w", err)
	}
	return &kgo.Record{Topic: Quarantine.Name(prefix), Key: q.Key, Value: v,
		Headers: []kgo.RecordHeader{{Key: HeaderSource, Value: []byte(q.Source)}}}, nil
}

// QuarantineKey is the Kafka key for the quarantine record of a source
// record with key k: the source key, bounded.
func QuarantineKey(k []byte) []byte {
	if len(k) <= MaxQuarantineKey {
		return k
	}
	return []byte(Bound(string(k), MaxQuarantineKey))
}

// Bound returns s cut to at most n bytes on a rune boundary, with invalid
// UTF-8 replaced (so the text is safe for a database column and for
// encoding/json, which would otherwise expand each bad byte).
func Bound(s string, n int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// SortedHeaderPairs turns a header map into pairs in key order (goka hands
// headers over as a map; sorted order keeps replays identical).
func SortedHeaderPairs(hs map[string][]byte) [][2]string {
	if len(hs) == 0 {
		return nil
	}
	keys := make([]string, 0, len(hs))
	for k := range hs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([][2]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, [2]string{k, string(hs[k])})
	}
	return out
}
