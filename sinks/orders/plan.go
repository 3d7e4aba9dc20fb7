package orders

import (
	"sort"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/topics"
)

// State is what the database holds for a row, as far as ordering goes.
type State struct {
	Status  string
	Version Version
}

// Transition is a status change of one row, or another fill of a partially
// filled order (From == To == PARTIALLY_FILLED: the position moved), published
// to the positions topic after the database and offset commits.
type Transition struct {
	Key   orderstatus.Key
	From  string // "" for a row seen for the first time
	To    string
	Event *topics.OrderEvent
}

// Plan is what one batch does to the database.
type Plan struct {
	Rows        []*topics.OrderEvent // the newest event per key that moves its row forward
	Fills       []*topics.OrderEvent // trade events, once per (order id, trade id)
	Transitions []Transition
}

// MakePlan folds a batch over the stored state: per key, events are applied
// in version order and only those that move the row (newer, and not lowering
// its status rank: see Version.Moves) move it (and produce a
// transition when the status changes or a partial fill adds quantity). Pure; the database guard enforces the
// same rule again, so a concurrent writer cannot move a row backwards.
func MakePlan(events []*topics.OrderEvent, stored map[orderstatus.Key]State) Plan {
	byKey := map[orderstatus.Key][]*topics.OrderEvent{}
	var keys []orderstatus.Key
	for _, e := range events {
		k := orderstatus.KeyOf(e)
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], e)
	}
	var p Plan
	type fillKey struct {
		k     orderstatus.Key
		trade int64
	}
	seenFill := map[fillKey]bool{}
	for _, k := range keys {
		evs := byKey[k]
		sort.SliceStable(evs, func(i, j int) bool { return VersionOf(evs[j]).Newer(VersionOf(evs[i])) })
		cur, known := stored[k]
		var last *topics.OrderEvent
		for _, e := range evs {
			if k.Kind == orderstatus.KindOrder && e.TradeID > 0 && e.ExecutionType == binance.ExecTrade {
				if fk := (fillKey{k, e.TradeID}); !seenFill[fk] {
					seenFill[fk] = true
					p.Fills = append(p.Fills, e)
				}
			}
			v := VersionOf(e)
			if known && !v.Moves(cur.Version) {
				continue
			}
			// A further partial fill changes no status but moves the
			// position, which the positions worker folds from the orders.
			partial := k.Kind == orderstatus.KindOrder && e.Status == "PARTIALLY_FILLED"
			if !known || e.Status != cur.Status || partial {
				p.Transitions = append(p.Transitions, Transition{Key: k, From: cur.Status, To: e.Status, Event: e})
			}
			cur, known, last = State{Status: e.Status, Version: v}, true, e
		}
		if last != nil {
			p.Rows = append(p.Rows, last)
		}
	}
	return p
}
