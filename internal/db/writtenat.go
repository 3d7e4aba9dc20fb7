package db

import "fmt"

// WrittenAtTables are the tables the sinks write that carry written_at
// (migration 7): when the database last wrote the row, in UTC with
// millisecond precision. Anyone can measure an exchange event's way into
// the database on a live system as written_at minus the row's exchange
// time (transaction_time, else event_time).
var WrittenAtTables = []string{"api_data_stream", "orders", "algo_orders", "order_fills", "regime_history", "exchange_symbols"}

// writtenAtDef is the written_at column. MySQL sets it on insert and on
// every update that changes the row (ON UPDATE). PostgreSQL sets it on
// insert; an update sets it explicitly (WrittenAtSQL). SQLite cannot add a
// column with a non-constant default: a trigger sets it after an insert,
// and an update sets it explicitly.
func writtenAtDef(d Dialect) string {
	switch d {
	case MySQL:
		return "DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3)"
	case Postgres:
		return "TIMESTAMPTZ(3) NOT NULL DEFAULT statement_timestamp()"
	default:
		return "DATETIME NULL"
	}
}

// writtenAtSQL is the current time as each dialect stores written_at.
var writtenAtSQL = map[Dialect]string{
	MySQL:    "CURRENT_TIMESTAMP(3)",
	Postgres: "statement_timestamp()",
	SQLite:   "strftime('%Y-%m-%d %H:%M:%f', 'now')",
}

// WrittenAtSQL is the expression an UPDATE (or an upsert's ON CONFLICT ...
// DO UPDATE) assigns to written_at: "" on MySQL, whose column updates
// itself, else ", written_at = <now>" to append to the SET list.
func (d *DB) WrittenAtSQL() string {
	if d.Dialect == MySQL {
		return ""
	}
	return ", written_at = " + writtenAtSQL[d.Dialect]
}

// migrationV7Columns are migration 7's columns: written_at on the tables
// the sinks write, and api_data_stream.transaction_time, the frame's own
// exchange time T (0 when the frame has none; event_time is its E), which
// the audit table lacked (orders, algo_orders and order_fills have theirs,
// regime_history has at_ms, exchange_symbols mark_price_synced_at).
func migrationV7Columns() []AddColumn {
	var cols []AddColumn
	for _, t := range WrittenAtTables {
		cols = append(cols, AddColumn{Table: t, Column: "written_at", Def: writtenAtDef})
	}
	return append(cols, AddColumn{Table: "api_data_stream", Column: "transaction_time",
		Def: func(Dialect) string { return "BIGINT NOT NULL DEFAULT 0" }})
}

// writtenAtTriggers are SQLite's insert triggers for written_at (see
// writtenAtDef); none elsewhere.
func writtenAtTriggers(d Dialect) []string {
	if d != SQLite {
		return nil
	}
	var out []string
	for _, t := range WrittenAtTables {
		out = append(out, fmt.Sprintf("CREATE TRIGGER IF NOT EXISTS trg_%s_written_at AFTER INSERT ON %s BEGIN "+
			"UPDATE %s SET written_at = %s WHERE rowid = NEW.rowid; END", t, t, t, writtenAtSQL[SQLite]))
	}
	return out
}
