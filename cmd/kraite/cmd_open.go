package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/topics"
)

// openHelp is kraite open's usage: the limits, their variables and the
// refusal reasons.
const openHelp = `open --account ID --symbol SYM --side BUY|SELL --size N [--reduce] [--wait 10s]

Publishes an open intent to the gate (open-intents topic, key = account). With
--wait it also waits for the gate's decision, prints it, and exits non-zero
when the intent is refused.

Before publishing, the intent is validated (internal/intents), so a mistake
fails at once instead of at the gate:
  - always: the exchange is known, the side is BUY or SELL, the size is a
    plain positive decimal (no exponent, NaN or Inf), the symbol and account
    have a valid shape;
  - when KRAITE_DATABASE_URL is reachable, also what the gate checks: the
    account is known (accounts table, KRAITE_ACCOUNTS_FILE) and enabled; the
    symbol is listed and TRADING with the exchange's filters (kraite symbols
    import); the size is a multiple of the step size within minQty and the
    market order's maxQty; size x mark price is at least the minimum notional
    and within the limits below; a reduction does not exceed the position.
The gate validates every intent again (it is the authority): a refusal goes
to kraite.open-intents.rejected with one of these reasons:
  unknown_account account_disabled unknown_exchange unknown_symbol
  symbol_not_trading symbol_rules_invalid bad_side bad_size size_step
  size_below_min size_above_max no_mark_price stale_mark_price
  notional_below_min order_notional_above_limit account_notional_above_limit
  reduce_exceeds_position validation_unavailable

Limits (environment; the same variables configure the gate):
  KRAITE_MAX_ORDER_NOTIONAL       per order, size x mark price in USDT (default 10000)
  KRAITE_MAX_ACCOUNT_NOTIONAL     per account, |positions| + the order (default 50000)
  KRAITE_MAX_MARK_AGE             oldest mark price an open is priced at (default 1m)
  KRAITE_INTENT_SNAPSHOT_MAX_AGE  older validation data refuses everything (default 30s)
  KRAITE_INTENT_REFRESH           how often the gate reloads that data (default 5s)
Reductions and closes (--reduce) are never refused for the market regime and
are not subject to the notional limits, but may not exceed the position.`

func cmdOpen(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("open", openHelp)
	var r app.OpenRequest
	in := &r.Intent
	fs.StringVar(&in.Account, "account", "", "account id (required)")
	fs.StringVar(&in.Exchange, "exchange", topics.ExchangeBinance, "exchange")
	fs.StringVar(&in.Symbol, "symbol", "", "symbol, e.g. BTCUSDT (required)")
	fs.StringVar(&in.Side, "side", "", "BUY or SELL (required)")
	fs.StringVar(&in.Size, "size", "", "size as a plain decimal, e.g. 0.01 (required)")
	fs.StringVar(&in.ClientID, "client-id", "", "client id (default: generated)")
	fs.BoolVar(&in.Reduce, "reduce", false, "a reduction or close (never refused for the regime; may not exceed the position)")
	fs.DurationVar(&r.Wait, "wait", 0, "wait this long for the gate's decision (0 = do not wait); a refusal exits non-zero")
	if _, err := a.start(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return app.Open(ctx, a.cfg, a.log, r, a.stdout, a.stderr)
}
