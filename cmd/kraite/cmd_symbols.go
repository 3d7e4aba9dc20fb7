package main

import (
	"context"
	"errors"
	"fmt"
)

// cmdSymbols imports the four venues' symbols and token mappers of the
// simulator's universe into KRAITE_DATABASE_URL (idempotent upsert by
// exchange and symbol). The schema must exist (kraite migrate).
func cmdSymbols(ctx context.Context, a *app, args []string) error {
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	fs := a.newFlags("symbols", "symbols import\n\n  import  upsert the four venues' symbols (Binance, Bybit, KuCoin, Bitget) and the\n          token mappers of the universe into KRAITE_DATABASE_URL (idempotent)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.Arg(0) != "import" {
		fs.Usage()
		return errors.New("symbols needs a subcommand: import")
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
	for _, ex := range sortedKeys(counts.Symbols) {
		fmt.Fprintf(a.stdout, "%-8s %d symbols\n", ex, counts.Symbols[ex])
	}
	fmt.Fprintf(a.stdout, "token mappers: %d\n", counts.Mappers)
	return nil
}
