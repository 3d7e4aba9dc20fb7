package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

// cmdSymbols imports the symbols and Binance's symbol rules into
// KRAITE_DATABASE_URL (app.ImportSymbols).
func cmdSymbols(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("symbols", "symbols import [--rules-from URL | --no-rules]\n\n"+
		"  import  upsert the four venues' symbols (Binance, Bybit, KuCoin, Bitget) and the\n"+
		"          token mappers of the universe into KRAITE_DATABASE_URL (idempotent), then\n"+
		"          Binance's symbol rules (LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, status) from\n"+
		"          GET /fapi/v1/exchangeInfo at --rules-from (KRAITE_BINANCE_REST_URL: the\n"+
		"          exchange or kraite simulator). Open intents are validated against those\n"+
		"          rules; without them every open is refused (unknown_symbol). The daily\n"+
		"          symbol-refresh job keeps them current.")
	var r app.SymbolsRequest
	fs.StringVar(&r.RulesFrom, "rules-from", a.cfg.Exchange.RESTBase, "REST base URL to read exchangeInfo from")
	fs.BoolVar(&r.NoRules, "no-rules", false, "do not import symbol rules")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "import":
		if fs.NArg() > 1 {
			return cli.Usagef(fs, "symbols import: unexpected argument %q", fs.Arg(1))
		}
	case "":
		return cli.Usagef(fs, "symbols needs a subcommand: import")
	default:
		return cli.Usagef(fs, "unknown symbols subcommand %q: import", fs.Arg(0))
	}
	return app.ImportSymbols(ctx, a.cfg.Exchange, a.log, r, a.stdout)
}
