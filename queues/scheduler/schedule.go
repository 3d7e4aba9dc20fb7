// Package scheduler owns time-driven work: one long-lived loop (no process
// per tick) that turns every schedule into job records on queue topics.
//
// # One active scheduler
//
// Every replica joins one consumer group on a one-partition lease topic; the
// member that is assigned partition 0 is the leader and the only one that
// fires. Kafka's group protocol is the election: a clean shutdown leaves the
// group and hands over at once, a crashed leader is replaced once its session
// times out. No second coordination system.
//
// # Exactly-once effect from at-least-once firing
//
// A firing is a job whose ID is derived from (schedule, slot, account), where
// the slot is the scheduled time aligned to the schedule's period, never the
// jittered or actual firing time. A new leader re-fires the current slot of
// every schedule (a leader may have died just before firing it), so a slot
// can be published twice; consumers drop the repeat with a Deduper.
package scheduler

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/kraite/stream/topics"
)

// Schedule is one recurring job.
type Schedule struct {
	// Name identifies the schedule; it is the job type and part of the job ID.
	Name string
	// Every is the period; slots are aligned to the Unix epoch.
	Every time.Duration
	// Jitter delays each firing by a deterministic amount in [0, Jitter)
	// derived from (Name, slot), spreading load without changing job IDs.
	Jitter time.Duration
	// Queue is the topic the jobs go to.
	Queue topics.Spec
	// PerAccount fans one firing out to one job per account (key = account);
	// otherwise one job keyed by Name.
	PerAccount bool
	// Spread staggers a PerAccount schedule's accounts over its period: the
	// period is cut into Spread sub-slots and each account fires in the one
	// its id hashes to, so a thousand accounts' order syncs do not all start
	// at once and queue on one REST weight budget. Every account still fires
	// once per period; its job ID names its sub-slot. Jitter must then be
	// shorter than Every/Spread. 0 or 1: every account at the slot.
	Spread int
}

// expanded is how the scheduler runs a spread schedule: a schedule of period
// Every/Spread whose every sub-slot fires one bucket of the accounts.
func (s Schedule) expanded() Schedule {
	if s.Spread > 1 && s.PerAccount {
		s.Every /= time.Duration(s.Spread)
	}
	return s
}

// bucketOf is the sub-slot of a period in which account fires (0..spread-1).
func bucketOf(account string, spread int) int64 {
	h := fnv.New64a()
	h.Write([]byte(account))
	// FNV alone clusters sequential ids (acct-0001, acct-0002...) modulo
	// small numbers; splitmix64's finalizer mixes the bits first.
	x := h.Sum64()
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return int64(x % uint64(spread))
}

// Fires reports whether an expanded spread schedule fires account at slot.
func (s Schedule) Fires(account string, slot time.Time) bool {
	if s.Spread <= 1 || !s.PerAccount {
		return true
	}
	sub := slot.UnixMilli() / s.Every.Milliseconds()
	return sub%int64(s.Spread) == bucketOf(account, s.Spread)
}

// Validate names the problem.
func (s Schedule) Validate() error {
	switch {
	case s.Name == "":
		return errors.New("schedule without a name")
	case s.Every <= 0:
		return fmt.Errorf("schedule %s: period %s must be positive", s.Name, s.Every)
	case s.Spread < 0:
		return fmt.Errorf("schedule %s: spread %d is negative", s.Name, s.Spread)
	case s.Spread > 1 && (!s.PerAccount || s.Every%time.Duration(s.Spread) != 0 || s.Every/time.Duration(s.Spread) < time.Millisecond):
		return fmt.Errorf("schedule %s: spread %d needs a per-account schedule whose period %s divides into %d whole milliseconds",
			s.Name, s.Spread, s.Every, s.Spread)
	case s.Jitter < 0 || s.Jitter >= s.expanded().Every:
		return fmt.Errorf("schedule %s: jitter %s must be in [0, period/spread = %s)", s.Name, s.Jitter, s.expanded().Every)
	case s.Queue.Suffix == "":
		return fmt.Errorf("schedule %s: no queue topic", s.Name)
	}
	return nil
}

// Slot is the start of the period containing t.
func (s Schedule) Slot(t time.Time) time.Time {
	return time.UnixMilli(t.UnixMilli() - t.UnixMilli()%s.Every.Milliseconds())
}

// FireAt is when slot fires: the slot plus its deterministic jitter.
func (s Schedule) FireAt(slot time.Time) time.Time {
	if s.Jitter <= 0 {
		return slot
	}
	h := fnv.New64a()
	h.Write([]byte(s.Name))
	h.Write([]byte(strconv.FormatInt(slot.UnixMilli(), 10)))
	return slot.Add(time.Duration(h.Sum64() % uint64(s.Jitter)))
}

// JobID is the identity of the job of (schedule, slot, account).
func JobID(name string, slot time.Time, account string) string {
	id := name + "@" + strconv.FormatInt(slot.UnixMilli(), 10)
	if account != "" {
		id += "/" + account
	}
	return id
}

// Spreaded is s (a per-account schedule) staggered over its period in up
// to 60 sub-slots of at least a second each, with a jitter of a tenth of a
// sub-slot, so a thousand accounts' jobs do not all start at the same
// instant; a period that divides into no such sub-slots keeps one slot and
// a jitter of a tenth of the period.
func Spreaded(s Schedule) Schedule {
	for n := 60; n > 1; n-- {
		if sub := s.Every / time.Duration(n); s.Every%time.Duration(n) == 0 && sub >= time.Second && sub%time.Millisecond == 0 {
			s.Spread, s.Jitter = n, sub/10
			return s
		}
	}
	s.Jitter = s.Every / 10
	return s
}
