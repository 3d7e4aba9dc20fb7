package orders

import (
	"strings"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/topics"
)

// Every statement the orders sink can run through one pool's statement
// cache, for any batch size: the upserts of both kinds, the fills, the
// outbox and the state read (orders, algo orders or both, of any mix of
// lengths), fits the cache's bound, so no batch evicts a statement another
// batch prepared. The state read's padded keys repeat the batch's last key.
func TestEveryStatementShapeFitsTheCache(t *testing.T) {
	for _, dialect := range []db.Dialect{db.MySQL, db.Postgres} {
		t.Run(string(dialect), func(t *testing.T) {
			d := &db.DB{Dialect: dialect}
			shapes := map[string]bool{}
			events := make([]*topics.OrderEvent, 2*fillChunk+1)
			for i := range events {
				events[i] = &topics.OrderEvent{OrderID: int64(i)}
			}
			for n := 1; n <= len(events); n++ {
				for _, c := range batches(d, events[:n], rowChunk) {
					shapes[upsertSQL(d, orderstatus.KindOrder, len(c))] = true
					shapes[upsertSQL(d, orderstatus.KindAlgo, len(c))] = true
				}
				for _, c := range batches(d, events[:n], fillChunk) {
					shapes[d.UpsertSQL("order_fills", fillCols, len(c), []string{"exchange", "account", "order_id", "trade_id"}, nil)] = true
				}
				for _, m := range db.Chunks(n, 8) {
					shapes[d.Rebind("INSERT INTO order_outbox (records, payload) VALUES "+db.Placeholders(m, 2))] = true
				}
			}
			keys := func(k orderstatus.Kind, n int) []orderstatus.Key {
				out := make([]orderstatus.Key, n)
				for i := range out {
					out[i] = orderstatus.Key{Kind: k, Exchange: "binance", Account: "a", ID: int64(i)}
				}
				return out
			}
			for n := 1; n <= stateChunk; n++ {
				o, a := keys(orderstatus.KindOrder, n), keys(orderstatus.KindAlgo, n)
				for _, p := range [][2][]orderstatus.Key{{o, nil}, {nil, a}, {o, a}, {o, a[:1]}, {o[:1], a}} {
					q, args := stateQuery(d, p[0], p[1])
					shapes[q] = true
					if strings.Count(q, "?")+strings.Count(q, "$") != len(args) {
						t.Fatalf("state read of %d+%d keys: %d args for its placeholders", len(p[0]), len(p[1]), len(args))
					}
					at := 0
					for _, part := range p {
						if len(part) == 0 {
							continue
						}
						size := db.PadSize(max(len(p[0]), len(p[1])), stateChunk, padStep)
						for i := range size {
							want := part[min(i, len(part)-1)]
							if args[at] != want.Exchange || args[at+1] != want.Account || args[at+2] != want.ID {
								t.Fatalf("state read of %d+%d keys: key %d is %v, want %v", len(p[0]), len(p[1]), i, args[at:at+3], want)
							}
							at += 3
						}
					}
				}
			}
			if len(shapes) > db.MaxCachedStmts {
				t.Errorf("%d statement shapes, the cache holds %d", len(shapes), db.MaxCachedStmts)
			}
			t.Logf("%d statement shapes (cache bound %d)", len(shapes), db.MaxCachedStmts)
		})
	}
}
