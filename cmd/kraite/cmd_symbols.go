package main

import (
	"context"
	"fmt"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/topics"
)

// cmdSymbols imports the four venues' symbols and token mappers of the
// simulator's universe into KRAITE_DATABASE_URL (idempotent upsert by
// exchange and symbol), then Binance's symbol rules (order filters and
// status from GET /fapi/v1/exchangeInfo), without which every open intent
// is refused. The schema must exist (kraite migrate).
func cmdSymbols(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("symbols", "symbols import [--rules-from URL | --no-rules]\n\n"+
		"  import  upsert the four venues' symbols (Binance, Bybit, KuCoin, Bitget) and the\n"+
		"          token mappers of the universe into KRAITE_DATABASE_URL (idempotent), then\n"+
		"          Binance's symbol rules (LOT_SIZE, MARKET_LOT_SIZE, MIN_NOTIONAL, status) from\n"+
		"          GET /fapi/v1/exchangeInfo at --rules-from (KRAITE_BINANCE_REST_URL: the\n"+
		"          exchange or kraite simulator). Open intents are validated against those\n"+
		"          rules; without them every open is refused (unknown_symbol). The daily\n"+
		"          symbol-refresh job keeps them current.")
	rulesFrom := fs.String("rules-from", a.cfg.Exchange.RESTBase, "REST base URL to read exchangeInfo from")
	noRules := fs.Bool("no-rules", false, "do not import symbol rules")
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
	d, err := a.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	counts, err := d.SeedUniverse(ctx)
	if err != nil {
		return fmt.Errorf("importing symbols: %w", err)
	}
	for _, ex := range cli.SortedKeys(counts.Symbols) {
		fmt.Fprintf(a.stdout, "%-8s %d symbols\n", ex, counts.Symbols[ex])
	}
	fmt.Fprintf(a.stdout, "token mappers: %d\n", counts.Mappers)
	if *noRules {
		fmt.Fprintln(a.stdout, "symbol rules: not imported (--no-rules): open intents are refused without them")
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := marketjobs.RefreshSymbols(rctx, binanceapi.New(*rulesFrom), d, topics.ExchangeBinance)
	if err != nil {
		return fmt.Errorf("symbols imported, but not Binance's symbol rules from %s (open intents are refused without them): %w", *rulesFrom, err)
	}
	fmt.Fprintf(a.stdout, "symbol rules: %d trading binance symbols from %s\n", n, *rulesFrom)
	return nil
}
