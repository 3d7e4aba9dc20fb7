package groupadmin

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/testkit"
)

// countFrom counts produced records with a timestamp in [from, to).
func countFrom(recs []*kgo.Record, from, to time.Time) int64 {
	var n int64
	for _, r := range recs {
		if !r.Timestamp.Before(from) && r.Timestamp.Before(to) {
			n++
		}
	}
	return n
}

func TestPlanByTimeOffsetAndEarliest(t *testing.T) {
	e := newEnv(t, 120)
	e.commitAtEnd(t, "g-plan")
	ctx := context.Background()
	at := func(s int) *Position { return &Position{Kind: Time, Time: base.Add(time.Duration(s) * time.Second)} }
	far := base.Add(time.Hour)
	ends, err := e.adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var fromOffset4 int64
	for _, ps := range ends {
		for _, o := range ps {
			fromOffset4 += max(0, o.Offset-4)
		}
	}
	tests := []struct {
		name      string
		from      Position
		to        *Position
		wantTotal int64
	}{
		{"earliest replays everything", Position{Kind: Earliest}, nil, 120},
		{"latest replays nothing", Position{Kind: Latest}, nil, 0},
		{"a time replays the records at or after it", *at(90), nil, countFrom(e.recs, base.Add(90*time.Second), far)},
		{"a time window counts the records in [from, to)", *at(30), at(60), 30},
		{"a time after the last record replays nothing", *at(500), nil, 0},
		{"offset 4 replays all but the first four of each partition", Position{Kind: Offset, Offset: 4}, nil, fromOffset4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := Plan(ctx, e.adm, "g-plan", topic, tt.from, tt.to, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(plan.Partitions) != 12 {
				t.Fatalf("planned %d partitions, want 12", len(plan.Partitions))
			}
			if got := plan.Total(); got != tt.wantTotal {
				t.Fatalf("Total = %d, want %d\n%+v", got, tt.wantTotal, plan.Partitions)
			}
			for _, pp := range plan.Partitions {
				if pp.Committed != pp.End {
					t.Fatalf("partition %d: committed %d, want the end %d", pp.Partition, pp.Committed, pp.End)
				}
			}
		})
	}
}

func TestPlanTargetsTheFirstRecordAtOrAfterTheTime(t *testing.T) {
	e := newEnv(t, 60)
	from := base.Add(25 * time.Second)
	plan, err := Plan(context.Background(), e.adm, "g-first", topic, Position{Kind: Time, Time: from}, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, pp := range plan.Partitions {
		want := pp.End
		for _, r := range e.recs { // produced in offset order per partition
			if r.Partition == pp.Partition && !r.Timestamp.Before(from) {
				want = r.Offset
				break
			}
		}
		if pp.Target != want || pp.Committed != -1 {
			t.Fatalf("partition %d: target %d committed %d, want target %d committed -1", pp.Partition, pp.Target, pp.Committed, want)
		}
	}
}

func TestPlanRefusesAMissingTopic(t *testing.T) {
	e := newEnv(t, 1)
	_, err := Plan(context.Background(), e.adm, "g", prefix+"no-such-topic", Position{}, nil, "", nil)
	if err == nil || !strings.Contains(err.Error(), "no-such-topic") {
		t.Fatalf("got %v, want an error naming the topic", err)
	}
}

func TestApplyResetsAStoppedGroupSoReconsumptionYieldsExactlyTheRecordsFromThePoint(t *testing.T) {
	e := newEnv(t, 80)
	const group = "g-apply"
	c := startConsumer(t, e.addr, group, "first-run")
	testkit.Eventually(t, 15*time.Second, "the first run to read everything", func() bool { return len(c.Records()) == 80 })
	c.Stop()
	testkit.Eventually(t, 10*time.Second, "the group to empty", func() bool { s, _ := groupState(t, e.adm, group); return s == "Empty" })

	point := base.Add(50 * time.Second)
	plan, err := Plan(context.Background(), e.adm, group, topic, Position{Kind: Time, Time: point}, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Total() != 30 {
		t.Fatalf("plan replays %d, want 30", plan.Total())
	}
	if err := Apply(context.Background(), e.adm, plan); err != nil {
		t.Fatal(err)
	}

	again := startConsumer(t, e.addr, group, "second-run")
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	state, err := Progress(ctx, e.adm, plan, ProgressOptions{Interval: 20 * time.Millisecond})
	if err != nil || !state.CaughtUp() {
		t.Fatalf("progress %+v: %v", state, err)
	}
	again.Stop()
	var got, want []string
	for _, r := range again.Records() {
		got = append(got, string(r.Value))
	}
	for _, r := range e.recs {
		if !r.Timestamp.Before(point) {
			want = append(want, string(r.Value))
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("re-consumed %d records %v\nwant %d %v", len(got), got, len(want), want)
	}
}

func TestAccountResetsOnlyThatAccountsPartition(t *testing.T) {
	e := newEnv(t, 100)
	const group = "g-account"
	e.commitAtEnd(t, group)
	before := e.committed(t, group)

	plan, err := Plan(context.Background(), e.adm, group, topic, Position{Kind: Earliest}, nil, "acct-7", nil)
	if err != nil {
		t.Fatal(err)
	}
	var holds int32 = -1
	for _, r := range e.recs {
		if string(r.Key) == "acct-7" {
			holds = r.Partition
		}
	}
	if len(plan.Partitions) != 1 || plan.AccountPartition != holds || plan.Partitions[0].Partition != holds {
		t.Fatalf("plan %+v; acct-7's records are in partition %d", plan, holds)
	}
	if !strings.Contains(strings.Join(plan.Notes, " "), "WHOLE partition") {
		t.Fatalf("notes do not warn that the whole partition replays: %q", plan.Notes)
	}
	if err := Apply(context.Background(), e.adm, plan); err != nil {
		t.Fatal(err)
	}
	after := e.committed(t, group)
	for p, off := range before {
		want := off
		if p == holds {
			want = 0
		}
		if after[p] != want {
			t.Fatalf("partition %d committed %d after the reset, want %d", p, after[p], want)
		}
	}
}

func TestApplyRefusesWhileMembersAreLive(t *testing.T) {
	e := newEnv(t, 20)
	const group = "g-live"
	c := startConsumer(t, e.addr, group, "live-worker")
	testkit.Eventually(t, 15*time.Second, "the member to read", func() bool { return len(c.Records()) == 20 })
	plan, err := Plan(context.Background(), e.adm, group, topic, Position{Kind: Earliest}, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	err = Apply(context.Background(), e.adm, plan)
	var le *LiveMembersError
	if !errors.Is(err, ErrLiveMembers) || !errors.As(err, &le) {
		t.Fatalf("Apply with a live member = %v, want a LiveMembersError", err)
	}
	if len(le.Members) != 1 || !strings.Contains(err.Error(), "live-worker@") || le.Members[0].Host == "" {
		t.Fatalf("the refusal does not say whom to stop: %v %+v", err, le.Members)
	}

	// --wait: WaitEmpty reports the member, returns once it is stopped,
	// and then the reset goes through.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	seen := make(chan struct{}, 1)
	waited := make(chan error, 1)
	go func() {
		waited <- WaitEmpty(ctx, e.adm, group, 20*time.Millisecond, func(*LiveMembersError) {
			select {
			case seen <- struct{}{}:
			default:
			}
		})
	}()
	<-seen
	c.Stop()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
	if err := Apply(context.Background(), e.adm, plan); err != nil {
		t.Fatal(err)
	}
	for p, off := range e.committed(t, group) {
		if off != 0 {
			t.Fatalf("partition %d at %d after the reset, want 0", p, off)
		}
	}
}
