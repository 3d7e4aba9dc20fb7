package simulator

import (
	"slices"
	"strings"
	"time"
)

// userConns returns the sockets bound to any listenKey of accountID, or the
// market sockets when accountID is "". Caller holds mu.
func (s *Simulator) targetConns(accountID string) []*conn {
	var out []*conn
	for c := range s.conns {
		switch {
		case accountID == "" && c.kind == connMark:
			out = append(out, c)
		case accountID != "" && c.kind == connUser:
			for _, b := range c.bindings {
				if b.acct != nil && b.acct.ID == accountID {
					out = append(out, c)
					break
				}
			}
		}
	}
	return out
}

// DropConnections closes the account's sockets abruptly (TCP close, no
// close frame), or every mark price socket when accountID is "". It
// returns how many it closed.
func (s *Simulator) DropConnections(accountID string) int {
	s.mu.Lock()
	conns := s.targetConns(accountID)
	s.mu.Unlock()
	for _, c := range conns {
		c.kill()
	}
	return len(conns)
}

// Silence keeps the account's current sockets (mark price sockets for "")
// open but sends nothing on them for d: no frames, no pings. Events that
// happen meanwhile are lost on those sockets (a zombie connection); a new
// connection receives normally.
func (s *Simulator) Silence(accountID string, d time.Duration) {
	until := time.Now().Add(d).UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.targetConns(accountID) {
		c.silentUntil.Store(until)
	}
}

// ExpireListenKey expires the account's active listenKey now: its sockets
// get listenKeyExpired (E as a JSON string) and nothing after; PUT answers
// -1125 and POST issues a new key.
func (s *Simulator) ExpireListenKey(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byID[accountID]; a != nil && a.keyActive {
		s.expireKey(a)
	}
}

// InjectMalformed pushes data as one text frame to every socket that
// currently receives the account's events (mark price sockets for ""),
// unwrapped even in stream mode. It is recorded in PushedFrames.
func (s *Simulator) InjectMalformed(accountID string, data []byte) {
	data = append([]byte(nil), data...)
	s.mu.Lock()
	defer s.mu.Unlock()
	if accountID == "" {
		for _, c := range s.targetConns("") {
			c.send(queued{data: data, mark: true})
		}
		return
	}
	a := s.byID[accountID]
	if a == nil {
		return
	}
	s.expireIfDue(a)
	if !a.keyActive {
		return
	}
	for c := range s.conns {
		for _, b := range c.bindings {
			if b.acct == a && b.key == a.key {
				c.send(queued{data: data, acct: a})
				break
			}
		}
	}
}

// LoseNext makes the account's next n user-data frames change state
// without being pushed: only REST (and Orders) know them. listenKeyExpired
// and injected frames are never lost.
func (s *Simulator) LoseNext(accountID string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.byID[accountID]; a != nil && n > 0 {
		a.loseNext += n
	}
}

// RateLimit makes the next n REST calls answer 429 {"code":-1003,...}.
func (s *Simulator) RateLimit(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited += max(n, 0)
}

// Crash moves BTC and most symbols down together by about pct percent
// (alts by up to 1.6x that, a tenth of the market not at all) over the
// given duration, measured on the simulator clock; prices stay down.
func (s *Simulator) Crash(pct float64, over time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.market.startCrash(s.now(), pct, over)
}

// PushedFrames returns every user-data frame written to a socket for the
// account, in write order (at most a million are kept).
func (s *Simulator) PushedFrames(accountID string) []Pushed {
	s.mu.Lock()
	a := s.byID[accountID]
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return append([]Pushed(nil), a.pushed...)
}

// MarkPriceFramesPushed counts mark price frames written to sockets.
func (s *Simulator) MarkPriceFramesPushed() int {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.markPushed
}

// Orders returns the latest state of every order of the account ever
// reported (lost frames included), in creation order.
func (s *Simulator) Orders(accountID string) []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[accountID]
	if a == nil {
		return nil
	}
	out := make([]Order, len(a.orders))
	for i, o := range a.orders {
		out[i] = o.truth()
	}
	return out
}

// AlgoOrders returns the latest state of every algo order of the account.
func (s *Simulator) AlgoOrders(accountID string) []AlgoOrder {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[accountID]
	if a == nil {
		return nil
	}
	out := make([]AlgoOrder, len(a.algos))
	for i, g := range a.algos {
		out[i] = g.truth()
	}
	return out
}

// Position is the ground truth of one one-way position.
type Position struct {
	Symbol     string `json:"symbol"`
	Amount     string `json:"amount"` // signed: long > 0
	EntryPrice string `json:"entry_price"`
}

// Positions returns every position the account ever held, flat ones with
// amount 0, by symbol.
func (s *Simulator) Positions(accountID string) []Position {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[accountID]
	if a == nil {
		return nil
	}
	out := make([]Position, 0, len(a.positions))
	for sym, p := range a.positions {
		sp, _ := s.market.spec(sym)
		out = append(out, Position{Symbol: sym, Amount: sp.fmtQty(p.lots), EntryPrice: fmtDec(p.entry, sp.pricePrec+2)})
	}
	slices.SortFunc(out, func(x, y Position) int { return strings.Compare(x.Symbol, y.Symbol) })
	return out
}

// ListenKey returns the account's active listenKey ("" if none).
func (s *Simulator) ListenKey(accountID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.byID[accountID]
	if a == nil {
		return ""
	}
	s.expireIfDue(a)
	if !a.keyActive {
		return ""
	}
	return a.key
}
