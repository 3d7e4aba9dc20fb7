package statuspage

import (
	"context"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db/dbtest"
)

// TestVenueFreshnessOnEveryDialect reads the newest mark_price_synced_at
// per venue the way the mark-price sink writes it, on MariaDB, PostgreSQL
// and SQLite (each driver returns MAX(timestamp) in its own form).
func TestVenueFreshnessOnEveryDialect(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			ctx := context.Background()
			counts, err := d.SeedUniverse(ctx)
			if err != nil {
				t.Fatal(err)
			}
			at := time.Date(2026, 11, 22, 10, 30, 15, 0, time.UTC)
			q := d.Rebind("UPDATE exchange_symbols SET mark_price = " + d.Decimal() + ", mark_price_synced_at = ? WHERE exchange = ?")
			if _, err := d.ExecContext(ctx, q, "1.5", at, "kucoin"); err != nil {
				t.Fatal(err)
			}
			rows, err := queryVenues(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 4 {
				t.Fatalf("%d venues, want 4: %+v", len(rows), rows)
			}
			for _, r := range rows {
				if r.symbols != int64(counts.Symbols[r.venue]) {
					t.Errorf("%s: %d symbols, want %d", r.venue, r.symbols, counts.Symbols[r.venue])
				}
				switch {
				case r.venue == "kucoin" && (r.priced != r.symbols || !r.newest.Equal(at)):
					t.Errorf("kucoin: priced %d of %d, newest %s, want all at %s", r.priced, r.symbols, r.newest, at)
				case r.venue != "kucoin" && (r.priced != 0 || !r.newest.IsZero()):
					t.Errorf("%s: priced %d, newest %s, want none", r.venue, r.priced, r.newest)
				}
			}
		})
	}
}
