package intents

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/topics"
)

var t0 = time.Date(2026, 12, 2, 11, 0, 0, 0, time.UTC)

func rat(s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		panic(s)
	}
	return r
}

// btcRule is BTCUSDT's filters as Binance and the simulator serve them.
func btcRule() Rule {
	return ParseRule(RuleText{Status: "TRADING", StepSize: "0.001", MinQty: "0.001", MaxQty: "1000",
		MarketStepSize: "0.001", MarketMinQty: "0.001", MarketMaxQty: "120", MinNotional: "100"})
}

func testSnapshot() *Snapshot {
	return &Snapshot{
		Accounts: map[AccountKey]Account{
			{"binance", "acct-0001"}: {Enabled: true},
			{"binance", "acct-0002"}: {Enabled: true},
			{"binance", "acct-0003"}: {Enabled: true},
			{"binance", "acct-off"}:  {Enabled: false},
		},
		Symbols: map[SymbolKey]Rule{
			{"binance", "BTCUSDT"}: btcRule(),
			{"binance", "ETHUSDT"}: ParseRule(RuleText{Status: "TRADING", StepSize: "0.001", MinQty: "0.001", MaxQty: "10000",
				MarketStepSize: "0.001", MarketMinQty: "0.001", MarketMaxQty: "2000", MinNotional: "20"}),
			{"binance", "DOGEUSDT"}: ParseRule(RuleText{Status: "TRADING", StepSize: "1", MinQty: "1", MaxQty: "50000000",
				MarketStepSize: "1", MarketMinQty: "1", MarketMaxQty: "30000000", MinNotional: "5"}),
			{"binance", "OLDUSDT"}:  ParseRule(RuleText{Status: "SETTLING", StepSize: "1", MinQty: "1", MaxQty: "100"}),
			{"binance", "NOMARK"}:   ParseRule(RuleText{Status: "TRADING", StepSize: "1", MinQty: "1", MaxQty: "100"}),
			{"binance", "STALE"}:    ParseRule(RuleText{Status: "TRADING", StepSize: "1", MinQty: "1", MaxQty: "100"}),
			{"binance", "BROKEN"}:   ParseRule(RuleText{Status: "TRADING", StepSize: "0", MinQty: "1", MaxQty: "100"}),
			{"binance", "ODDSTEP"}:  ParseRule(RuleText{Status: "TRADING", StepSize: "0.001", MinQty: "0.001", MaxQty: "100", MarketStepSize: "0.01"}),
			{"binance", "HANDMADE"}: {Status: "TRADING"},
			{"binance", "BIGMINQT"}: ParseRule(RuleText{Status: "TRADING", StepSize: "1", MinQty: "1", MaxQty: "100", MarketMinQty: "5"}),
		},
		MarkPrices: map[SymbolKey]Mark{
			{"binance", "BTCUSDT"}:  {rat("90000"), t0.Add(-2 * time.Second)},
			{"binance", "ETHUSDT"}:  {rat("3000"), t0.Add(-2 * time.Second)},
			{"binance", "DOGEUSDT"}: {rat("0.1"), t0.Add(-2 * time.Second)},
			{"binance", "STALE"}:    {rat("10"), t0.Add(-10 * time.Minute)},
			{"binance", "ODDSTEP"}:  {rat("10"), t0},
			{"binance", "BIGMINQT"}: {rat("10"), t0},
		},
		Positions: map[AccountKey]map[string]Position{
			{"binance", "acct-0001"}: {
				"BTCUSDT": {Long: rat("0.3")},   // 27,000
				"ETHUSDT": {Short: rat("5")},    // 15,000
				"XRPUSDT": {Long: new(big.Rat)}, // flat: no mark needed
			},
			{"binance", "acct-0003"}: {"NOMARKPOS": {Long: rat("1")}},
		},
		LoadedAt: t0.Add(-time.Second),
	}
}

func open(acct, sym, side, size string) topics.OpenIntent {
	return topics.OpenIntent{Account: acct, Exchange: "binance", Symbol: sym, Side: side, Size: size, ClientID: "c1", CreatedMs: t0.UnixMilli()}
}

func reduce(acct, sym, side, size string) topics.OpenIntent {
	in := open(acct, sym, side, size)
	in.Reduce = true
	return in
}

func TestValidateEveryReason(t *testing.T) {
	snap := testSnapshot()
	stale := testSnapshot()
	stale.LoadedAt = t0.Add(-31 * time.Second)
	future := testSnapshot()
	future.LoadedAt = t0.Add(time.Hour)
	cases := []struct {
		name string
		in   topics.OpenIntent
		snap *Snapshot
		want string
	}{
		{"fine", open("acct-0001", "BTCUSDT", "BUY", "0.01"), snap, ""},
		{"fine trailing zeros", open("acct-0001", "BTCUSDT", "SELL", "0.0100000"), snap, ""},
		{"fine doge integer", open("acct-0002", "DOGEUSDT", "BUY", "1000"), snap, ""},
		{"the 1e9 order of issue 11", open("acct-0001", "BTCUSDT", "BUY", "1e9"), snap, ReasonBadSize},
		{"1000000000 BTC", open("acct-0001", "BTCUSDT", "BUY", "1000000000"), snap, ReasonSizeAboveMax},
		{"above market max, under lot max", open("acct-0001", "BTCUSDT", "BUY", "121"), snap, ReasonSizeAboveMax},
		{"negative", open("acct-0001", "BTCUSDT", "BUY", "-1"), snap, ReasonBadSize},
		{"zero", open("acct-0001", "BTCUSDT", "BUY", "0"), snap, ReasonBadSize},
		{"zero point zero", open("acct-0001", "BTCUSDT", "BUY", "0.000"), snap, ReasonBadSize},
		{"abc", open("acct-0001", "BTCUSDT", "BUY", "abc"), snap, ReasonBadSize},
		{"empty size", open("acct-0001", "BTCUSDT", "BUY", ""), snap, ReasonBadSize},
		{"NaN", open("acct-0001", "BTCUSDT", "BUY", "NaN"), snap, ReasonBadSize},
		{"Inf", open("acct-0001", "BTCUSDT", "BUY", "+Inf"), snap, ReasonBadSize},
		{"hex", open("acct-0001", "BTCUSDT", "BUY", "0x10"), snap, ReasonBadSize},
		{"huge text", open("acct-0001", "BTCUSDT", "BUY", strings.Repeat("9", 10000)), snap, ReasonBadSize},
		{"19 digits", open("acct-0001", "BTCUSDT", "BUY", "1000000000000000000"), snap, ReasonBadSize},
		{"below step", open("acct-0001", "BTCUSDT", "BUY", "0.0001"), snap, ReasonSizeStep},
		{"off step", open("acct-0001", "BTCUSDT", "BUY", "0.0105"), snap, ReasonSizeStep},
		{"market step coarser", open("acct-0001", "ODDSTEP", "BUY", "1.005"), snap, ReasonSizeStep},
		{"below market min", open("acct-0001", "BIGMINQT", "BUY", "3"), snap, ReasonSizeBelowMin},
		{"unknown symbol", open("acct-0001", "NOSUCHUSDT", "BUY", "1"), snap, ReasonUnknownSymbol},
		{"lower-case symbol", open("acct-0001", "btcusdt", "BUY", "1"), snap, ReasonUnknownSymbol},
		{"empty symbol", open("acct-0001", "", "BUY", "1"), snap, ReasonUnknownSymbol},
		{"symbol settling", open("acct-0001", "OLDUSDT", "BUY", "1"), snap, ReasonSymbolNotTrade},
		{"broken rules", open("acct-0001", "BROKEN", "BUY", "1"), snap, ReasonSymbolRules},
		{"a rule without filters", open("acct-0001", "HANDMADE", "BUY", "1"), snap, ReasonSymbolRules},
		{"unknown account", open("acct-9999", "BTCUSDT", "BUY", "0.01"), snap, ReasonUnknownAccount},
		{"empty account", open("", "BTCUSDT", "BUY", "0.01"), snap, ReasonUnknownAccount},
		{"NUL account", open("acct\x00", "BTCUSDT", "BUY", "0.01"), snap, ReasonUnknownAccount},
		{"disabled account", open("acct-off", "BTCUSDT", "BUY", "0.01"), snap, ReasonAccountDisabled},
		{"unknown exchange", topics.OpenIntent{Account: "acct-0001", Exchange: "ftx", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01"}, snap, ReasonUnknownExchange},
		{"known exchange, no account there", topics.OpenIntent{Account: "acct-0001", Exchange: "bybit", Symbol: "BTCUSDT", Side: "BUY", Size: "0.01"}, snap, ReasonUnknownAccount},
		{"lower-case side", open("acct-0001", "BTCUSDT", "buy", "0.01"), snap, ReasonBadSide},
		{"side LONG", open("acct-0001", "BTCUSDT", "LONG", "0.01"), snap, ReasonBadSide},
		{"no mark", open("acct-0001", "NOMARK", "BUY", "1"), snap, ReasonNoMarkPrice},
		{"stale mark", open("acct-0001", "STALE", "BUY", "1"), snap, ReasonStaleMarkPrice},
		{"below min notional", open("acct-0001", "BTCUSDT", "BUY", "0.001"), snap, ReasonNotionalMin}, // 90 < 100
		{"order cap", open("acct-0001", "BTCUSDT", "BUY", "0.112"), snap, ReasonOrderNotional},        // 10,080
		{"order cap exactly", open("acct-0002", "ETHUSDT", "BUY", "3.333"), snap, ""},                 // 9,999
		{"account cap", open("acct-0001", "ETHUSDT", "BUY", "3"), snap, ReasonAccountNotional},        // 42,000 + 9,000
		{"position without mark", open("acct-0003", "BTCUSDT", "BUY", "0.01"), snap, ReasonNoMarkPrice},
		{"reduce long", reduce("acct-0001", "BTCUSDT", "SELL", "0.3"), snap, ""},
		{"reduce more than long", reduce("acct-0001", "BTCUSDT", "SELL", "0.301"), snap, ReasonReduceExceeds},
		{"reduce a long with BUY", reduce("acct-0001", "BTCUSDT", "BUY", "0.01"), snap, ReasonReduceExceeds},
		{"reduce short", reduce("acct-0001", "ETHUSDT", "BUY", "5"), snap, ""},
		{"reduce without position", reduce("acct-0002", "ETHUSDT", "SELL", "1"), snap, ReasonReduceExceeds},
		{"reduce flat", reduce("acct-0001", "XRPUSDT", "SELL", "1"), snap, ReasonUnknownSymbol},
		{"reduce below min notional", reduce("acct-0001", "BTCUSDT", "SELL", "0.001"), snap, ""},
		{"reduce on a stale snapshot", reduce("acct-0001", "BTCUSDT", "SELL", "0.1"), stale, ReasonUnavailable},
		{"reduce bad size", reduce("acct-0001", "BTCUSDT", "SELL", "-0.1"), snap, ReasonBadSize},
		{"reduce off step", reduce("acct-0001", "BTCUSDT", "SELL", "0.0001"), snap, ReasonSizeStep},
		{"reduce unknown account", reduce("nobody", "BTCUSDT", "SELL", "0.1"), snap, ReasonUnknownAccount},
		{"no snapshot", open("acct-0001", "BTCUSDT", "BUY", "0.01"), nil, ReasonUnavailable},
		{"empty snapshot", open("acct-0001", "BTCUSDT", "BUY", "0.01"), &Snapshot{}, ReasonUnavailable},
		{"stale snapshot", open("acct-0001", "BTCUSDT", "BUY", "0.01"), stale, ReasonUnavailable},
		{"snapshot from the future", open("acct-0001", "BTCUSDT", "BUY", "0.01"), future, ReasonUnavailable},
		{"malformed beats unavailable", open("acct-0001", "BTCUSDT", "BUY", "abc"), nil, ReasonBadSize},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Validate(c.in, c.snap, Limits{}, t0)
			got := ""
			if r != nil {
				got = r.Reason
				if r.Detail == "" || len(r.Detail) > 1024 {
					t.Errorf("detail %q", r.Detail)
				}
			}
			if got != c.want {
				t.Fatalf("Validate = %v, want %q", r, c.want)
			}
			seen[got] = true
		})
	}
	for _, r := range Reasons() {
		if !seen[r] {
			t.Errorf("no case refuses with %s", r)
		}
	}
}

// The account cap in numbers: acct-0001 holds 0.3 BTC long (27,000) and 5
// ETH short (15,000, counted absolute): 42,000 + an order of 9,000.
func TestAccountCapCountsAbsolutePositions(t *testing.T) {
	snap := testSnapshot()
	if r := Validate(open("acct-0001", "ETHUSDT", "BUY", "3"), snap, Limits{MaxAccountNotional: rat("51000")}, t0); r != nil {
		t.Fatalf("42,000 + 9,000 within 51,000: %v", r)
	}
	r := Validate(open("acct-0001", "ETHUSDT", "BUY", "3"), snap, Limits{MaxAccountNotional: rat("50999.99")}, t0)
	if r == nil || r.Reason != ReasonAccountNotional || !strings.Contains(r.Detail, "51000") {
		t.Fatalf("42,000 + 9,000 over 50,999.99: %v", r)
	}
	// A position whose symbol has no mark cannot be counted: fail closed.
	snap.Positions[AccountKey{"binance", "acct-0001"}]["NOMARKPOS"] = Position{Short: rat("1")}
	if r := Validate(open("acct-0001", "ETHUSDT", "BUY", "1"), snap, Limits{}, t0); r == nil || r.Reason != ReasonNoMarkPrice {
		t.Fatalf("uncountable position: %v", r)
	}
}

// The issue's 1e9 BTCUSDT in every spelling is refused before anything
// reaches an exchange, and so are the other inputs the issue tried.
func TestIssue11Inputs(t *testing.T) {
	snap := testSnapshot()
	for _, size := range []string{"1e9", "1E9", "1000000000", "1000000000.000", "999999999999999999"} {
		r := Validate(open("acct-0001", "BTCUSDT", "BUY", size), snap, Limits{}, t0)
		if r == nil || (r.Reason != ReasonBadSize && r.Reason != ReasonSizeAboveMax) {
			t.Errorf("%s: %v", size, r)
		}
	}
	// Inside the market lot limit the per-order cap still refuses it.
	r := Validate(open("acct-0001", "BTCUSDT", "BUY", "120"), snap, Limits{}, t0)
	if r == nil || r.Reason != ReasonOrderNotional {
		t.Errorf("120 BTC: %v", r)
	}
	// Duplicates are judged alike (Validate is pure).
	in := open("acct-0001", "BTCUSDT", "BUY", "0.01")
	for range 3 {
		if r := Validate(in, snap, Limits{}, t0); r != nil {
			t.Fatalf("duplicate: %v", r)
		}
	}
}

func TestAccountsUnknownSkipsOnlyTheAccount(t *testing.T) {
	snap := testSnapshot()
	snap.AccountsUnknown, snap.Accounts = true, nil
	if r := Validate(open("acct-anything", "BTCUSDT", "BUY", "0.01"), snap, Limits{}, t0); r != nil {
		t.Fatalf("account not judged: %v", r)
	}
	if r := Validate(open("acct-anything", "BTCUSDT", "BUY", "1000"), snap, Limits{}, t0); r == nil || r.Reason != ReasonSizeAboveMax {
		t.Fatalf("size still judged: %v", r)
	}
	if r := Validate(open("", "BTCUSDT", "BUY", "0.01"), snap, Limits{}, t0); r == nil || r.Reason != ReasonUnknownAccount {
		t.Fatalf("account shape still judged: %v", r)
	}
}

func TestParseRule(t *testing.T) {
	r := btcRule()
	if r.Err != nil || r.StepSize.Cmp(rat("0.001")) != 0 || r.MarketMaxQty.Cmp(rat("120")) != 0 || r.MinNotional.Cmp(rat("100")) != 0 {
		t.Fatalf("%+v", r)
	}
	for _, bad := range []RuleText{
		{Status: "TRADING"},
		{Status: "TRADING", StepSize: "0", MinQty: "0", MaxQty: "1"},
		{Status: "TRADING", StepSize: "1e-3", MinQty: "0", MaxQty: "1"},
		{Status: "TRADING", StepSize: "0.001", MinQty: "-1", MaxQty: "1"},
		{Status: "TRADING", StepSize: "0.001", MinQty: "0", MaxQty: "NaN"},
		{Status: "TRADING", StepSize: "0.001", MinQty: "0", MaxQty: "1", MarketStepSize: "0"},
		{Status: "TRADING", StepSize: "0.001", MinQty: "0", MaxQty: "1", MinNotional: "x"},
	} {
		if r := ParseRule(bad); r.Err == nil {
			t.Errorf("ParseRule(%+v) accepted", bad)
		}
	}
}

func TestEnvLimits(t *testing.T) {
	e := Env{MaxOrderNotional: "10000", MaxAccountNotional: "50000", MaxMarkAge: time.Minute, MaxSnapshotAge: 30 * time.Second, Refresh: 5 * time.Second}
	l, err := e.Limits()
	if err != nil || l.MaxOrderNotional.Cmp(rat("10000")) != 0 || l.MaxAccountNotional.Cmp(rat("50000")) != 0 {
		t.Fatalf("%+v %v", l, err)
	}
	d := DefaultLimits()
	if d.MaxOrderNotional.Cmp(l.MaxOrderNotional) != 0 || d.MaxAccountNotional.Cmp(l.MaxAccountNotional) != 0 ||
		d.MaxMarkAge != l.MaxMarkAge || d.MaxSnapshotAge != l.MaxSnapshotAge {
		t.Fatalf("defaults %+v differ from the environment's defaults %+v", d, l)
	}
	for name, bad := range map[string]Env{
		"KRAITE_MAX_ORDER_NOTIONAL":      {MaxOrderNotional: "-5", MaxAccountNotional: "1", MaxMarkAge: 1, MaxSnapshotAge: 2, Refresh: 1},
		"KRAITE_MAX_ACCOUNT_NOTIONAL":    {MaxOrderNotional: "5", MaxAccountNotional: "1e6", MaxMarkAge: 1, MaxSnapshotAge: 2, Refresh: 1},
		"KRAITE_MAX_MARK_AGE":            {MaxOrderNotional: "5", MaxAccountNotional: "1", MaxSnapshotAge: 2, Refresh: 1},
		"KRAITE_INTENT_SNAPSHOT_MAX_AGE": {MaxOrderNotional: "5", MaxAccountNotional: "1", MaxMarkAge: 1, Refresh: 1},
		"KRAITE_INTENT_REFRESH":          {MaxOrderNotional: "5", MaxAccountNotional: "1", MaxMarkAge: 1, MaxSnapshotAge: 2, Refresh: 2},
	} {
		if _, err := bad.Limits(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestRefusalIsAnError(t *testing.T) {
	var err error = &Refusal{Reason: ReasonBadSize, Detail: "x"}
	var r *Refusal
	if !errors.As(err, &r) || err.Error() != "bad_size: x" || r.Retryable() {
		t.Fatal(err)
	}
	if !(&Refusal{Reason: ReasonUnavailable}).Retryable() {
		t.Fatal("validation_unavailable is not retryable")
	}
}

// FuzzValidateSize: whatever the size text, Validate never panics and never
// allows a size that is not a finite positive multiple of the step within
// the market lot limits and the order cap.
func FuzzValidateSize(f *testing.F) {
	for _, s := range []string{"0.01", "1e9", "-1", "0", "abc", "NaN", "Inf", "0.0010", "120", "120.001", "0.111",
		"00000.005", "1.", ".5", "", " 0.01", "0.01 ", "+0.01", "0,01", "0.01\x00", "١", "9" + strings.Repeat("0", 60)} {
		f.Add(s, false)
		f.Add(s, true)
	}
	snap := testSnapshot()
	rule := snap.Symbols[SymbolKey{"binance", "BTCUSDT"}]
	f.Fuzz(func(t *testing.T, size string, reduce bool) {
		in := open("acct-0001", "BTCUSDT", "SELL", size)
		in.Reduce = reduce
		r := Validate(in, snap, Limits{}, t0)
		if r != nil {
			if r.Reason == "" || r.Detail == "" {
				t.Fatalf("empty refusal %+v", r)
			}
			return
		}
		v, ok := new(big.Rat).SetString(size)
		if !ok || v.Sign() <= 0 || strings.ContainsAny(size, "eEpPxX_ +") {
			t.Fatalf("allowed %q", size)
		}
		if !new(big.Rat).Quo(v, rule.StepSize).IsInt() || v.Cmp(rule.MarketMaxQty) > 0 || v.Cmp(rule.MinQty) < 0 {
			t.Fatalf("allowed %q outside the filters", size)
		}
		if reduce && v.Cmp(rat("0.3")) > 0 {
			t.Fatalf("allowed a reduction of %q beyond the 0.3 long", size)
		}
		if !reduce && new(big.Rat).Mul(v, rat("90000")).Cmp(rat("10000")) > 0 {
			t.Fatalf("allowed %q above the order cap", size)
		}
	})
}
