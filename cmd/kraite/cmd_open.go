package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/intents"
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
	in := topics.OpenIntent{}
	fs.StringVar(&in.Account, "account", "", "account id (required)")
	fs.StringVar(&in.Exchange, "exchange", topics.ExchangeBinance, "exchange")
	fs.StringVar(&in.Symbol, "symbol", "", "symbol, e.g. BTCUSDT (required)")
	fs.StringVar(&in.Side, "side", "", "BUY or SELL (required)")
	fs.StringVar(&in.Size, "size", "", "size as a plain decimal, e.g. 0.01 (required)")
	fs.StringVar(&in.ClientID, "client-id", "", "client id (default: generated)")
	fs.BoolVar(&in.Reduce, "reduce", false, "a reduction or close (never refused for the regime; may not exceed the position)")
	wait := fs.Duration("wait", 0, "wait this long for the gate's decision (0 = do not wait); a refusal exits non-zero")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
		return err
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	in.Side = strings.ToUpper(in.Side)
	if in.Account == "" || in.Symbol == "" || in.Side == "" || in.Size == "" {
		return cli.Usagef(fs, "--account, --symbol, --side and --size are required")
	}
	oe := a.cfg.Exchange
	lim, err := a.cfg.Intents.Limits()
	if err != nil {
		return err
	}
	if r := intents.CheckShape(in); r != nil {
		return fmt.Errorf("refused before publishing: %w", r)
	}
	now := time.Now()
	if oe.DatabaseURL != "" {
		r, cannot := app.PrevalidateOpen(ctx, oe, lim, in, now, a.log)
		if cannot != nil {
			fmt.Fprintf(a.stderr, "warning: %v; only the intent's shape was checked here, the gate validates it fully\n", cannot)
		}
		if r != nil {
			return fmt.Errorf("refused before publishing: %w", r)
		}
	}
	if in.ClientID == "" {
		in.ClientID = fmt.Sprintf("cli-%d", now.UnixNano())
	}
	in.CreatedMs = now.UnixMilli()
	var since app.DecisionOffsets
	if *wait > 0 {
		if since, err = app.DecisionsEnd(ctx, c); err != nil {
			return err
		}
	}
	b, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("encoding intent: %w", err)
	}
	if _, err := app.ProduceOne(ctx, c, &kgo.Record{Topic: topics.OpenIntents.Name(c.TopicPrefix), Key: []byte(in.Account), Value: b}); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "intent %s published\n", in.ClientID)
	if *wait == 0 {
		return nil
	}
	d, err := app.WaitDecision(ctx, c, since, in.ClientID, *wait)
	if err != nil {
		return err
	}
	if d.Allowed {
		fmt.Fprintf(a.stdout, "allowed (band %s, score %.2f)\n", d.Band, d.Score)
		return nil
	}
	fmt.Fprintf(a.stdout, "refused (band %s, score %.2f): %s\n", d.Band, d.Score, d.Reason)
	detail := ""
	if d.Detail != "" {
		detail = ": " + d.Detail
	}
	return fmt.Errorf("intent %s refused by the gate: %s%s", in.ClientID, d.Reason, detail)
}
