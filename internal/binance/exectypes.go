package binance

import "strings"

// Execution types of ORDER_TRADE_UPDATE ("x").
const (
	ExecNew        = "NEW"
	ExecTrade      = "TRADE"
	ExecCanceled   = "CANCELED"
	ExecExpired    = "EXPIRED"
	ExecAmendment  = "AMENDMENT"
	ExecCalculated = "CALCULATED" // a liquidation
)

// Internal execution types of algo orders (binance-protocol.md section 6;
// AlgoExecutionType maps an ALGO_UPDATE status onto them).
const (
	AlgoNew        = "ALGO_NEW"
	AlgoCanceled   = "ALGO_CANCELED"
	AlgoExpired    = "ALGO_EXPIRED"
	AlgoTriggering = "ALGO_TRIGGERING"
	AlgoTriggered  = "ALGO_TRIGGERED"
	AlgoRejected   = "ALGO_REJECTED"
	AlgoFilled     = "ALGO_FILLED"
)

// OrderExecutionTypes are the execution types of order events: those of
// ORDER_TRADE_UPDATE, then the internal algo types. It is the one list of
// them (a new copy every call, so a caller may change it).
func OrderExecutionTypes() []string {
	return []string{ExecNew, ExecTrade, ExecCanceled, ExecExpired, ExecAmendment, ExecCalculated,
		AlgoNew, AlgoCanceled, AlgoExpired, AlgoTriggering, AlgoTriggered, AlgoRejected, AlgoFilled}
}

// ExecutionTypes are every execution type Event.ExecutionType produces
// for a known event, as the dispatch allowlist names them: the order
// execution types (OrderExecutionTypes), then the event types of the other
// user-data events, each allowlisted on its own. An allowlist naming
// anything else is refused (a typo would silently filter everything).
func ExecutionTypes() []string {
	return append(OrderExecutionTypes(),
		EventTradeLite, EventAccountUpdate, EventAccountConfig, EventMarginCall,
		EventListenKeyExpired, EventConditionalReject, EventStrategyUpdate, EventGridUpdate)
}

// CanonicalExecutionType returns the known execution type equal to t (in
// any case) in its canonical spelling, and whether there is one.
func CanonicalExecutionType(t string) (string, bool) {
	for _, k := range ExecutionTypes() {
		if strings.EqualFold(k, t) {
			return k, true
		}
	}
	return "", false
}

// KnownExecutionType reports whether t (trimmed, any case) is a known
// execution type.
func KnownExecutionType(t string) bool {
	_, ok := CanonicalExecutionType(strings.TrimSpace(t))
	return ok
}
