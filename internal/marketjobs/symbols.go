package marketjobs

import (
	"context"
	"fmt"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/topics"
)

// JobSymbolRefresh refreshes the exchange's listed symbols (daily).
const JobSymbolRefresh = "symbol-refresh"

// RefreshSymbols reads Binance's exchangeInfo (weight 1) and upserts every
// trading perpetual into exchange_symbols (token = base asset, quote = quote
// asset), keeping ids and prices. Symbols no longer listed stay: an order or
// position may still name them. It returns how many it upserted.
func RefreshSymbols(ctx context.Context, rest *binanceapi.Client, d *db.DB, exchange string) (int, error) {
	var info struct {
		Symbols []struct {
			Symbol       string `json:"symbol"`
			ContractType string `json:"contractType"`
			Status       string `json:"status"`
			BaseAsset    string `json:"baseAsset"`
			QuoteAsset   string `json:"quoteAsset"`
		} `json:"symbols"`
	}
	if err := rest.Public(ctx, "/fapi/v1/exchangeInfo", nil, &info); err != nil {
		return 0, fmt.Errorf("reading exchangeInfo: %w", err)
	}
	var syms []db.Symbol
	for _, s := range info.Symbols {
		if s.ContractType != "PERPETUAL" || s.Status != "TRADING" || s.Symbol == "" || len(s.Symbol) > 64 {
			continue
		}
		syms = append(syms, db.Symbol{Exchange: exchange, Symbol: s.Symbol, Token: s.BaseAsset, Quote: s.QuoteAsset})
	}
	if len(syms) == 0 {
		return 0, fmt.Errorf("exchangeInfo listed no trading perpetual: refusing to treat that as the listing")
	}
	if err := d.UpsertSymbols(ctx, syms); err != nil {
		return 0, err
	}
	return len(syms), nil
}

func (h *handlers) symbolRefresh(ctx context.Context, j topics.Job) error {
	n, err := RefreshSymbols(ctx, h.d.Rest, h.d.DB, h.d.Exchange)
	if err != nil {
		return err
	}
	h.d.Log.Info("symbols refreshed", "exchange", h.d.Exchange, "symbols", n, "job", j.ID)
	return nil
}
