package markprice

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// mailbox is a one-slot mailbox that merges instead of queueing: a tick
// that arrives while another waits replaces it symbol by symbol (the newer
// event time wins), so a slow database sees at most one pending tick, and
// the records of every merged tick are marked together once it is written.
type mailbox struct {
	mu      sync.Mutex
	prices  map[string]Price
	recs    []*kgo.Record
	ticks   int // ticks merged into the pending one
	notify  chan struct{}
	skipped uint64
}

func newMailbox() *mailbox { return &mailbox{notify: make(chan struct{}, 1)} }

// put merges a tick and its record into the pending slot.
func (m *mailbox) put(prices []Price, rec *kgo.Record) {
	m.mu.Lock()
	if m.prices == nil {
		m.prices = make(map[string]Price, len(prices))
	}
	if m.ticks > 0 {
		m.skipped++ // the pending tick will never be written on its own
	}
	for _, p := range prices {
		if old, ok := m.prices[p.Symbol]; ok && old.EventTime > p.EventTime {
			continue
		}
		m.prices[p.Symbol] = p
	}
	if rec != nil {
		m.recs = append(m.recs, rec)
	}
	m.ticks++
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// markOnly adds a record that carried no tick (undecodable, quarantined) so
// its offset is committed with the next write.
func (m *mailbox) markOnly(rec *kgo.Record) {
	m.mu.Lock()
	m.recs = append(m.recs, rec)
	m.mu.Unlock()
	select {
	case m.notify <- struct{}{}:
	default:
	}
}

// take empties the slot.
func (m *mailbox) take() (map[string]Price, []*kgo.Record) {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, r := m.prices, m.recs
	m.prices, m.recs, m.ticks = nil, nil, 0
	return p, r
}

// giveBack returns a failed take to the slot; newer prices already there win.
func (m *mailbox) giveBack(prices map[string]Price, recs []*kgo.Record) {
	m.mu.Lock()
	if m.prices == nil {
		m.prices = prices
	} else {
		for s, p := range prices {
			if cur, ok := m.prices[s]; !ok || cur.EventTime < p.EventTime {
				m.prices[s] = p
			}
		}
	}
	m.recs = append(recs, m.recs...)
	if len(prices) > 0 {
		m.ticks++
	}
	m.mu.Unlock()
}

func (m *mailbox) skippedTicks() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.skipped
}
