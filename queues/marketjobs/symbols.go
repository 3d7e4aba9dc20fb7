package marketjobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// JobSymbolRefresh refreshes the exchange's listed symbols (daily).
const JobSymbolRefresh = "symbol-refresh"

// RefreshSymbols reads Binance's exchangeInfo (weight 1) and stores it with
// ImportExchangeInfo. It returns how many trading perpetuals it upserted.
func RefreshSymbols(ctx context.Context, rest *binanceapi.Client, d *db.DB, exchange string) (int, error) {
	var body json.RawMessage
	if err := rest.Public(ctx, "/fapi/v1/exchangeInfo", nil, &body); err != nil {
		return 0, fmt.Errorf("reading exchangeInfo: %w", err)
	}
	return ImportExchangeInfo(ctx, d, exchange, body, time.Now())
}

// exchangeInfo is the part of GET /fapi/v1/exchangeInfo kept here.
type exchangeInfo struct {
	Symbols []struct {
		Symbol       string            `json:"symbol"`
		ContractType string            `json:"contractType"`
		Status       string            `json:"status"`
		BaseAsset    string            `json:"baseAsset"`
		QuoteAsset   string            `json:"quoteAsset"`
		Filters      []json.RawMessage `json:"filters"`
	} `json:"symbols"`
}

// ImportExchangeInfo stores an exchangeInfo body read at readAt:
//   - every trading perpetual is upserted into exchange_symbols (token =
//     base asset, quote = quote asset), keeping ids and prices; symbols no
//     longer listed stay there (an order or position may still name them);
//   - every listed symbol's order filters and status go to symbol_rules
//     (internal/intents checks open intents against them), and the rules of
//     a symbol the listing no longer contains are marked UNLISTED, so no
//     intent is judged by a delisted symbol's old filters.
//
// A listing without a single trading perpetual is refused as a whole (an
// empty or broken answer is not the exchange's listing). Values are taken
// as text and never judged here: a filter the reader cannot parse refuses
// that symbol's intents (symbol_rules_invalid). It returns how many trading
// perpetuals it upserted. kraite dev calls it with the simulator's
// ExchangeInfo().
func ImportExchangeInfo(ctx context.Context, d *db.DB, exchange string, body []byte, readAt time.Time) (int, error) {
	readAt = readAt.UTC().Truncate(time.Millisecond)
	syms, rules, err := ParseExchangeInfo(exchange, body, readAt)
	if err != nil {
		return 0, err
	}
	if err := d.UpsertSymbols(ctx, syms); err != nil {
		return 0, err
	}
	if err := d.UpsertSymbolRules(ctx, rules); err != nil {
		return 0, err
	}
	if _, err := d.MarkUnlisted(ctx, exchange, readAt); err != nil {
		return 0, err
	}
	return len(syms), nil
}

// ParseExchangeInfo decodes an exchangeInfo body into the trading
// perpetuals of exchange_symbols and the rules of every listed symbol
// (symbols whose name is not a valid symbol, and repeats, are skipped). It
// refuses a body that lists no trading perpetual.
func ParseExchangeInfo(exchange string, body []byte, at time.Time) ([]db.Symbol, []db.SymbolRule, error) {
	var info exchangeInfo
	if err := json.Unmarshal(body, &info); err != nil {
		return nil, nil, fmt.Errorf("decoding exchangeInfo: %w", err)
	}
	var syms []db.Symbol
	var rules []db.SymbolRule
	seen := map[string]bool{}
	for _, s := range info.Symbols {
		if validate.Symbol(s.Symbol) != nil || seen[s.Symbol] {
			continue
		}
		seen[s.Symbol] = true
		if s.ContractType == "PERPETUAL" && s.Status == "TRADING" &&
			validate.RequiredText(s.BaseAsset, 64) == nil && validate.RequiredText(s.QuoteAsset, 16) == nil {
			syms = append(syms, db.Symbol{Exchange: exchange, Symbol: s.Symbol, Token: s.BaseAsset, Quote: s.QuoteAsset})
		}
		rules = append(rules, ruleOf(exchange, s.Symbol, s.Status, s.Filters, at))
	}
	if len(syms) == 0 {
		return nil, nil, fmt.Errorf("exchangeInfo listed no trading perpetual: refusing to treat that as the listing")
	}
	return syms, rules, nil
}

// ruleOf reads LOT_SIZE, MARKET_LOT_SIZE and MIN_NOTIONAL from a symbol's
// filters. A value that is not a string, or longer than the column, is
// stored as "invalid" so that the reader refuses the symbol rather than
// taking a missing filter for no limit.
func ruleOf(exchange, symbol, status string, filters []json.RawMessage, at time.Time) db.SymbolRule {
	r := db.SymbolRule{Exchange: exchange, Symbol: symbol, Status: status, UpdatedAt: at}
	if validate.RequiredText(status, 32) != nil {
		r.Status = "INVALID"
	}
	text := func(f map[string]any, key string) string {
		v, ok := f[key]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok || s == "" || len(s) > 40 || validate.Text(s, 40) != nil {
			return "invalid"
		}
		return s
	}
	for _, raw := range filters {
		var f map[string]any
		if json.Unmarshal(raw, &f) != nil {
			continue
		}
		switch f["filterType"] {
		case "LOT_SIZE":
			r.StepSize, r.MinQty, r.MaxQty = text(f, "stepSize"), text(f, "minQty"), text(f, "maxQty")
		case "MARKET_LOT_SIZE":
			r.MarketStepSize, r.MarketMinQty, r.MarketMaxQty = text(f, "stepSize"), text(f, "minQty"), text(f, "maxQty")
		case "MIN_NOTIONAL":
			r.MinNotional = text(f, "notional")
			if r.MinNotional == "" { // the spot spelling
				r.MinNotional = text(f, "minNotional")
			}
		}
	}
	return r
}

func (h *handlers) symbolRefresh(ctx context.Context, j topics.Job) error {
	n, err := RefreshSymbols(ctx, h.d.Rest, h.d.DB, h.d.Exchange)
	if err != nil {
		return err
	}
	h.d.Log.Info("symbols refreshed", "exchange", h.d.Exchange, "symbols", n, "job", j.ID)
	return nil
}
