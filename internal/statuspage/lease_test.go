package statuspage

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/queues/scheduler"
)

// TestSchedulerLeaderFromTheLeaseTopic: the page shows the newest good
// lease; garbage, a lease without a leader, bad or future times and a huge
// record are refused (noted, the last good lease kept); a duplicate or an
// older lease read late does not replace a newer one.
func TestSchedulerLeaderFromTheLeaseTopic(t *testing.T) {
	now := time.Now()
	s := newState("t.", time.Hour, 20)
	topic := s.n.lease
	if topic != "t.scheduler-lease" {
		t.Fatalf("lease topic %q", topic)
	}
	if v := s.schedulerView(now); v.Available || v.Note == "" || v.Leader != "" || v.Age != nil {
		t.Fatalf("no lease yet: %+v", v)
	}
	rec := func(off int64, v any) *kgo.Record {
		b, ok := v.([]byte)
		if !ok {
			var err error
			if b, err = json.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		return &kgo.Record{Topic: topic, Key: []byte("t.scheduler"), Value: b, Offset: off}
	}
	since := now.Add(-time.Hour).UnixMilli()
	// The scheduler's own record type, with its fired slots.
	good := scheduler.Lease{Leader: "box-1-scheduler", SinceMs: since, AtMs: now.Add(-5 * time.Second).UnixMilli(), Fired: map[string]int64{"x": 1}}
	s.applyRecord(rec(1, good), now)
	v := s.schedulerView(now)
	if !v.Available || v.Leader != "box-1-scheduler" || v.SinceMs != since || v.Age == nil || *v.Age < 4.9 || *v.Age > 5.1 || v.Unreadable != "" {
		t.Fatalf("good lease: %+v", v)
	}
	for name, bad := range map[string]any{
		"garbage":   []byte(`{"leader":`),
		"no leader": scheduler.Lease{Leader: "  ", SinceMs: since, AtMs: now.UnixMilli()},
		"no times":  scheduler.Lease{Leader: "evil"},
		"since>at":  scheduler.Lease{Leader: "evil", SinceMs: now.UnixMilli(), AtMs: since},
		"future":    scheduler.Lease{Leader: "evil", SinceMs: since, AtMs: now.Add(time.Hour).UnixMilli()},
		"huge":      []byte(`{"leader":"evil","since":1,"at":2,"x":"` + strings.Repeat("a", 70<<10) + `"}`),
		"null":      []byte(nil),
	} {
		s.applyRecord(rec(2, bad), now)
		v := s.schedulerView(now)
		if v.Leader != "box-1-scheduler" || v.Unreadable == "" || len(v.Unreadable) > 400 {
			t.Errorf("%s: %+v", name, v)
		}
	}
	// A good lease clears the note; an older one read later (a duplicate
	// or a former leader's) does not replace it.
	newer := scheduler.Lease{Leader: "box-2-scheduler", SinceMs: now.Add(-time.Minute).UnixMilli(), AtMs: now.UnixMilli()}
	s.applyRecord(rec(3, newer), now)
	s.applyRecord(rec(4, good), now)
	s.applyRecord(rec(5, newer), now)
	if v := s.schedulerView(now); v.Leader != "box-2-scheduler" || v.Unreadable != "" {
		t.Errorf("newest lease: %+v", v)
	}
	// A huge leader id is cut.
	s.applyRecord(rec(6, scheduler.Lease{Leader: strings.Repeat("é", 500), SinceMs: since, AtMs: now.UnixMilli() + 1}), now)
	if v := s.schedulerView(now); len([]rune(v.Leader)) != leaderMax+1 {
		t.Errorf("leader not cut: %d runes", len([]rune(v.Leader)))
	}
}
