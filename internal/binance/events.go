package binance

import "encoding/json"

// OrderUpdate is the "o" object of ORDER_TRADE_UPDATE (binance-protocol.md
// section 5). Prices and quantities stay decimal text; ids are int64.
type OrderUpdate struct {
	Symbol          Text    `json:"s"`
	ClientOrderID   Text    `json:"c"`
	Side            Text    `json:"S"`
	OrderType       Text    `json:"o"`
	TimeInForce     Text    `json:"f"`
	OrigQty         Decimal `json:"q"`
	Price           Decimal `json:"p"`
	AvgPrice        Decimal `json:"ap"`
	StopPrice       Decimal `json:"sp"`
	ExecutionType   Text    `json:"x"`
	Status          Text    `json:"X"`
	OrderID         Int64   `json:"i"`
	LastQty         Decimal `json:"l"`
	CumQty          Decimal `json:"z"`
	LastPrice       Decimal `json:"L"`
	CommissionAsset Text    `json:"N"`
	Commission      Decimal `json:"n"`
	TradeTime       Int64   `json:"T"`
	TradeID         Int64   `json:"t"`
	Maker           Bool    `json:"m"`
	ReduceOnly      Bool    `json:"R"`
	WorkingType     Text    `json:"wt"`
	OrigType        Text    `json:"ot"`
	PositionSide    Text    `json:"ps"`
	ClosePosition   Bool    `json:"cp"`
	RealizedProfit  Decimal `json:"rp"`
	STPMode         Text    `json:"V"`
	PriceMatch      Text    `json:"pm"`
	GoodTillDate    Int64   `json:"gtd"`
	ExpiryReason    Text    `json:"er"`
	ActivationPrice Decimal `json:"AP"`
	CallbackRate    Decimal `json:"cr"`
	PriceProtect    Bool    `json:"pP"`

	// Keys that differ from modelled ones only by case are declared so that
	// encoding/json's case-insensitive fallback cannot route them into the
	// wrong field ("M" into "m", "W" into "w").
	RawM json.RawMessage `json:"M"`
	RawW json.RawMessage `json:"W"`
}

// AlgoUpdate is the "o" object of ALGO_UPDATE (section 6).
type AlgoUpdate struct {
	ClientAlgoID  Text    `json:"caid"`
	AlgoID        Int64   `json:"aid"`
	AlgoType      Text    `json:"at"`
	OrderType     Text    `json:"o"`
	Symbol        Text    `json:"s"`
	Side          Text    `json:"S"`
	PositionSide  Text    `json:"ps"`
	TimeInForce   Text    `json:"f"`
	Qty           Decimal `json:"q"`
	Status        Text    `json:"X"`
	ActualOrderID Text    `json:"ai"`
	AvgPrice      Decimal `json:"ap"`
	ExecutedQty   Decimal `json:"aq"`
	ActualType    Text    `json:"act"`
	TriggerPrice  Decimal `json:"tp"`
	Price         Decimal `json:"p"`
	ReduceOnly    Bool    `json:"R"`
	ClosePosition Bool    `json:"cp"`
	TriggerTime   Int64   `json:"tt"`
	FailReason    Text    `json:"rm"`
}

// Balance is one entry of ACCOUNT_UPDATE a.B.
type Balance struct {
	Asset         Text    `json:"a"`
	WalletBalance Decimal `json:"wb"`
	CrossWallet   Decimal `json:"cw"`
	BalanceChange Decimal `json:"bc"`
}

// Position is one entry of ACCOUNT_UPDATE a.P.
type Position struct {
	Symbol         Text    `json:"s"`
	Amount         Decimal `json:"pa"`
	EntryPrice     Decimal `json:"ep"`
	BreakEven      Decimal `json:"bep"`
	AccumRealized  Decimal `json:"cr"`
	UnrealizedPnL  Decimal `json:"up"`
	MarginType     Text    `json:"mt"`
	IsolatedWallet Decimal `json:"iw"`
	PositionSide   Text    `json:"ps"`
}

// AccountUpdate is the "a" object of ACCOUNT_UPDATE (section 7).
type AccountUpdate struct {
	Reason    Text       `json:"m"`
	Balances  []Balance  `json:"B"`
	Positions []Position `json:"P"`
}

// TradeLite is a TRADE_LITE event (fields at the top level).
type TradeLite struct {
	Symbol        Text    `json:"s"`
	OrigQty       Decimal `json:"q"`
	Price         Decimal `json:"p"`
	Maker         Bool    `json:"m"`
	ClientOrderID Text    `json:"c"`
	Side          Text    `json:"S"`
	LastPrice     Decimal `json:"L"`
	LastQty       Decimal `json:"l"`
	TradeID       Int64   `json:"t"`
	OrderID       Int64   `json:"i"`
	Time          Int64   `json:"T"`
	// RawEv and RawE absorb the top-level "e"/"E" keys (see OrderUpdate.RawM).
	RawEv json.RawMessage `json:"e"`
	RawE  json.RawMessage `json:"E"`
}

// MarginCallPosition is one entry of MARGIN_CALL p.
type MarginCallPosition struct {
	Symbol            Text    `json:"s"`
	PositionSide      Text    `json:"ps"`
	Amount            Decimal `json:"pa"`
	MarginType        Text    `json:"mt"`
	IsolatedWallet    Decimal `json:"iw"`
	MarkPrice         Decimal `json:"mp"`
	UnrealizedPnL     Decimal `json:"up"`
	MaintenanceMargin Decimal `json:"mm"`
}

// MarginCall is a MARGIN_CALL event.
type MarginCall struct {
	CrossWallet Decimal              `json:"cw"`
	Positions   []MarginCallPosition `json:"p"`
}

// AccountConfig is an ACCOUNT_CONFIG_UPDATE event: either a leverage change
// (Symbol, Leverage) or a multi-assets mode change (MultiAssets set).
type AccountConfig struct {
	Symbol      string `json:"symbol,omitempty"`
	Leverage    int64  `json:"leverage,omitempty"`
	MultiAssets *bool  `json:"multi_assets,omitempty"`
}

// ConditionalReject is a CONDITIONAL_ORDER_TRIGGER_REJECT event.
type ConditionalReject struct {
	Symbol  Text  `json:"s"`
	OrderID Int64 `json:"i"`
	Reason  Text  `json:"r"`
}

// MarkPrice is one element of a markPriceUpdate frame (section 8).
type MarkPrice struct {
	EventTime       int64   `json:"-"`
	Symbol          Text    `json:"s"`
	MarkPrice       Decimal `json:"p"`
	IndexPrice      Decimal `json:"i"`
	SettlePrice     Decimal `json:"P"`
	FundingRate     Decimal `json:"r"`
	NextFundingTime Int64   `json:"T"`
}

// Event is one decoded user-data (or mark-price) frame. Exactly one of the
// typed pointers is set for a known event type; for an unknown type Unknown
// is true and only Type, EventTime and Payload are set.
type Event struct {
	// Type is "e" as sent (ORDER_TRADE_UPDATE, listenKeyExpired, ...).
	Type string
	// EventTime is E in ms (number or numeric string).
	EventTime int64
	// TransactionTime is T in ms where the event has one.
	TransactionTime int64
	// Stream is the combined-stream wrapper's name, if the frame was wrapped.
	Stream string
	// Unknown marks an event type this decoder does not model; not an error.
	Unknown bool
	// Payload is the unwrapped frame body.
	Payload []byte

	Order             *OrderUpdate
	Algo              *AlgoUpdate
	Account           *AccountUpdate
	TradeLite         *TradeLite
	MarginCall        *MarginCall
	AccountConfig     *AccountConfig
	ConditionalReject *ConditionalReject
	// ListenKey is set for listenKeyExpired (may be empty on older frames).
	ListenKey string
	// MarkPrices holds the elements of a markPriceUpdate frame (one for a
	// single-symbol frame, all of them for an array frame).
	MarkPrices []MarkPrice
}
