package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Migration is one versioned schema step. Statements must be idempotent
// (CREATE ... IF NOT EXISTS) because MySQL commits DDL implicitly: a crash
// between a statement and the version record is repaired by running again.
type Migration struct {
	Version int
	Name    string
	// Statements returns the statements for a dialect, in order.
	Statements func(Dialect) []string
	// AddColumns are added before Statements run, each only when its table
	// lacks it: an idempotent ADD COLUMN exists on neither MySQL 8 nor
	// SQLite, and MySQL commits DDL on its own, so a crash between two
	// of them is repaired by running again.
	AddColumns []AddColumn
}

// AddColumn is one column a migration adds to an existing table.
type AddColumn struct {
	Table, Column string
	// Def is the column definition after the name, per dialect (type
	// tokens as in the table declarations).
	Def func(Dialect) string
}

// Migrations is the ordered list of schema versions. Append only; never edit
// a released migration.
func Migrations() []Migration {
	return []Migration{
		{Version: 1, Name: "core tables", Statements: func(d Dialect) []string {
			return createAll(d, schemaV1)
		}},
		{Version: 2, Name: "order outbox", Statements: func(d Dialect) []string {
			stmts := createAll(d, schemaV2)
			// Unpublished transitions of a v1 sink move to the new outbox,
			// one record per row (a v1 payload is one JSON object). On MySQL
			// DDL commits on its own, so a crash between these two
			// statements and the version record can publish a moved
			// transition twice (at least once, never lost).
			return append(stmts,
				"INSERT INTO order_outbox (records, payload) SELECT 1, payload FROM order_transitions WHERE published_at IS NULL ORDER BY id",
				"UPDATE order_transitions SET published_at = "+nowSQL[d]+" WHERE published_at IS NULL")
		}},
		{Version: 3, Name: "positions kept by the positions worker", Statements: func(d Dialect) []string {
			// Nothing wrote the v1 positions table: it is replaced, not altered
			// (SQLite cannot add a unique key to an existing table).
			return append([]string{"DROP TABLE IF EXISTS positions"}, createAll(d, schemaV3)...)
		}},
		{Version: 4, Name: "order sync state", Statements: func(d Dialect) []string {
			return createAll(d, schemaV4)
		}},
		{Version: 5, Name: "symbol rules", Statements: func(d Dialect) []string {
			return createAll(d, schemaV5)
		}},
		{Version: 6, Name: "regime history gate and degraded", Statements: func(d Dialect) []string {
			// Nothing wrote the v1 regime_history table: it is replaced, not
			// altered (an idempotent ADD COLUMN exists on neither MySQL 8 nor
			// SQLite, and MySQL commits DDL on its own).
			return append([]string{"DROP TABLE IF EXISTS regime_history"}, createAll(d, schemaV6)...)
		}},
		{Version: 7, Name: "write time and exchange time columns", AddColumns: migrationV7Columns(),
			Statements: writtenAtTriggers},
		{Version: 8, Name: "accounts as data", AddColumns: accountsV8Columns(), Statements: func(d Dialect) []string {
			return createAll(d, schemaV8)
		}},
	}
}

// createAll renders the create statements of tables, in order.
func createAll(d Dialect, tables []table) []string {
	var stmts []string
	for _, t := range tables {
		stmts = append(stmts, t.createStatements(d)...)
	}
	return stmts
}

// Tables lists the tables the current schema creates (schema_migrations
// aside), in creation order.
func Tables() []string {
	var names []string
	seen := map[string]bool{}
	for _, t := range slices.Concat(schemaV1, schemaV2, schemaV3, schemaV4, schemaV5, schemaV6, schemaV8) {
		if !seen[t.name] {
			seen[t.name] = true
			names = append(names, t.name)
		}
	}
	return names
}

// Applied is one version recorded in schema_migrations.
type Applied struct {
	Version   int
	Name      string
	AppliedAt time.Time
	// New is true when this Migrate call applied it.
	New bool
}

const migrationsTable = "schema_migrations"

// nowSQL is the current UTC time in each dialect, for migration statements
// (which take no parameters).
var nowSQL = map[Dialect]string{MySQL: "UTC_TIMESTAMP(3)", Postgres: "now()", SQLite: "strftime('%Y-%m-%d %H:%M:%f', 'now')"}

// Migrate creates or upgrades the schema to the newest version and returns
// every recorded version. It is idempotent and safe to run from several
// processes at once on MySQL and PostgreSQL (a named lock serializes them).
func (d *DB) Migrate(ctx context.Context) ([]Applied, error) {
	conn, err := d.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("getting a connection for migrations: %w", err)
	}
	defer conn.Close()
	unlock, err := d.lock(ctx, conn)
	if err != nil {
		return nil, err
	}
	defer unlock()

	create := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (version INT NOT NULL PRIMARY KEY, name VARCHAR(128) NOT NULL, applied_at %s NOT NULL)",
		migrationsTable, typeTokens[d.Dialect].Replace("{ts}"))
	if _, err := conn.ExecContext(ctx, create); err != nil {
		return nil, fmt.Errorf("creating %s: %w", migrationsTable, err)
	}
	done, err := d.applied(ctx, conn)
	if err != nil {
		return nil, err
	}
	seen := map[int]bool{}
	for _, a := range done {
		seen[a.Version] = true
	}
	for _, m := range Migrations() {
		if seen[m.Version] {
			continue
		}
		if err := d.apply(ctx, conn, m); err != nil {
			return nil, err
		}
	}
	all, err := d.applied(ctx, conn)
	if err != nil {
		return nil, err
	}
	for i := range all {
		all[i].New = !seen[all[i].Version]
	}
	return all, nil
}

func (d *DB) apply(ctx context.Context, conn *sql.Conn, m Migration) error {
	// The columns a table already has are read before the transaction.
	var stmts []string
	for _, c := range m.AddColumns {
		have, err := d.columnsOf(ctx, conn, c.Table)
		if err != nil {
			return fmt.Errorf("migration %d: %w", m.Version, err)
		}
		if !have[c.Column] {
			stmts = append(stmts, "ALTER TABLE "+c.Table+" ADD COLUMN "+c.Column+" "+typeTokens[d.Dialect].Replace(c.Def(d.Dialect)))
		}
	}
	if m.Statements != nil {
		stmts = append(stmts, m.Statements(d.Dialect)...)
	}
	// PostgreSQL and SQLite have transactional DDL: the version and its
	// tables land together. MySQL commits each DDL statement on its own.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning migration %d: %w", m.Version, err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after commit
	for _, s := range stmts {
		if _, err := tx.ExecContext(ctx, s); err != nil {
			return fmt.Errorf("applying migration %d (%s): %w", m.Version, m.Name, err)
		}
	}
	ins := d.Rebind("INSERT INTO " + migrationsTable + " (version, name, applied_at) VALUES (?, ?, ?)")
	if _, err := tx.ExecContext(ctx, ins, m.Version, m.Name, time.Now().UTC()); err != nil {
		return fmt.Errorf("recording migration %d: %w", m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing migration %d: %w", m.Version, err)
	}
	return nil
}

// columnsOf is the set of column names of table (lower case).
func (d *DB) columnsOf(ctx context.Context, conn *sql.Conn, table string) (map[string]bool, error) {
	q := map[Dialect]string{
		MySQL:    "SELECT column_name FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ?",
		Postgres: "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?",
		SQLite:   "SELECT name FROM pragma_table_info(?)",
	}[d.Dialect]
	rows, err := conn.QueryContext(ctx, d.Rebind(q), table)
	if err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
		}
		out[strings.ToLower(c)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading the columns of %s: %w", table, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("reading the columns of %s: no such table", table)
	}
	return out, nil
}

func (d *DB) applied(ctx context.Context, conn *sql.Conn) ([]Applied, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version, name, applied_at FROM "+migrationsTable+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
	}
	defer rows.Close()
	var out []Applied
	for rows.Next() {
		var a Applied
		var at NullTime
		if err := rows.Scan(&a.Version, &a.Name, &at); err != nil {
			return nil, fmt.Errorf("reading %s: %w", migrationsTable, err)
		}
		a.AppliedAt = at.Time
		out = append(out, a)
	}
	return out, rows.Err()
}

// lock takes a database-wide named lock so that concurrent migrators run one
// after the other. SQLite serializes writers itself.
func (d *DB) lock(ctx context.Context, conn *sql.Conn) (func(), error) {
	switch d.Dialect {
	case MySQL:
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('kraite_migrate', 60)").Scan(&got); err != nil {
			return nil, fmt.Errorf("taking the migration lock: %w", err)
		}
		if !got.Valid || got.Int64 != 1 {
			return nil, errors.New("taking the migration lock: timed out after 60s")
		}
		return func() { conn.ExecContext(context.WithoutCancel(ctx), "SELECT RELEASE_LOCK('kraite_migrate')") }, nil //nolint:errcheck
	case Postgres:
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7301)"); err != nil {
			return nil, fmt.Errorf("taking the migration lock: %w", err)
		}
		return func() { conn.ExecContext(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock(7301)") }, nil //nolint:errcheck
	default:
		return func() {}, nil
	}
}
