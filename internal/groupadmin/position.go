// Package groupadmin is the operator's view of Kafka consumer groups: it
// plans and applies offset resets for replay (kraite replay), follows a
// replay's progress, and reports members, assignments and lag per group and
// partition (kraite status). Everything goes through a *kadm.Client, so it
// works against Kafka, Redpanda and the embedded kfake broker alike.
//
// # Why a group must be empty to reset
//
// Kafka only accepts an admin offset commit (generation -1) for a group with
// no members; a live group answers UNKNOWN_MEMBER_ID or
// REBALANCE_IN_PROGRESS, and even if it did not, its members would overwrite
// the reset with their next commit. Apply therefore refuses with a
// *LiveMembersError naming the members (and hosts) to stop, and WaitEmpty
// polls until they are gone.
//
// # Why a reset cannot stop at an offset
//
// A group resumes from its committed offset and reads to the end of the
// partition; Kafka has no "stop at" for a group. A plan's end (--to) is for
// planning and progress only: the operator stops the consumer when it gets
// there, or, as with every Kraite sink, lets it run on because the writes are
// idempotent.
package groupadmin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// PositionKind says how a Position picks an offset in each partition.
type PositionKind int

const (
	// Earliest is the log start offset of each partition.
	Earliest PositionKind = iota
	// Latest is the end offset of each partition (nothing to replay).
	Latest
	// Offset is one absolute offset, used for every partition and clamped
	// to [start, end] of each.
	Offset
	// Time is the first record at or after an instant (Kafka's
	// ListOffsets by timestamp); a partition with nothing after it
	// resolves to its end.
	Time
)

// Position is where a replay starts (or ends): earliest, latest, an offset or
// a time. The zero value is Earliest.
type Position struct {
	Kind   PositionKind `json:"-"`
	Offset int64        `json:"-"`
	Time   time.Time    `json:"-"`
}

// String renders the position the way ParsePosition reads it.
func (p Position) String() string {
	switch p.Kind {
	case Latest:
		return "latest"
	case Offset:
		return strconv.FormatInt(p.Offset, 10)
	case Time:
		return p.Time.UTC().Format(time.RFC3339Nano)
	default:
		return "earliest"
	}
}

// MarshalText makes a Position read well in JSON plans.
func (p Position) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ErrBadPosition is wrapped by every ParsePosition error.
var ErrBadPosition = errors.New("bad position")

// ParsePosition reads "earliest", "latest", a non-negative offset ("12345"),
// an RFC 3339 time ("2026-11-22T10:00:00Z") or a duration before now
// ("-10m", "-2h30m"). It never panics; invalid input is an error wrapping
// ErrBadPosition, never a zero Position.
func ParsePosition(s string) (Position, error) {
	return ParsePositionAt(s, time.Now())
}

// ParsePositionAt is ParsePosition with an explicit "now" for relative
// durations (tests and reproducible plans).
func ParsePositionAt(s string, now time.Time) (Position, error) {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "earliest", "start", "beginning":
		return Position{Kind: Earliest}, nil
	case "latest", "end":
		return Position{Kind: Latest}, nil
	case "":
		return Position{}, fmt.Errorf("%w: empty (want earliest, latest, an offset, an RFC 3339 time or -DURATION)", ErrBadPosition)
	}
	if s[0] >= '0' && s[0] <= '9' && !strings.ContainsAny(s, "-:T") {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return Position{}, fmt.Errorf("%w: offset %q: %w", ErrBadPosition, s, err)
		}
		return Position{Kind: Offset, Offset: n}, nil
	}
	if strings.HasPrefix(s, "-") {
		d, err := time.ParseDuration(s[1:])
		if err != nil || d < 0 {
			return Position{}, fmt.Errorf("%w: %q is not -DURATION like -10m", ErrBadPosition, s)
		}
		return Position{Kind: Time, Time: now.Add(-d).UTC()}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return Position{}, fmt.Errorf("%w: %q is not earliest, latest, an offset, an RFC 3339 time or -DURATION", ErrBadPosition, s)
	}
	return Position{Kind: Time, Time: t.UTC()}, nil
}

// resolve picks this position's offset in one partition given its start and
// end offsets and, for Time, the listed offset after the instant (-1 when
// nothing is after it). clamped reports an Offset outside [start, end].
func (p Position) resolve(start, end, afterTime int64) (off int64, clamped bool) {
	switch p.Kind {
	case Latest:
		return end, false
	case Offset:
		switch {
		case p.Offset < start:
			return start, true
		case p.Offset > end:
			return end, true
		}
		return p.Offset, false
	case Time:
		if afterTime < 0 || afterTime > end {
			return end, false
		}
		return max(afterTime, start), false
	default:
		return start, false
	}
}

// UnmarshalText reads what MarshalText wrote (JSON plans round-trip).
func (p *Position) UnmarshalText(b []byte) error {
	// A Time keeps its instant: relative forms never come from MarshalText.
	got, err := ParsePosition(string(b))
	if err != nil {
		return err
	}
	*p = got
	return nil
}
