package statuspage

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/queues/scheduler"
)

// leaderMax bounds the leader id shown.
const leaderMax = 120

// Scheduler is the scheduler's leader as its newest lease record says.
type Scheduler struct {
	Section
	Leader  string `json:"leader,omitempty"`
	SinceMs int64  `json:"since,omitempty"`
	// AtMs is when the leader last wrote its lease (every firing round).
	AtMs int64    `json:"at,omitempty"`
	Age  *float64 `json:"age_s"`
	// Unreadable says why the newest lease record was refused (the
	// leader shown, if any, is from the last good one).
	Unreadable string `json:"unreadable,omitempty"`
}

// decodeLease decodes a record of the scheduler-lease topic (the
// scheduler's own type); a record without a leader or times, or with times
// in the future beyond the skew allowed, is refused.
func decodeLease(raw []byte, now time.Time) (scheduler.Lease, error) {
	var l scheduler.Lease
	if len(raw) > 64<<10 {
		return l, fmt.Errorf("lease record of %d bytes", len(raw))
	}
	if err := json.Unmarshal(raw, &l); err != nil {
		return scheduler.Lease{}, fmt.Errorf("undecodable lease record: %w", err)
	}
	l.Leader = strings.TrimSpace(l.Leader)
	switch {
	case l.Leader == "" || !utf8.ValidString(l.Leader):
		return scheduler.Lease{}, fmt.Errorf("lease record without a leader")
	case l.SinceMs <= 0 || l.AtMs <= 0 || l.SinceMs > l.AtMs:
		return scheduler.Lease{}, fmt.Errorf("lease record with bad times (since %d, at %d)", l.SinceMs, l.AtMs)
	case l.AtMs > now.Add(time.Minute).UnixMilli():
		return scheduler.Lease{}, fmt.Errorf("lease record written in the future (at %d)", l.AtMs)
	}
	l.Leader = cut(l.Leader, leaderMax)
	l.Fired = nil // not shown: not kept
	return l, nil
}

// applyLease keeps the newest good lease (by its write time); a refused
// record is noted and the last good lease kept.
func (s *state) applyLease(r *kgo.Record, now time.Time) {
	l, err := decodeLease(r.Value, now)
	if err != nil {
		s.leaseBad = cut(fmt.Sprintf("%s (partition %d, offset %d)", err, r.Partition, r.Offset), 300)
		return
	}
	s.leaseBad = ""
	if s.lease == nil || l.AtMs >= s.lease.AtMs {
		s.lease = &l
	}
}

func (s *state) schedulerView(now time.Time) Scheduler {
	out := Scheduler{Section: Section{Available: s.lease != nil}, Unreadable: s.leaseBad}
	if s.lease == nil {
		out.Note = "no scheduler lease yet (no scheduler has led)"
		return out
	}
	out.Leader, out.SinceMs, out.AtMs = s.lease.Leader, s.lease.SinceMs, s.lease.AtMs
	out.Age = age(now, time.UnixMilli(s.lease.AtMs))
	return out
}
