package groupadmin

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/testkit"
)

func TestStatusShowsMembersAndLagThatDrainsToZero(t *testing.T) {
	e := newEnv(t, 60)
	const group = "g-status"
	ctx := context.Background()
	// An empty group that committed at the start lags by everything.
	plan, err := Plan(ctx, e.adm, group, topic, Position{Kind: Earliest}, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := Apply(ctx, e.adm, plan); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, e, group)
	if st.State != "Empty" || len(st.Members) != 0 || st.TotalLag != 60 || len(st.Partitions) != 12 {
		t.Fatalf("before consuming: %+v", st)
	}

	c := startConsumer(t, e.addr, group, "status-worker")
	testkit.Eventually(t, 15*time.Second, "the lag to drain", func() bool {
		st = statusOf(t, e, group)
		return st.State == "Stable" && st.TotalLag == 0
	})
	if len(st.Members) != 1 || st.Members[0].ClientID != "status-worker" || len(st.Members[0].Assigned[topic]) != 12 {
		t.Fatalf("members: %+v", st.Members)
	}
	for _, p := range st.Partitions {
		if p.ClientID != "status-worker" || p.Committed != p.End || p.Lag != 0 || p.Err != "" {
			t.Fatalf("partition row %+v", p)
		}
	}

	// New records show up as lag, then drain again.
	c.Stop()
	e.produce(t, 60, 10)
	if st = statusOf(t, e, group); st.TotalLag != 10 {
		t.Fatalf("after 10 more records with no member: lag %d", st.TotalLag)
	}

	all, err := Status(ctx, e.adm)
	if err != nil || len(all) != 1 || all[0].Group != group {
		t.Fatalf("Status of every group = %+v, %v", all, err)
	}
}

func statusOf(t *testing.T, e *env, group string) GroupStatus {
	t.Helper()
	sts, err := Status(context.Background(), e.adm, group)
	if err != nil || len(sts) != 1 {
		t.Fatalf("Status = %+v, %v", sts, err)
	}
	return sts[0]
}

func TestProgressRedrawsOneLineOnATerminalAndStopsWithItsContext(t *testing.T) {
	e := newEnv(t, 30)
	ctx := context.Background()
	// Planned but not applied: the group's commits are already past the
	// plan, so progress is complete at once.
	e.commitAtEnd(t, "g-tty")
	plan, err := Plan(ctx, e.adm, "g-tty", topic, Position{Kind: Earliest}, nil, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	state, err := Progress(ctx, e.adm, plan, ProgressOptions{Out: &out, TTY: true, Interval: 10 * time.Millisecond})
	if err != nil || state != (ProgressState{Done: 30, Total: 30}) {
		t.Fatalf("progress %+v, %v", state, err)
	}
	if s := out.String(); !strings.HasPrefix(s, "\r[###") || !strings.HasSuffix(s, "\n") || strings.Count(s, "\n") != 1 {
		t.Fatalf("terminal output %q", s)
	}

	// Applied with nobody consuming: progress waits until its ctx ends.
	if err := Apply(ctx, e.adm, plan); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	out.Reset()
	state, err = Progress(short, e.adm, plan, ProgressOptions{Out: &out, Interval: 20 * time.Millisecond})
	if !errors.Is(err, context.DeadlineExceeded) || state.Done != 0 || state.Total != 30 {
		t.Fatalf("progress with no consumer: %+v, %v", state, err)
	}
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Fatalf("non-terminal output should be a first and a last line, got %d:\n%s", n, out.String())
	}
}
