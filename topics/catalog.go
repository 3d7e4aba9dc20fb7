// Package topics is the single place where every Kafka topic of Kraite is
// declared: its name, partition count, cleanup policy, retention, what the
// key means and what the value holds. Nothing else in the repository spells a
// topic name; producers, processors, sinks and commands all ask this package.
//
// Names are built from a deployment prefix (default "kraite.") so that two
// deployments can share one cluster.
package topics

import (
	"fmt"
	"strings"
	"time"
)

// DefaultPrefix is the topic prefix used when none is configured.
const DefaultPrefix = "kraite."

// Spec declares one topic. The zero Retention with Compact=false means the
// broker default; every topic in the catalog sets one explicitly.
type Spec struct {
	// Suffix is the name after the prefix, e.g. "user-data-stream".
	Suffix string
	// Partitions is the partition count; the concurrency of the queue.
	Partitions int32
	// Compact selects cleanup.policy=compact (a table); otherwise delete.
	Compact bool
	// Retention is retention.ms for delete topics.
	Retention time.Duration
	// Queue is the queue number of DESIGN.md section 4 (0 = not a queue).
	Queue int
	// Key documents what the record key holds.
	Key string
	// Value documents the value type and codec.
	Value string
	// Doc is a one-line role description.
	Doc string
	// MaxMessageBytes is the topic's max.message.bytes (the largest record
	// batch the broker accepts); 0 leaves the broker default (about 1 MiB).
	MaxMessageBytes int
}

// FrameMaxBytes is max.message.bytes of the topics that carry raw exchange
// frames (user-data-stream and mark-price), and the producers' largest
// record. The largest legitimate frame today is the all-symbols mark-price
// array: 42-60 KB for 568 symbols; a user-data frame is usually under 2 KB,
// an ACCOUNT_UPDATE with hundreds of positions tens of KB. 4 MiB leaves a
// margin of about 70 times over the largest of them (room for ten times
// the symbols with twice the fields) while keeping one record far below
// what a consumer fetches at once (franz-go's fetch.max.bytes is 50 MiB,
// and since KIP-74 a broker returns a first batch larger than any fetch
// limit anyway). A frame above it can never be stored: the producer
// leaves a gap marker instead, so the backfill recovers what it carried.
const FrameMaxBytes = 4 << 20

// Name returns the full topic name under prefix.
func (s Spec) Name(prefix string) string { return prefix + s.Suffix }

// Configs returns the topic-level configs to create or converge the topic with.
func (s Spec) Configs() map[string]*string {
	str := func(v string) *string { return &v }
	cfg := map[string]*string{"cleanup.policy": str("compact")}
	if !s.Compact {
		cfg = map[string]*string{
			"cleanup.policy": str("delete"),
			"retention.ms":   str(fmt.Sprint(s.Retention.Milliseconds())),
		}
	}
	if s.MaxMessageBytes > 0 {
		cfg["max.message.bytes"] = str(fmt.Sprint(s.MaxMessageBytes))
	}
	return cfg
}

const day = 24 * time.Hour

// The catalog (DESIGN.md section 3). Queue topics carry their queue number.
var (
	UserDataStream = Spec{Suffix: "user-data-stream", Partitions: 12, Retention: 7 * day, Queue: 1,
		Key: "account id", Value: "raw Binance user-data frame (JSON, unchanged) | GapMarker (header kind=gap) | backfill frame (kind=backfill)",
		Doc: "queue 1: raw user-data frames, gap markers and REST backfill frames", MaxMessageBytes: FrameMaxBytes}
	Priority = Spec{Suffix: "priority", Partitions: 6, Retention: 3 * day, Queue: 2,
		Key: "account id", Value: "Job (JSON)", Doc: "queue 2: urgent work (reconcile corrections, key loss, drift alerts)"}
	Orders = Spec{Suffix: "orders", Partitions: 12, Retention: 7 * day, Queue: 3,
		Key: "account id", Value: "OrderEvent (JSON)", Doc: "queue 3: dispatched, normalized order and algo-order events"}
	Positions = Spec{Suffix: "positions", Partitions: 12, Retention: 7 * day, Queue: 4,
		Key: "account id", Value: "PositionEvent (JSON)", Doc: "queue 4: position workflow (allowed opens, fills applied to positions)"}
	Indicators = Spec{Suffix: "indicators", Partitions: 6, Retention: day, Queue: 5,
		Key: "symbol", Value: "Job (JSON)", Doc: "queue 5: indicator jobs"}
	Cronjobs = Spec{Suffix: "cronjobs", Partitions: 3, Retention: day, Queue: 6,
		Key: "job name", Value: "Job (JSON)", Doc: "queue 6: scheduled jobs (balance snapshots, kline fetch, order sync)"}
	Default = Spec{Suffix: "default", Partitions: 3, Retention: day, Queue: 7,
		Key: "varies", Value: "Job (JSON)", Doc: "queue 7: everything else"}
	MarkPrice = Spec{Suffix: "mark-price", Partitions: 3, Retention: day,
		Key: "exchange", Value: "raw !markPrice@arr@1s frame (JSON array, unchanged)", Doc: "raw mark-price frames, the whole 1 Hz array per record",
		MaxMessageBytes: FrameMaxBytes}
	OpenIntents = Spec{Suffix: "open-intents", Partitions: 6, Retention: 7 * day,
		Key: "account id", Value: "OpenIntent (JSON)", Doc: "requests to open a position (input of the gate)"}
	OpenIntentsRejected = Spec{Suffix: "open-intents.rejected", Partitions: 6, Retention: 30 * day,
		Key: "account id", Value: "RejectedIntent (JSON)", Doc: "intents the gate refused, with the reason"}
	Allowlist = Spec{Suffix: "allowlist", Partitions: 1, Compact: true,
		Key: "exchange", Value: "AllowlistValue (JSON)", Doc: "dispatch allowlist per exchange (runtime config)"}
	RegimeOverrides = Spec{Suffix: "regime-overrides", Partitions: 1, Compact: true,
		Key: "scope", Value: "Override (JSON)", Doc: "operator overrides of the regime gate, audited"}
	RegimeChanges = Spec{Suffix: "regime-changes", Partitions: 1, Retention: 30 * day,
		Key: "scope", Value: "RegimeChange (JSON)", Doc: "every band change of the regime processor (feeds regime_history)"}
	RegimeCheckpoints = Spec{Suffix: "regime-checkpoints", Partitions: MarkPrice.Partitions, Compact: true,
		Key: "exchange", Value: "regime.Checkpoint (JSON): the state with its rolling market at an input offset",
		Doc: "periodic checkpoints of the regime processor (its table value leaves the market out); copartitioned with mark-price"}
	SchedulerLease = Spec{Suffix: "scheduler-lease", Partitions: 1, Retention: day,
		Key: "scheduler group", Value: "Lease (JSON): who leads and since when", Doc: "leader election: the consumer-group member that owns partition 0 runs the schedules"}
	Accounts = Spec{Suffix: "accounts", Partitions: 24, Compact: true,
		Key: "account id", Value: "accounts.Change (JSON, never a secret); null = removed",
		Doc: "every change of the accounts table; its partitions spread the user-data streams over the producer group"}
	Quarantine = Spec{Suffix: "quarantine", Partitions: 3, Retention: 30 * day,
		Key: "source key", Value: "QuarantineRecord (JSON)", Doc: "records no consumer could decode, with the error"}
)

// All returns every topic of the catalog in a stable order.
func All() []Spec {
	return []Spec{
		UserDataStream, Priority, Orders, Positions, Indicators, Cronjobs, Default,
		MarkPrice, OpenIntents, OpenIntentsRejected, Allowlist, RegimeOverrides,
		RegimeChanges, RegimeCheckpoints, SchedulerLease, Accounts, Quarantine,
	}
}

// Queues returns the seven queue topics in queue order.
func Queues() []Spec {
	var qs []Spec
	for _, s := range All() {
		if s.Queue > 0 {
			qs = append(qs, s)
		}
	}
	return qs
}

// Lookup finds a spec by full name or by suffix.
func Lookup(prefix, name string) (Spec, bool) {
	name = strings.TrimPrefix(name, prefix)
	for _, s := range All() {
		if s.Suffix == name {
			return s, true
		}
	}
	return Spec{}, false
}
