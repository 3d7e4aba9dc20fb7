package binanceapi

// The REST answers of Binance USD-M futures that Kraite reads (the order
// sync, the position placer) and the simulator writes: one type set, so
// the reader and the exchange it is tested against cannot drift apart.
// Field order is the simulator's encoding order; readers ignore what they
// do not use. Prices and quantities stay decimal strings, ids are int64.

// Order is an order (GET /fapi/v1/order, openOrders, allOrders; the answer
// of POST /fapi/v1/order).
type Order struct {
	AvgPrice      string `json:"avgPrice"`
	ClientOrderID string `json:"clientOrderId"`
	CumQty        string `json:"cumQty"`
	CumQuote      string `json:"cumQuote"`
	ExecutedQty   string `json:"executedQty"`
	OrderID       int64  `json:"orderId"`
	OrigQty       string `json:"origQty"`
	OrigType      string `json:"origType"`
	Price         string `json:"price"`
	ReduceOnly    bool   `json:"reduceOnly"`
	Side          string `json:"side"`
	PositionSide  string `json:"positionSide"`
	Status        string `json:"status"`
	StopPrice     string `json:"stopPrice"`
	ClosePosition bool   `json:"closePosition"`
	Symbol        string `json:"symbol"`
	Time          int64  `json:"time"`
	TimeInForce   string `json:"timeInForce"`
	Type          string `json:"type"`
	UpdateTime    int64  `json:"updateTime"`
	WorkingType   string `json:"workingType"`
	PriceProtect  bool   `json:"priceProtect"`
	PriceMatch    string `json:"priceMatch"`
	STP           string `json:"selfTradePreventionMode"`
	GoodTillDate  int64  `json:"goodTillDate"`
}

// AlgoOrder is an algo (conditional) order (GET /fapi/v1/algoOrder,
// openAlgoOrders, allAlgoOrders; the answer of POST /fapi/v1/algoOrder).
type AlgoOrder struct {
	AlgoID        int64  `json:"algoId"`
	ClientAlgoID  string `json:"clientAlgoId"`
	AlgoType      string `json:"algoType"`
	OrderType     string `json:"orderType"`
	Symbol        string `json:"symbol"`
	Side          string `json:"side"`
	PositionSide  string `json:"positionSide"`
	TimeInForce   string `json:"timeInForce"`
	Quantity      string `json:"quantity"`
	AlgoStatus    string `json:"algoStatus"`
	ActualOrderID string `json:"actualOrderId"`
	ActualPrice   string `json:"actualPrice"`
	ExecutedQty   string `json:"executedQty"`
	TriggerPrice  string `json:"triggerPrice"`
	Price         string `json:"price"`
	STP           string `json:"selfTradePreventionMode"`
	WorkingType   string `json:"workingType"`
	PriceMatch    string `json:"priceMatch"`
	ClosePosition bool   `json:"closePosition"`
	PriceProtect  bool   `json:"priceProtect"`
	ReduceOnly    bool   `json:"reduceOnly"`
	CreateTime    int64  `json:"createTime"`
	UpdateTime    int64  `json:"updateTime"`
	TriggerTime   int64  `json:"triggerTime"`
	GoodTillDate  int64  `json:"goodTillDate"`
}

// Income is one entry of GET /fapi/v1/income (the account's income
// history: commissions, realized profit, funding, transfers). It lists
// every symbol, where the order history must be asked symbol by symbol.
type Income struct {
	Symbol     string `json:"symbol"` // "" for entries of no symbol (transfers)
	IncomeType string `json:"incomeType"`
	Income     string `json:"income"`
	Asset      string `json:"asset"`
	Info       string `json:"info"`
	Time       int64  `json:"time"`
	TranID     int64  `json:"tranId"`
	TradeID    string `json:"tradeId"`
}

// Income types the order sync reads.
const (
	IncomeCommission  = "COMMISSION"
	IncomeRealizedPnL = "REALIZED_PNL"
)

// Balance is one asset of GET /fapi/v2/balance.
type Balance struct {
	AccountAlias       string `json:"accountAlias"`
	Asset              string `json:"asset"`
	Balance            string `json:"balance"`
	CrossWalletBalance string `json:"crossWalletBalance"`
	CrossUnPnl         string `json:"crossUnPnl"`
	AvailableBalance   string `json:"availableBalance"`
	MaxWithdrawAmount  string `json:"maxWithdrawAmount"`
	MarginAvailable    bool   `json:"marginAvailable"`
	UpdateTime         int64  `json:"updateTime"`
}

// AccountAsset is one asset of GET /fapi/v2/account ("assets").
type AccountAsset struct {
	Asset              string `json:"asset"`
	WalletBalance      string `json:"walletBalance"`
	UnrealizedProfit   string `json:"unrealizedProfit"`
	MarginBalance      string `json:"marginBalance"`
	CrossWalletBalance string `json:"crossWalletBalance"`
	AvailableBalance   string `json:"availableBalance"`
	MaxWithdrawAmount  string `json:"maxWithdrawAmount"`
	MarginAvailable    bool   `json:"marginAvailable"`
	UpdateTime         int64  `json:"updateTime"`
}

// AccountPosition is one position of GET /fapi/v2/account ("positions").
type AccountPosition struct {
	Symbol           string `json:"symbol"`
	PositionAmt      string `json:"positionAmt"`
	EntryPrice       string `json:"entryPrice"`
	BreakEvenPrice   string `json:"breakEvenPrice"`
	UnrealizedProfit string `json:"unrealizedProfit"`
	Leverage         string `json:"leverage"`
	Isolated         bool   `json:"isolated"`
	PositionSide     string `json:"positionSide"`
	Notional         string `json:"notional"`
	UpdateTime       int64  `json:"updateTime"`
}
