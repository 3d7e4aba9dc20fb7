// Package orderstatus holds what every consumer of orders agrees on about an
// order or algo order: its kind (which table it belongs to), its identity
// (exchange, account, id), and how its statuses rank, so a later state
// outranks an earlier one.
//
// The orders sink stores the rank with every row and refuses to move a row
// to a lower one; the chaos comparison and the order-sync sweep judge the
// database against the exchange with the same ranks. Keeping them here, and
// not inside the sink, is what keeps those judgements from drifting apart.
package orderstatus

import (
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/topics"
)

// Kind says which table an event belongs to.
type Kind string

// The two kinds.
const (
	KindOrder Kind = "order"
	KindAlgo  Kind = "algo"
)

// KindOf is algo for ALGO_UPDATE events (or any event with an algo id).
func KindOf(e *topics.OrderEvent) Kind {
	if e.Event == binance.EventAlgoUpdate || (e.AlgoID != 0 && e.OrderID == 0) {
		return KindAlgo
	}
	return KindOrder
}

// Key identifies one order: (exchange, account, order id or algo id).
type Key struct {
	Kind     Kind
	Exchange string
	Account  string
	ID       int64
}

// KeyOf returns the key of e's order.
func KeyOf(e *topics.OrderEvent) Key {
	k := Key{Kind: KindOf(e), Exchange: e.Exchange, Account: e.Account, ID: e.OrderID}
	if k.Kind == KindAlgo {
		k.ID = e.AlgoID
	}
	return k
}

// Rank orders statuses of one order so that a later state outranks an
// earlier one at equal event and transaction time (final highest). A
// status never goes back on the exchange: an order is NEW, then
// PARTIALLY_FILLED, then final; an algo order NEW, TRIGGERING, TRIGGERED,
// then final. An unknown status ranks 0.
func Rank(k Kind, status string) int {
	if k == KindAlgo {
		switch status {
		case "NEW":
			return 1
		case "TRIGGERING":
			return 2
		case "TRIGGERED":
			return 3
		case "FINISHED", "CANCELED", "EXPIRED", "REJECTED":
			return 4
		}
		return 0
	}
	switch status {
	case "NEW", "NEW_INSURANCE", "NEW_ADL":
		return 1
	case "PARTIALLY_FILLED":
		return 2
	case "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED":
		return 3
	}
	return 0
}

// FinalRank is the rank of the final statuses of kind k (FILLED, CANCELED,
// ...): nothing follows them.
func FinalRank(k Kind) int {
	if k == KindAlgo {
		return Rank(k, "FINISHED")
	}
	return Rank(k, "FILLED")
}

// Open reports whether an order of kind k in status is still open on the
// exchange, so the order sync must watch it: an order NEW or
// PARTIALLY_FILLED, an algo order NEW, TRIGGERING or TRIGGERED. (The
// liquidation statuses NEW_INSURANCE and NEW_ADL rank as new but are never
// left open.)
func Open(k Kind, status string) bool {
	if k == KindAlgo {
		return status == "NEW" || status == "TRIGGERING" || status == "TRIGGERED"
	}
	return status == "NEW" || status == "PARTIALLY_FILLED"
}

// Final reports whether status is final for kind k.
func Final(k Kind, status string) bool { return Rank(k, status) == FinalRank(k) }
