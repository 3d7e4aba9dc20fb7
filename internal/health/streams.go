// Package health turns what a process can observe about itself into
// readiness verdicts that tell the truth: a box whose streams have been down
// for minutes, or whose consumer group has stopped committing while records
// wait, is not ready, and says why. Each watch is a small state machine fed
// by samples (so it is tested without sleeping) and read by an ops check.
package health

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// Stream is one observed stream: a user-data account or the mark-price feed.
type Stream struct {
	ID        string
	Connected bool
}

// StreamWatch judges a set of streams: a stream down longer than Grace
// counts as down; the box is not ready when at least one stream is down and
// the down streams are more than MaxDownShare of all (so one account with
// revoked keys does not take a box of hundreds out, while a box whose
// streams all fail does not look fine). Critical streams (the mark-price
// feed) make the box not ready on their own.
type StreamWatch struct {
	What         string // "user-data streams"
	Grace        time.Duration
	MaxDownShare float64
	Now          func() time.Time

	mu        sync.Mutex
	downSince map[string]time.Time
}

// NewStreamWatch returns a watch with the defaults: 1 min grace, 20% share.
func NewStreamWatch(what string) *StreamWatch {
	return &StreamWatch{What: what, Grace: time.Minute, MaxDownShare: 0.2, Now: time.Now}
}

// Observe records a sample and returns the verdict: nil when ready.
func (w *StreamWatch) Observe(streams []Stream) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.Now()
	if w.downSince == nil {
		w.downSince = map[string]time.Time{}
	}
	seen := make(map[string]bool, len(streams))
	type down struct {
		id   string
		for_ time.Duration
	}
	var long []down
	for _, s := range streams {
		seen[s.ID] = true
		if s.Connected {
			delete(w.downSince, s.ID)
			continue
		}
		since, ok := w.downSince[s.ID]
		if !ok {
			w.downSince[s.ID] = now
			continue
		}
		if d := now.Sub(since); d > w.Grace {
			long = append(long, down{s.ID, d})
		}
	}
	for id := range w.downSince {
		if !seen[id] {
			delete(w.downSince, id) // removed from the box
		}
	}
	if len(long) == 0 || float64(len(long)) <= w.MaxDownShare*float64(len(streams)) {
		return nil
	}
	slices.SortFunc(long, func(a, b down) int { return strings.Compare(a.id, b.id) })
	names := make([]string, 0, 5)
	for i, d := range long {
		if i == 5 {
			names = append(names, fmt.Sprintf("and %d more", len(long)-5))
			break
		}
		names = append(names, fmt.Sprintf("%s (%s)", d.id, d.for_.Round(time.Second)))
	}
	return fmt.Errorf("%d of %d %s down for more than %s: %s", len(long), len(streams), w.What, w.Grace, strings.Join(names, ", "))
}
