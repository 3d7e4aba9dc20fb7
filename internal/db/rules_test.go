package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

func TestSymbolRulesUpsertReadAndUnlist(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			t1 := time.Date(2026, 12, 2, 11, 0, 0, 123_456_789, time.UTC)
			btc := db.SymbolRule{Exchange: "binance", Symbol: "BTCUSDT", Status: "TRADING", StepSize: "0.001", MinQty: "0.001",
				MaxQty: "1000", MarketStepSize: "0.001", MarketMinQty: "0.001", MarketMaxQty: "120", MinNotional: "100", UpdatedAt: t1}
			// A hostile symbol name is a bound value, never SQL text.
			evil := db.SymbolRule{Exchange: "binance", Symbol: "X'); DROP TABLE symbol_rules; --", Status: "TRADING",
				StepSize: "1", MinQty: "1", MaxQty: "1e999", UpdatedAt: t1}
			if err := d.UpsertSymbolRules(ctx, []db.SymbolRule{btc, evil}); err != nil {
				t.Fatal(err)
			}
			// Again, with a changed filter and a later time: replaced, not added.
			t2 := t1.Add(time.Hour)
			btc.MarketMaxQty, btc.UpdatedAt = "100", t2
			if err := d.UpsertSymbolRules(ctx, []db.SymbolRule{btc}); err != nil {
				t.Fatal(err)
			}
			if n := dbtest.Count(t, d, "FROM symbol_rules"); n != 2 {
				t.Fatalf("%d rows", n)
			}
			n, err := d.MarkUnlisted(ctx, "binance", t2)
			if err != nil || n != 1 {
				t.Fatalf("MarkUnlisted = %d, %v", n, err)
			}
			if n, err := d.MarkUnlisted(ctx, "binance", t2); err != nil || n != 0 {
				t.Fatalf("MarkUnlisted again = %d, %v", n, err)
			}
			rules, err := d.SymbolRules(ctx)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]db.SymbolRule{}
			for _, r := range rules {
				got[r.Symbol] = r
			}
			b := got["BTCUSDT"]
			if b.MarketMaxQty != "100" || b.MinNotional != "100" || b.StepSize != "0.001" || b.Status != "TRADING" ||
				!b.UpdatedAt.Equal(t2.Truncate(time.Millisecond)) {
				t.Fatalf("BTCUSDT read back as %+v", b)
			}
			if e := got[evil.Symbol]; e.Status != db.StatusUnlisted || e.MaxQty != "1e999" {
				t.Fatalf("hostile row read back as %+v", e)
			}
		})
	}
}
