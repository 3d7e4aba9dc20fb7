package topics

import (
	"fmt"
	"time"
)

// DefaultMaxAhead is how far an event time may lie ahead of a consumer's
// own clock before the record is refused (quarantined). Exchange clocks and
// ours agree within a second or two (NTP, and Binance rejects requests
// whose timestamp is more than 1 s ahead of its own), so a minute is a wide
// margin for honest records and nothing for a record claiming 2100.
const DefaultMaxAhead = time.Minute

// ErrFromTheFuture reports an event time too far ahead of the consumer's clock.
type ErrFromTheFuture struct {
	EventMs, NowMs int64
	MaxAhead       time.Duration
}

func (e *ErrFromTheFuture) Error() string {
	return fmt.Sprintf("event time %d is %s ahead of this consumer's clock (%d); at most %s is accepted",
		e.EventMs, time.UnixMilli(e.EventMs).Sub(time.UnixMilli(e.NowMs)), e.NowMs, e.MaxAhead) // Sub saturates: no overflow for the year 9999
}

// CheckEventTime refuses an event time (Unix ms) more than maxAhead past
// now, and one that is not positive. maxAhead <= 0 means DefaultMaxAhead.
func CheckEventTime(eventMs int64, now time.Time, maxAhead time.Duration) error {
	if maxAhead <= 0 {
		maxAhead = DefaultMaxAhead
	}
	if eventMs <= 0 {
		return fmt.Errorf("event time %d is not a positive Unix millisecond time", eventMs)
	}
	nowMs := now.UnixMilli()
	if eventMs > nowMs+maxAhead.Milliseconds() {
		return &ErrFromTheFuture{EventMs: eventMs, NowMs: nowMs, MaxAhead: maxAhead}
	}
	return nil
}
