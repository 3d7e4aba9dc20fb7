package groupadmin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
)

// PartitionPlan is the reset of one partition.
type PartitionPlan struct {
	Partition int32 `json:"partition"`
	// Committed is the group's committed offset now, -1 when it has none.
	Committed int64 `json:"committed"`
	// Start and End are the partition's log start and end offsets now.
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Target is the offset the group will resume from.
	Target int64 `json:"target"`
	// Until is the end of the replayed range [Target, Until): the --to
	// position, or End when there is none.
	Until int64 `json:"until"`
	// Clamped says an explicit offset was outside [Start, End] and was
	// moved to the nearest bound.
	Clamped bool `json:"clamped,omitempty"`
}

// Replay is the number of records in [Target, Until).
func (p PartitionPlan) Replay() int64 { return max(0, p.Until-p.Target) }

// Skipped is how many records the reset jumps over (a forward reset),
// counted from the committed offset (or the log start when none).
func (p PartitionPlan) Skipped() int64 {
	from := p.Committed
	if from < 0 {
		from = p.Start
	}
	return max(0, p.Target-from)
}

// ReplayPlan is what Apply will commit for a group on one topic, with the
// numbers an operator needs to judge it. Build it with Plan.
type ReplayPlan struct {
	Group   string    `json:"group"`
	Topic   string    `json:"topic"`
	From    Position  `json:"from"`
	To      *Position `json:"to,omitempty"`
	Account string    `json:"account,omitempty"`
	// AccountPartition is the partition holding Account's key, -1 without
	// an account.
	AccountPartition int32           `json:"account_partition"`
	Partitions       []PartitionPlan `json:"partitions"`
	// Notes are plain-language warnings for the operator.
	Notes     []string  `json:"notes,omitempty"`
	PlannedAt time.Time `json:"planned_at"`
}

// Total is the number of records the plan replays over all partitions.
func (p ReplayPlan) Total() int64 {
	var n int64
	for _, pp := range p.Partitions {
		n += pp.Replay()
	}
	return n
}

// Offsets is the commit Apply sends: the target of every planned partition.
func (p ReplayPlan) Offsets() kadm.Offsets {
	os := make(kadm.Offsets)
	for _, pp := range p.Partitions {
		os.Add(kadm.Offset{Topic: p.Topic, Partition: pp.Partition, At: pp.Target, LeaderEpoch: -1, Metadata: "kraite replay"})
	}
	return os
}

// AccountPartition returns the partition of topic (with n partitions) that
// holds key account, as every Kraite producer places it (part nil means
// kclient.Partitioner(), the goka-compatible one).
func AccountPartition(part kgo.Partitioner, topic, account string, n int) int32 {
	if part == nil {
		part = kclient.Partitioner()
	}
	return int32(part.ForTopic(topic).Partition(&kgo.Record{Topic: topic, Key: []byte(account)}, n))
}

// Plan computes, without changing anything, how a reset of group on topic to
// from would look: per partition the committed offset, the target, and the
// records in [from, to) (to nil: up to the end). A non-empty account limits
// the plan to the one partition holding that key, found with part (nil:
// kclient.Partitioner()). Plan only reads, so it is safe while the group
// runs; Apply re-checks the group before committing.
func Plan(ctx context.Context, adm *kadm.Client, group, topic string, from Position, to *Position, account string, part kgo.Partitioner) (ReplayPlan, error) {
	switch {
	case group == "":
		return ReplayPlan{}, errors.New("planning replay: group is required")
	case topic == "":
		return ReplayPlan{}, errors.New("planning replay: topic is required")
	}
	plan := ReplayPlan{Group: group, Topic: topic, From: from, To: to, Account: account, AccountPartition: -1, PlannedAt: time.Now().UTC()}
	starts, err := listed(ctx, topic, adm.ListStartOffsets)
	if err != nil {
		return plan, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	ends, err := listed(ctx, topic, adm.ListEndOffsets)
	if err != nil {
		return plan, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	fromAfter, err := afterTime(ctx, adm, topic, from)
	if err != nil {
		return plan, err
	}
	var toAfter map[int32]int64
	if to != nil {
		if toAfter, err = afterTime(ctx, adm, topic, *to); err != nil {
			return plan, err
		}
	}
	committed, err := fetchCommitted(ctx, adm, group, topic)
	if err != nil {
		return plan, err
	}
	parts := sortedPartitions(ends)
	if account != "" {
		p := AccountPartition(part, topic, account, len(parts))
		plan.AccountPartition = p
		parts = []int32{p}
		plan.Notes = append(plan.Notes, fmt.Sprintf(
			"--account %s: only partition %d is reset, and the WHOLE partition replays: other accounts keyed to partition %d are delivered again too (the idempotent sinks absorb the duplicates)",
			account, p, p))
	}
	for _, p := range parts {
		pp := planPartition(p, starts[p], ends[p], committed, topic, from, to, fromAfter, toAfter)
		plan.Partitions = append(plan.Partitions, pp)
	}
	plan.Notes = append(plan.Notes, planNotes(plan)...)
	return plan, nil
}

func planPartition(p int32, start, end int64, committed kadm.OffsetResponses, topic string, from Position, to *Position, fromAfter, toAfter map[int32]int64) PartitionPlan {
	pp := PartitionPlan{Partition: p, Committed: -1, Start: start, End: end, Until: end}
	if c, ok := committed.Lookup(topic, p); ok && c.Err == nil && c.At >= 0 {
		pp.Committed = c.At
	}
	pp.Target, pp.Clamped = from.resolve(start, end, lookupAfter(fromAfter, p))
	if to != nil {
		pp.Until, _ = to.resolve(start, end, lookupAfter(toAfter, p))
	}
	return pp
}

func planNotes(plan ReplayPlan) []string {
	var notes []string
	var clamped, skipping []int32
	for _, pp := range plan.Partitions {
		if pp.Clamped {
			clamped = append(clamped, pp.Partition)
		}
		if pp.Skipped() > 0 {
			skipping = append(skipping, pp.Partition)
		}
	}
	if len(clamped) > 0 {
		notes = append(notes, fmt.Sprintf("offset %s is outside partitions %v; moved to the nearest of log start / end", plan.From, clamped))
	}
	if len(skipping) > 0 {
		notes = append(notes, fmt.Sprintf("partitions %v move FORWARD: records between the committed offset and the target are skipped, not replayed", skipping))
	}
	if plan.To != nil {
		notes = append(notes, "--to only bounds this report and the progress bar: a Kafka group cannot stop at an offset, so stop the consumer at the end or let the idempotent sinks run on")
	}
	return notes
}

// fetchCommitted returns group's commits on topic; a group the broker does
// not know yet has none.
func fetchCommitted(ctx context.Context, adm *kadm.Client, group, topic string) (kadm.OffsetResponses, error) {
	committed, err := adm.FetchOffsetsForTopics(ctx, group, topic)
	if errors.Is(err, kerr.GroupIDNotFound) {
		return kadm.OffsetResponses{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("fetching committed offsets of group %s on %s: %w", group, topic, err)
	}
	return committed, nil
}

func lookupAfter(m map[int32]int64, p int32) int64 {
	if v, ok := m[p]; ok {
		return v
	}
	return -1
}

// afterTime lists, for a Time position, the first offset at or after it in
// every partition (-1: nothing after it). Other kinds need no request.
func afterTime(ctx context.Context, adm *kadm.Client, topic string, pos Position) (map[int32]int64, error) {
	if pos.Kind != Time {
		return nil, nil
	}
	milli := pos.Time.UnixMilli()
	m, err := listed(ctx, topic, func(ctx context.Context, ts ...string) (kadm.ListedOffsets, error) {
		return adm.ListOffsetsAfterMilli(ctx, milli, ts...)
	})
	if err != nil {
		return nil, fmt.Errorf("listing offsets of %s after %s: %w", topic, pos, err)
	}
	return m, nil
}

// listed runs one kadm list call for topic and flattens it to partition ->
// offset, turning a missing topic or a partition error into an error.
func listed(ctx context.Context, topic string, fn func(context.Context, ...string) (kadm.ListedOffsets, error)) (map[int32]int64, error) {
	l, err := fn(ctx, topic)
	if err != nil {
		return nil, err
	}
	if err := l.Error(); err != nil {
		return nil, err
	}
	ps := l[topic]
	if len(ps) == 0 {
		return nil, fmt.Errorf("topic %s does not exist", topic)
	}
	out := make(map[int32]int64, len(ps))
	for p, o := range ps {
		out[p] = o.Offset
	}
	return out, nil
}

func sortedPartitions(m map[int32]int64) []int32 {
	ps := make([]int32, 0, len(m))
	for p := range m {
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	return ps
}

// MarshalJSON adds the derived counts (replay, skip) for machines.
func (p PartitionPlan) MarshalJSON() ([]byte, error) {
	type plain PartitionPlan
	return json.Marshal(struct {
		plain
		Replay  int64 `json:"replay"`
		Skipped int64 `json:"skip"`
	}{plain(p), p.Replay(), p.Skipped()})
}

// MarshalJSON adds the derived total for machines.
func (p ReplayPlan) MarshalJSON() ([]byte, error) {
	type plain ReplayPlan
	return json.Marshal(struct {
		plain
		Total int64 `json:"total"`
	}{plain(p), p.Total()})
}
