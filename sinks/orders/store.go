package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/topics"
)

// The columns of orders / algo_orders after the key. The guard columns come
// last, least significant first: MySQL's ON DUPLICATE KEY UPDATE assigns left
// to right and later conditions see earlier assignments, so event_time, the
// most significant, must be assigned last (see guardSQL).
var (
	dataCols  = []string{"symbol", "client_order_id", "side", "position_side", "order_type", "time_in_force", "price", "orig_qty", "avg_price", "stop_price", "cum_qty", "reduce_only", "status", "execution_type", "source"}
	guardCols = []string{"status_rank", "transaction_time", "event_time"}
)

func tableOf(k orderstatus.Kind) (table, idCol string, extra []string) {
	if k == orderstatus.KindAlgo {
		return "algo_orders", "algo_id", []string{"actual_order_id"}
	}
	return "orders", "order_id", nil
}

// upsertSQL builds the guarded multi-row upsert of n rows of kind k.
func upsertSQL(d *db.DB, k orderstatus.Kind, n int) string {
	table, idCol, extra := tableOf(k)
	data := append(append([]string{}, extra...), dataCols...)
	cols := append(append([]string{"exchange", "account", idCol}, data...), guardCols...)
	var b strings.Builder
	b.WriteString("INSERT INTO " + table + " (" + strings.Join(cols, ", ") + ") VALUES ")
	b.WriteString(db.Placeholders(n, len(cols)))
	update := append(data, guardCols...)
	if d.Dialect == db.MySQL {
		// The row comparison reads the current guard columns; because they
		// are assigned last (rank, T, then E) every data column and every
		// guard column still compares against the stored version.
		cond := "(VALUES(event_time), VALUES(transaction_time), VALUES(status_rank)) > (event_time, transaction_time, status_rank)" +
			" AND VALUES(status_rank) >= status_rank"
		b.WriteString(" ON DUPLICATE KEY UPDATE ")
		for i, c := range update {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(c + " = IF(" + cond + ", VALUES(" + c + "), " + c + ")")
		}
		return b.String()
	}
	b.WriteString(" ON CONFLICT (exchange, account, " + idCol + ") DO UPDATE SET ")
	for i, c := range update {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c + " = excluded." + c)
	}
	b.WriteString(d.WrittenAtSQL()) // MySQL's written_at updates itself
	b.WriteString(" WHERE (excluded.event_time, excluded.transaction_time, excluded.status_rank) > (" +
		table + ".event_time, " + table + ".transaction_time, " + table + ".status_rank)" +
		" AND excluded.status_rank >= " + table + ".status_rank")
	return d.Rebind(b.String())
}

func rowArgs(e *topics.OrderEvent, k orderstatus.Kind) []any {
	args := []any{e.Exchange, e.Account}
	if k == orderstatus.KindAlgo {
		args = append(args, e.AlgoID, e.ActualOrderID)
	} else {
		args = append(args, e.OrderID)
	}
	return append(args, e.Symbol, e.ClientOrderID, e.Side, e.PositionSide, e.OrderType, e.TimeInForce, e.Price,
		e.OrigQty, e.AvgPrice, e.StopPrice, e.CumQty, e.ReduceOnly, e.Status, e.ExecutionType, e.Source,
		orderstatus.Rank(k, e.Status), e.TransactionTime, e.EventTime)
}

// Statement sizes. Every multi-row statement is cut by batches into a few
// fixed shapes that the statement cache prepares once per connection: on
// MySQL (and for every state read) the last part is padded (db.PadSize: to a
// multiple of padStep, a shorter one only to a power of two) with repeats of
// its last row, which the guarded upsert, the fills' no-op update and an IN
// list all ignore.
const (
	padStep    = 32
	rowChunk   = 256 // orders rows per upsert (23 columns: 5,888 placeholders)
	fillChunk  = 512 // fills per insert (12 columns: 6,144 placeholders)
	stateChunk = 512 // ids per state read
	// outboxRecords is the most transitions one order_outbox row holds.
	outboxRecords = 1000
)

// batches cuts a multi-row statement's rows: padded on MySQL (db.SmallBatches:
// most batches are a few events), cut into powers of two elsewhere.
func batches[T any](d *db.DB, items []T, max int) [][]T {
	if d.Dialect == db.MySQL {
		return db.SmallBatches(items, max, padStep)
	}
	return db.Batches(items, max, padStep, false)
}

// loadState reads the stored version of every key of events: one query per
// batch (per stateChunk keys of a kind), over both tables at once (a UNION
// ALL of orders and algo_orders, each matching its keys by (exchange,
// account, id)), instead of one query per account. Both branches are padded
// to the same size (db.PadSize; repeating their last key, which an IN list
// ignores), so the statement has a few dozen shapes that the statement cache
// prepares once.
func loadState(ctx context.Context, tx *sql.Tx, d *db.DB, events []*topics.OrderEvent) (map[orderstatus.Key]State, error) {
	var orders, algos []orderstatus.Key
	seen := make(map[orderstatus.Key]bool, len(events))
	for _, e := range events {
		k := orderstatus.KeyOf(e)
		if seen[k] {
			continue
		}
		seen[k] = true
		if k.Kind == orderstatus.KindAlgo {
			algos = append(algos, k)
		} else {
			orders = append(orders, k)
		}
	}
	out := make(map[orderstatus.Key]State, len(seen))
	for len(orders) > 0 || len(algos) > 0 {
		o, a := orders[:min(len(orders), stateChunk)], algos[:min(len(algos), stateChunk)]
		orders, algos = orders[len(o):], algos[len(a):]
		q, args := stateQuery(d, o, a)
		if err := readState(ctx, tx, d, q, args, out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// stateQuery is the state read of at most stateChunk order keys o and algo
// keys a, both padded to the same size.
func stateQuery(d *db.DB, o, a []orderstatus.Key) (string, []any) {
	size := db.PadSize(max(len(o), len(a)), stateChunk, padStep)
	var (
		q    []string
		args []any
	)
	for _, part := range [][]orderstatus.Key{o, a} {
		if len(part) == 0 {
			continue
		}
		q = append(q, stateSelect(d, part[0].Kind, size))
		for i := range size {
			k := part[min(i, len(part)-1)]
			args = append(args, k.Exchange, k.Account, k.ID)
		}
	}
	return d.Rebind(strings.Join(q, " UNION ALL ")), args
}

// stateSelect is the branch of the state read for n keys of kind k. SQLite
// takes a list of row values only as VALUES.
func stateSelect(d *db.DB, k orderstatus.Kind, n int) string {
	table, idCol, _ := tableOf(k)
	list := db.Placeholders(n, 3)
	if d.Dialect == db.SQLite {
		list = "VALUES " + list
	}
	return "SELECT '" + string(k) + "' AS kind, exchange, account, " + idCol + " AS id, status, event_time, transaction_time, status_rank FROM " + table +
		" WHERE (exchange, account, " + idCol + ") IN (" + list + ")"
}

func readState(ctx context.Context, tx *sql.Tx, d *db.DB, q string, args []any, out map[orderstatus.Key]State) error {
	rows, err := d.QueryIn(ctx, tx, q, args...)
	if err != nil {
		return fmt.Errorf("reading stored order state: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k orderstatus.Key
		var s State
		if err := rows.Scan(&k.Kind, &k.Exchange, &k.Account, &k.ID, &s.Status, &s.Version.E, &s.Version.T, &s.Version.Rank); err != nil {
			return fmt.Errorf("reading stored order state: %w", err)
		}
		out[k] = s
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading stored order state: %w", err)
	}
	return nil
}

// Write applies events in one transaction: guarded upserts of orders and
// algo_orders, fills once per trade, and the status transitions into the
// order_outbox. It returns the plan it wrote.
func Write(ctx context.Context, d *db.DB, events []*topics.OrderEvent) (Plan, error) {
	var plan Plan
	err := d.InTx(ctx, func(tx *sql.Tx) error {
		stored, err := loadState(ctx, tx, d, events)
		if err != nil {
			return err
		}
		plan = MakePlan(events, stored)
		// Encoding the observer records is the batch's only heavy CPU
		// work; it runs while the database applies the upserts.
		type result struct {
			rows []outboxRow
			err  error
		}
		encoded := make(chan result, 1)
		go func() {
			rows, err := encodeOutbox(plan.Transitions)
			encoded <- result{rows, err}
		}()
		if err := upsertRows(ctx, tx, d, plan.Rows); err != nil {
			return err
		}
		if err := insertFills(ctx, tx, d, plan.Fills); err != nil {
			return err
		}
		enc := <-encoded
		if enc.err != nil {
			return enc.err
		}
		return insertOutbox(ctx, tx, d, enc.rows)
	})
	return plan, err
}

func upsertRows(ctx context.Context, tx *sql.Tx, d *db.DB, rows []*topics.OrderEvent) error {
	for _, k := range []orderstatus.Kind{orderstatus.KindOrder, orderstatus.KindAlgo} {
		var part []*topics.OrderEvent
		for _, e := range rows {
			if orderstatus.KindOf(e) == k {
				part = append(part, e)
			}
		}
		for _, c := range batches(d, part, rowChunk) {
			n := len(c)
			args := make([]any, 0, n*23)
			for _, e := range c {
				args = append(args, rowArgs(e, k)...)
			}
			if _, err := d.ExecIn(ctx, tx, upsertSQL(d, k, n), args...); err != nil {
				return fmt.Errorf("upserting %d %s rows: %w", n, k, err)
			}
		}
	}
	return nil
}

var fillCols = []string{"exchange", "account", "order_id", "trade_id", "symbol", "side", "qty", "price", "commission", "commission_asset", "realized_profit", "transaction_time"}

func insertFills(ctx context.Context, tx *sql.Tx, d *db.DB, fills []*topics.OrderEvent) error {
	for _, c := range batches(d, fills, fillChunk) {
		n := len(c)
		args := make([]any, 0, n*len(fillCols))
		for _, e := range c {
			args = append(args, e.Exchange, e.Account, e.OrderID, e.TradeID, e.Symbol, e.Side, e.LastQty, e.LastPrice,
				e.Commission, e.CommissionAsset, e.RealizedProfit, e.TransactionTime)
		}
		q := d.UpsertSQL("order_fills", fillCols, n, []string{"exchange", "account", "order_id", "trade_id"}, nil)
		if _, err := d.ExecIn(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("inserting %d fills: %w", n, err)
		}
	}
	return nil
}

// outboxRow is one order_outbox row: up to outboxRecords observer records,
// one JSON object per line (encoding/json escapes every newline inside a
// value, so a line is always one whole record).
type outboxRow struct {
	records int
	payload string
}

func encodeOutbox(ts []Transition) ([]outboxRow, error) {
	var out []outboxRow
	var b strings.Builder
	n := 0
	flush := func() {
		if n > 0 {
			out = append(out, outboxRow{n, b.String()})
			b.Reset()
			n = 0
		}
	}
	for _, t := range ts {
		rec, err := json.Marshal(PositionEvent(t))
		if err != nil {
			return nil, fmt.Errorf("encoding transition: %w", err)
		}
		if n > 0 {
			b.WriteByte('\n')
		}
		b.Write(rec)
		if n++; n == outboxRecords {
			flush()
		}
	}
	flush()
	return out, nil
}

func insertOutbox(ctx context.Context, tx *sql.Tx, d *db.DB, rows []outboxRow) error {
	for _, n := range db.Chunks(len(rows), 8) {
		args := make([]any, 0, 2*n)
		for _, r := range rows[:n] {
			args = append(args, r.records, r.payload)
		}
		rows = rows[n:]
		q := d.Rebind("INSERT INTO order_outbox (records, payload) VALUES " + db.Placeholders(n, 2))
		if _, err := d.ExecIn(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("recording %d outbox rows: %w", n, err)
		}
	}
	return nil
}

// PositionEvent is the observer record of a transition on the positions topic.
func PositionEvent(t Transition) topics.PositionEvent {
	return topics.PositionEvent{Kind: "order_transition", Account: t.Key.Account, Exchange: t.Key.Exchange,
		Order: t.Event, From: t.From, To: t.To, AtMs: t.Event.EventTime}
}
