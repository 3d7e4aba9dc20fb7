package health

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
)

// Partition is one partition of a group's input: its committed offset
// (-1: none yet) and the log end.
type Partition struct {
	Topic     string
	Partition int32
	Committed int64
	End       int64
}

// StallWatch tells a slow consumer from a stuck one: a partition is
// stalled when records wait (end > committed) and the committed offset has
// not moved for longer than After. A busy consumer commits as it goes; a
// consumer retrying one job forever, deadlocked, or whose member died
// without a rebalance, does not.
type StallWatch struct {
	Group string
	After time.Duration
	Now   func() time.Time

	mu   sync.Mutex
	last map[string]mark // topic/partition -> last committed and when it moved
}

type mark struct {
	committed int64
	at        time.Time
}

// NewStallWatch returns a watch of group with a 2 min stall window.
func NewStallWatch(group string) *StallWatch {
	return &StallWatch{Group: group, After: 2 * time.Minute, Now: time.Now}
}

// Observe records a sample of the group's partitions and returns an error
// naming the stalled ones (nil when none is).
func (w *StallWatch) Observe(parts []Partition) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.Now()
	if w.last == nil {
		w.last = map[string]mark{}
	}
	var stalled []string
	var behind int64
	for _, p := range parts {
		key := fmt.Sprintf("%s/%d", p.Topic, p.Partition)
		m, ok := w.last[key]
		if !ok || m.committed != p.Committed {
			w.last[key] = mark{committed: p.Committed, at: now}
			continue
		}
		start := max(p.Committed, 0)
		if p.End > start && now.Sub(m.at) > w.After {
			stalled = append(stalled, fmt.Sprintf("%s (lag %d, no commit for %s)", key, p.End-start, now.Sub(m.at).Round(time.Second)))
			behind += p.End - start
		}
		if p.End <= start {
			// Caught up: idle is not stalled; restart the clock.
			w.last[key] = mark{committed: p.Committed, at: now}
		}
	}
	if len(stalled) == 0 {
		return nil
	}
	sort.Strings(stalled)
	if len(stalled) > 4 {
		stalled = append(stalled[:4], fmt.Sprintf("and %d more", len(stalled)-4))
	}
	return fmt.Errorf("group %s stalled: %d records waiting on %s", w.Group, behind, strings.Join(stalled, ", "))
}
