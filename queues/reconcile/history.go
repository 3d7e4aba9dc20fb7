package reconcile

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"
)

// The exchange's limits on reading order history (Binance USD-M, see
// ../shared/binance-protocol.md): allOrders and allAlgoOrders answer at
// most 1000 items per request over a window shorter than 7 days, and keep
// an order for 90 days (a CANCELED or EXPIRED order without a fill only 3
// days).
const (
	// DefaultMaxWindow is the longest window one history request spans: 7
	// days is refused, a minute less is not.
	DefaultMaxWindow = 7*24*time.Hour - time.Minute
	// DefaultPageLimit is Binance's maximum `limit` of a history request.
	DefaultPageLimit = 1000
	// DefaultHistory is how far back the exchange answers at all.
	DefaultHistory = 90 * 24 * time.Hour
	// DefaultOverlap is how far before the previous sweep's end a sweep
	// starts reading: an order updated just before that sweep's server
	// time may become visible in the history a little later.
	DefaultOverlap = time.Minute
	// unfilledCancelsKept is how long the exchange lists a CANCELED or
	// EXPIRED order that never filled.
	unfilledCancelsKept = 3 * 24 * time.Hour
	// minSplitMs is the shortest window a full page is split into. One
	// account cannot place 1000 orders in a second (ORDERS: 300 per 10 s),
	// so a page still full at that width is a misbehaving exchange.
	minSplitMs = 1000
)

// maxWindow, pageLimit, history and overlap are the configured limits or
// their defaults.
func (r *Reconciler) maxWindow() int64 {
	if r.MaxWindow > 0 {
		return r.MaxWindow.Milliseconds()
	}
	return DefaultMaxWindow.Milliseconds()
}

func (r *Reconciler) pageLimit() int {
	if r.PageLimit > 0 && r.PageLimit <= DefaultPageLimit {
		return r.PageLimit
	}
	return DefaultPageLimit
}

func (r *Reconciler) history() time.Duration {
	if r.History > 0 {
		return r.History
	}
	return DefaultHistory
}

func (r *Reconciler) overlap() time.Duration {
	if r.Overlap > 0 {
		return r.Overlap
	}
	return DefaultOverlap
}

// span is an inclusive range of exchange milliseconds.
type span struct{ from, to int64 }

// windows splits [from, to] into consecutive inclusive windows of at most
// max milliseconds each, oldest first; none when from > to.
func windows(from, to, max int64) []span {
	if from > to || max <= 0 {
		return nil
	}
	var out []span
	for start := from; start <= to; {
		end := to
		if uint64(to)-uint64(start) > uint64(max) { // no overflow from any int64 pair
			end = start + max
		}
		out = append(out, span{start, end})
		if end == to {
			break
		}
		start = end + 1
	}
	return out
}

// readHistory reads path (allOrders or allAlgoOrders) for one symbol over
// w, giving every answer to add. An answer that fills a page may have left
// items out: the window is read again in halves, down to minSplitMs; a
// page still full at that width is reported to truncated.
func readHistory[T any](ctx context.Context, r *Reconciler, acct Account, path, symbol string, w span,
	add func([]T), truncated func(span)) error {
	limit := r.pageLimit()
	p := url.Values{}
	p.Set("symbol", symbol)
	p.Set("startTime", strconv.FormatInt(w.from, 10))
	p.Set("endTime", strconv.FormatInt(w.to, 10))
	p.Set("limit", strconv.Itoa(limit))
	var page []T
	if err := r.REST.Signed(ctx, "GET", path, acct.Key, p, &page); err != nil {
		return fmt.Errorf("reading %s of %s in %s from %d to %d: %w", path, acct.ID, symbol, w.from, w.to, err)
	}
	add(page)
	if len(page) < limit {
		return nil
	}
	if w.to-w.from < minSplitMs {
		truncated(w)
		return nil
	}
	mid := w.from + (w.to-w.from)/2
	if err := readHistory(ctx, r, acct, path, symbol, span{w.from, mid}, add, truncated); err != nil {
		return err
	}
	return readHistory(ctx, r, acct, path, symbol, span{mid + 1, w.to}, add, truncated)
}
