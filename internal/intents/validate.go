package intents

import (
	"math/big"
	"time"

	"github.com/kraite/stream/internal/validate"
	"github.com/kraite/stream/topics"
)

// CheckShape refuses what is malformed whatever the facts: an unknown
// exchange, an account id or a symbol that cannot be one, a side other than
// BUY or SELL, a size that is not a finite positive plain decimal (no
// exponent, no NaN or Inf, at most 64 characters and 18+18 digits). It
// needs no snapshot: kraite open runs it even without a database.
func CheckShape(in topics.OpenIntent) *Refusal {
	if err := validate.Exchange(in.Exchange); err != nil {
		return refuse(ReasonUnknownExchange, "exchange: %v", err)
	}
	if err := validate.RequiredText(in.Account, validate.AccountWidth); err != nil {
		return refuse(ReasonUnknownAccount, "account: %v", err)
	}
	if err := validate.Symbol(in.Symbol); err != nil {
		return refuse(ReasonUnknownSymbol, "symbol: %v", err)
	}
	if in.Side != "BUY" && in.Side != "SELL" {
		return refuse(ReasonBadSide, "side: %v", validate.OneOf(in.Side, "BUY", "SELL"))
	}
	if _, err := parseDec(in.Size, false); err != nil {
		return refuse(ReasonBadSize, "size: %v", err)
	}
	return nil
}

// Validate decides whether in may reach the exchange, at now, given what
// snap knows and the limits lim (zero fields take the defaults). nil means
// yes. In order:
//   - the shape (CheckShape);
//   - a snapshot that is missing, older than MaxSnapshotAge or ahead of now
//     refuses everything (validation_unavailable: fail closed);
//   - the account is known and enabled;
//   - the symbol is listed with usable filters and TRADING;
//   - the size is a multiple of LOT_SIZE's and MARKET_LOT_SIZE's step and
//     within both minQty and maxQty;
//   - a reduction (Reduce) may not exceed the position on the side it
//     reduces (a SELL reduces the long, a BUY the short) and is then
//     allowed: no mark price, minimum notional or cap applies to it;
//   - an open needs a mark price no older than MaxMarkAge, a notional
//     (size x mark) of at least MIN_NOTIONAL and at most MaxOrderNotional,
//     and the account's positions (absolute, at their marks) plus the
//     notional at most MaxAccountNotional.
//
// The account cap sees positions as of the snapshot: intents accepted
// between two refreshes (or duplicates of one intent) are each judged
// against the same positions.
func Validate(in topics.OpenIntent, snap *Snapshot, lim Limits, now time.Time) *Refusal {
	if r := CheckShape(in); r != nil {
		return r
	}
	lim = lim.withDefaults()
	switch {
	case snap == nil || snap.LoadedAt.IsZero():
		return refuse(ReasonUnavailable, "the validator has not loaded accounts, symbol rules and prices yet")
	case now.Sub(snap.LoadedAt) > lim.MaxSnapshotAge:
		return refuse(ReasonUnavailable, "the validator's data is %s old (limit %s): the database is unreachable or slow",
			now.Sub(snap.LoadedAt).Round(time.Millisecond), lim.MaxSnapshotAge)
	case snap.LoadedAt.Sub(now) > topics.DefaultMaxAhead:
		return refuse(ReasonUnavailable, "the validator's data claims a time %s ahead of the clock", snap.LoadedAt.Sub(now).Round(time.Millisecond))
	}
	acct := AccountKey{in.Exchange, in.Account}
	if !snap.AccountsUnknown {
		a, ok := snap.Accounts[acct]
		if !ok {
			return refuse(ReasonUnknownAccount, "account %q is not configured on %s", in.Account, in.Exchange)
		}
		if !a.Enabled {
			return refuse(ReasonAccountDisabled, "account %q on %s is disabled", in.Account, in.Exchange)
		}
	}
	sym := SymbolKey{in.Exchange, in.Symbol}
	rule, ok := snap.Symbols[sym]
	if !ok {
		return refuse(ReasonUnknownSymbol, "%s is not listed on %s (no exchangeInfo rules; kraite symbols import)", in.Symbol, in.Exchange)
	}
	if rule.Err != nil {
		return refuse(ReasonSymbolRules, "%s's filters cannot be used: %v", in.Symbol, rule.Err)
	}
	if rule.StepSize == nil || rule.StepSize.Sign() <= 0 || rule.MaxQty == nil {
		return refuse(ReasonSymbolRules, "%s has no LOT_SIZE step size or maximum quantity", in.Symbol)
	}
	if rule.Status != StatusTrading {
		return refuse(ReasonSymbolNotTrade, "%s is %q on %s, not TRADING", in.Symbol, rule.Status, in.Exchange)
	}
	size, _ := parseDec(in.Size, false) // CheckShape passed
	if r := checkLot(size, rule); r != nil {
		return r
	}
	if in.Reduce {
		return checkReduce(in, size, snap.Positions[acct][in.Symbol])
	}
	mark, ok := snap.MarkPrices[sym]
	if !ok || mark.Price == nil || mark.Price.Sign() <= 0 {
		return refuse(ReasonNoMarkPrice, "no mark price for %s on %s", in.Symbol, in.Exchange)
	}
	switch age := now.Sub(mark.At); {
	case age > lim.MaxMarkAge:
		return refuse(ReasonStaleMarkPrice, "the mark price of %s is %s old (limit %s)", in.Symbol, age.Round(time.Second), lim.MaxMarkAge)
	case -age > topics.DefaultMaxAhead:
		return refuse(ReasonStaleMarkPrice, "the mark price of %s claims a time %s ahead of the clock", in.Symbol, (-age).Round(time.Second))
	}
	notional := new(big.Rat).Mul(size, mark.Price)
	if rule.MinNotional != nil && notional.Cmp(rule.MinNotional) < 0 {
		return refuse(ReasonNotionalMin, "notional %s (size %s x mark %s) is below %s's minimum %s",
			dec(notional), in.Size, dec(mark.Price), in.Symbol, dec(rule.MinNotional))
	}
	if notional.Cmp(lim.MaxOrderNotional) > 0 {
		return refuse(ReasonOrderNotional, "notional %s (size %s x mark %s) is above the per-order limit %s (KRAITE_MAX_ORDER_NOTIONAL)",
			dec(notional), in.Size, dec(mark.Price), dec(lim.MaxOrderNotional))
	}
	held := new(big.Rat)
	for s, p := range snap.Positions[acct] {
		if p.Err != nil {
			return refuse(ReasonUnavailable, "%v", p.Err)
		}
		amt := new(big.Rat)
		if p.Long != nil {
			amt.Add(amt, p.Long)
		}
		if p.Short != nil {
			amt.Add(amt, p.Short)
		}
		if amt.Sign() == 0 {
			continue
		}
		// An existing position is valued at its newest mark whatever its
		// age: the cap needs an estimate, not a tradable price.
		m, ok := snap.MarkPrices[SymbolKey{in.Exchange, s}]
		if !ok || m.Price == nil || m.Price.Sign() <= 0 {
			return refuse(ReasonNoMarkPrice, "no mark price for %s, where account %q holds a position: its notional cannot be counted", s, in.Account)
		}
		held.Add(held, amt.Mul(amt, m.Price))
	}
	if total := new(big.Rat).Add(held, notional); total.Cmp(lim.MaxAccountNotional) > 0 {
		return refuse(ReasonAccountNotional, "account %q would hold %s (positions %s + this order %s), above the per-account limit %s (KRAITE_MAX_ACCOUNT_NOTIONAL)",
			in.Account, dec(total), dec(held), dec(notional), dec(lim.MaxAccountNotional))
	}
	return nil
}

// checkLot applies LOT_SIZE and MARKET_LOT_SIZE.
func checkLot(size *big.Rat, r Rule) *Refusal {
	for _, step := range []*big.Rat{r.StepSize, r.MarketStepSize} {
		if step != nil && step.Sign() > 0 && !new(big.Rat).Quo(size, step).IsInt() {
			return refuse(ReasonSizeStep, "size %s is not a multiple of the step size %s", dec(size), dec(step))
		}
	}
	for _, lo := range []*big.Rat{r.MinQty, r.MarketMinQty} {
		if lo != nil && size.Cmp(lo) < 0 {
			return refuse(ReasonSizeBelowMin, "size %s is below the minimum quantity %s", dec(size), dec(lo))
		}
	}
	for _, hi := range []*big.Rat{r.MaxQty, r.MarketMaxQty} {
		if hi != nil && size.Cmp(hi) > 0 {
			return refuse(ReasonSizeAboveMax, "size %s is above the maximum quantity %s of a market order", dec(size), dec(hi))
		}
	}
	return nil
}

func checkReduce(in topics.OpenIntent, size *big.Rat, p Position) *Refusal {
	if p.Err != nil {
		return refuse(ReasonUnavailable, "%v", p.Err)
	}
	held, side := p.Long, "long"
	if in.Side == "BUY" {
		held, side = p.Short, "short"
	}
	if held == nil {
		held = new(big.Rat)
	}
	if size.Cmp(held) > 0 {
		return refuse(ReasonReduceExceeds, "a %s reduction of %s exceeds the %s position of %s in %s (%s)",
			in.Side, dec(size), side, in.Account, in.Symbol, dec(held))
	}
	return nil
}

// dec prints an exact decimal: up to 18 fraction digits, trailing zeros cut.
func dec(r *big.Rat) string {
	s := r.FloatString(18)
	for len(s) > 1 && s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}
