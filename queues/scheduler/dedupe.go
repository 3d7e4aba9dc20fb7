package scheduler

import (
	"sync"

	"github.com/kraite/stream/topics"
)

// Deduper drops the repeat of a job a new leader re-fired. Jobs of one
// (schedule, account) share a key and so a partition, in slot order, so
// remembering the newest slot per (schedule, account) is enough: a job whose
// slot is not newer is a repeat. Safe for concurrent use.
type Deduper struct {
	mu   sync.Mutex
	last map[string]int64
}

// NewDeduper returns an empty Deduper.
func NewDeduper() *Deduper { return &Deduper{last: map[string]int64{}} }

// Duplicate reports whether j repeats a job already seen, and records j otherwise.
func (d *Deduper) Duplicate(j topics.Job) bool {
	k := j.Type + "/" + j.Account
	d.mu.Lock()
	defer d.mu.Unlock()
	if last, ok := d.last[k]; ok && j.ScheduledMs <= last {
		return true
	}
	d.last[k] = j.ScheduledMs
	return false
}
