package topics

import "encoding/json"

// GapMarker is the value of a record with header kind=gap on the
// user-data-stream topic: the account's socket was not attached between
// FromMs and ToMs (Unix milliseconds, wall clock of the producer), so events
// of that window may be missing and must be backfilled from REST.
type GapMarker struct {
	Kind     string `json:"kind"` // always "gap"
	Exchange string `json:"exchange"`
	Account  string `json:"account"`
	FromMs   int64  `json:"from"`
	ToMs     int64  `json:"to"`
	ConnID   string `json:"conn_id,omitempty"` // the connection that ended the gap
	Reason   string `json:"reason,omitempty"`
}

// OrderEvent is a dispatched, normalized order or algo-order event on the
// orders topic (key = account id). Prices and quantities stay decimal strings
// exactly as the exchange sent them; ids are int64 (they exceed 2^53).
type OrderEvent struct {
	Exchange        string `json:"exchange"`
	Account         string `json:"account"`
	Event           string `json:"event"`          // ORDER_TRADE_UPDATE, ALGO_UPDATE, ...
	ExecutionType   string `json:"execution_type"` // TRADE, CANCELED, ..., ALGO_NEW, ALGO_FILLED, ...
	Status          string `json:"status"`         // X: order status or algo status as sent
	Symbol          string `json:"symbol"`
	OrderID         int64  `json:"order_id,omitempty"`
	AlgoID          int64  `json:"algo_id,omitempty"`
	ClientOrderID   string `json:"client_order_id,omitempty"` // c, or caid for algo orders
	Side            string `json:"side,omitempty"`
	PositionSide    string `json:"position_side,omitempty"`
	OrderType       string `json:"order_type,omitempty"`
	TimeInForce     string `json:"time_in_force,omitempty"`
	Price           string `json:"price,omitempty"`
	OrigQty         string `json:"orig_qty,omitempty"`
	AvgPrice        string `json:"avg_price,omitempty"`
	StopPrice       string `json:"stop_price,omitempty"` // sp, or tp (trigger price) for algo orders
	CumQty          string `json:"cum_qty,omitempty"`    // z, or aq for algo orders
	LastQty         string `json:"last_qty,omitempty"`
	LastPrice       string `json:"last_price,omitempty"`
	TradeID         int64  `json:"trade_id,omitempty"`
	Commission      string `json:"commission,omitempty"`
	CommissionAsset string `json:"commission_asset,omitempty"`
	RealizedProfit  string `json:"realized_profit,omitempty"`
	ReduceOnly      bool   `json:"reduce_only,omitempty"`
	ActualOrderID   string `json:"actual_order_id,omitempty"` // algo: ai, the matching-engine order id once triggered
	EventTime       int64  `json:"event_time"`                // E, ms
	TransactionTime int64  `json:"transaction_time"`          // T, ms
	Source          string `json:"source"`                    // "stream" or "backfill"
	SourceTopic     string `json:"source_topic"`
	SourcePartition int32  `json:"source_partition"`
	SourceOffset    int64  `json:"source_offset"`
}

// OpenIntent asks to open (or reduce/close) a position; input of the gate.
type OpenIntent struct {
	Account  string `json:"account"`
	Exchange string `json:"exchange"`
	Symbol   string `json:"symbol"`
	Side     string `json:"side"` // BUY or SELL
	Size     string `json:"size"` // decimal string
	ClientID string `json:"client_id"`
	// Reduce marks a reduction or close; the gate never refuses those.
	Reduce    bool  `json:"reduce,omitempty"`
	CreatedMs int64 `json:"created_at"`
}

// RejectedIntent is an intent the gate refused.
type RejectedIntent struct {
	Intent OpenIntent `json:"intent"`
	Band   string     `json:"band"`
	Score  float64    `json:"score"`
	// Reason is machine-readable (gate.Reason* and the regime's gate
	// statuses); Detail says the same for a person.
	Reason string `json:"reason"`
	Detail string `json:"detail,omitempty"`
	AtMs   int64  `json:"at"`
}

// PositionEvent is a record on the positions topic: an allowed open from the
// gate (Kind "open_allowed"), an observer transition from the orders sink
// (Kind "order_transition") or the exchange's own position report from an
// ACCOUNT_UPDATE frame, routed by dispatch (Kind "account_update").
type PositionEvent struct {
	Kind     string      `json:"kind"`
	Account  string      `json:"account"`
	Exchange string      `json:"exchange,omitempty"`
	Intent   *OpenIntent `json:"intent,omitempty"`
	Order    *OrderEvent `json:"order,omitempty"`
	From     string      `json:"from_status,omitempty"`
	To       string      `json:"to_status,omitempty"`
	Band     string      `json:"band,omitempty"`
	Score    float64     `json:"score,omitempty"`
	// Positions is the exchange's truth of an account_update: the
	// positions the frame reports (only the changed symbols).
	Positions []ExchangePosition `json:"positions,omitempty"`
	AtMs      int64              `json:"at"`
}

// Kinds of PositionEvent.
const (
	PositionOpenAllowed     = "open_allowed"
	PositionOrderTransition = "order_transition"
	PositionAccountUpdate   = "account_update"
)

// ExchangePosition is one position as the exchange reports it (ACCOUNT_UPDATE
// a.P, or GET /fapi/v2/account positions).
type ExchangePosition struct {
	Symbol       string `json:"symbol"`
	PositionSide string `json:"position_side"` // BOTH, LONG or SHORT
	Amount       string `json:"amount"`        // signed decimal: long > 0
	EntryPrice   string `json:"entry_price"`
	// EventMs is the exchange's time of the report (E of the frame, or the
	// server time read before a REST snapshot).
	EventMs int64 `json:"event_time"`
}

// AllowlistValue is the dispatch allowlist of one exchange (key = exchange)
// on the compacted allowlist topic. An empty Types is shadow mode.
type AllowlistValue struct {
	Exchange  string   `json:"exchange"`
	Types     []string `json:"types"`
	UpdatedMs int64    `json:"updated_at"`
	By        string   `json:"by,omitempty"`
}

// Override is an operator override of the regime gate (key = scope).
type Override struct {
	Scope     string `json:"scope"`  // "global"
	Action    string `json:"action"` // "allow", "block" or "clear"
	UntilMs   int64  `json:"until"`
	Reason    string `json:"reason"`
	By        string `json:"by,omitempty"`
	CreatedMs int64  `json:"created_at"`
}

// RegimeChange is published on every band change of the regime processor.
type RegimeChange struct {
	Scope      string             `json:"scope"`
	From       string             `json:"from_band"`
	To         string             `json:"to_band"`
	Score      float64            `json:"score"`
	AtMs       int64              `json:"at"` // event time of the input that caused it
	Inputs     map[string]float64 `json:"inputs,omitempty"`
	CooldownMs int64              `json:"cooldown_until,omitempty"`
	// Gate is the gate status after the change (open, blocked, cooldown,
	// override_allow, override_block); a change record is also written when
	// only the gate changed (cooldown ended, override started or expired).
	Gate string `json:"gate,omitempty"`
	// Degraded is why the regime could not judge the market (Gate
	// "degraded": the reference silent, too few symbols ticking), "" when
	// it could; entering and leaving degraded are changes.
	Degraded string `json:"degraded,omitempty"`
}

// Job is a unit of work on a queue topic (priority, cronjobs, indicators, default).
type Job struct {
	ID          string          `json:"id"` // derived from (schedule, scheduled time) for scheduled jobs
	Type        string          `json:"type"`
	Account     string          `json:"account,omitempty"`
	ScheduledMs int64           `json:"scheduled_at,omitempty"`
	Attempt     int             `json:"attempt,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
}
