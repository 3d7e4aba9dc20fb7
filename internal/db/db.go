// Package db is Kraite's small SQL layer: one handle over MySQL/MariaDB,
// PostgreSQL or SQLite (database/sql for all three) that knows its dialect,
// the versioned schema migrations, and the few dialect differences the sinks
// need (placeholders, upsert syntax, numeric casts).
//
// # Dialects
//
// Queries are written once with '?' placeholders; [DB.Rebind] turns them into
// $1, $2, ... for PostgreSQL. Exchange values are always bound parameters,
// never SQL text.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// Dialect names one of the three supported databases.
type Dialect string

// The supported dialects.
const (
	MySQL    Dialect = "mysql"
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// DB is an open database with its dialect. It is safe for concurrent use;
// Close it when done.
type DB struct {
	*sql.DB
	Dialect Dialect
	// Name is the database (schema) name, or the file path for SQLite.
	Name string

	stmtsOnce sync.Once
	stmts     *stmtCache
}

// Target is a parsed KRAITE_DATABASE_URL.
type Target struct {
	Dialect Dialect
	Driver  string // database/sql driver name
	DSN     string // driver-specific data source name
	Name    string // database name or SQLite path
}

// ParseURL parses mysql://user:pass@host:port/db, postgres://... (or
// postgresql://) and sqlite:///path (sqlite://relative/path, sqlite::memory:
// is not supported: the sinks need one shared database).
func ParseURL(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep its cause only.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return Target{}, fmt.Errorf("parsing database url: %w", err)
	}
	switch u.Scheme {
	case "mysql", "mariadb":
		return mysqlTarget(u)
	case "postgres", "postgresql":
		name := strings.TrimPrefix(u.Path, "/")
		if name == "" {
			return Target{}, errors.New("parsing database url: postgres url needs a database name")
		}
		dsn, err := postgresDSN(u, tlsFiles())
		if err != nil {
			return Target{}, err
		}
		return Target{Dialect: Postgres, Driver: "pgx", DSN: dsn, Name: name}, nil
	case "sqlite", "sqlite3", "file":
		return sqliteTarget(u)
	case "":
		return Target{}, errors.New("parsing database url: missing scheme (mysql://, postgres:// or sqlite://)")
	default:
		return Target{}, fmt.Errorf("parsing database url: unsupported scheme %q", u.Scheme)
	}
}

func mysqlTarget(u *url.URL) (Target, error) {
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net = "tcp"
	host := u.Host
	if host == "" {
		host = "127.0.0.1:3306"
	} else if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(host, "3306")
	}
	cfg.Addr = host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if cfg.DBName == "" {
		return Target{}, errors.New("parsing database url: mysql url needs a database name")
	}
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	cfg.MultiStatements = false
	cfg.InterpolateParams = false
	cfg.Params = map[string]string{"time_zone": "'+00:00'"}
	dsn, err := mysqlApplyOptions(cfg, u.Query(), tlsFiles())
	if err != nil {
		return Target{}, err
	}
	return Target{Dialect: MySQL, Driver: "mysql", DSN: dsn, Name: cfg.DBName}, nil
}

func sqliteTarget(u *url.URL) (Target, error) {
	path := u.Path
	if u.Host != "" { // sqlite://relative/dir/file.db
		path = u.Host + u.Path
	}
	if u.Opaque != "" {
		path = u.Opaque
	}
	if path == "" {
		return Target{}, errors.New("parsing database url: sqlite url needs a file path (sqlite:///path/to/kraite.db)")
	}
	// WAL lets readers run beside the single writer; busy_timeout makes
	// concurrent writers (three sinks) wait instead of failing with SQLITE_BUSY.
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	return Target{Dialect: SQLite, Driver: "sqlite", DSN: "file:" + path + "?" + q.Encode(), Name: path}, nil
}

// Open parses rawURL, opens the database and pings it.
func Open(ctx context.Context, rawURL string) (*DB, error) {
	t, err := ParseURL(rawURL)
	if err != nil {
		return nil, err
	}
	return OpenTarget(ctx, t)
}

// OpenTarget opens an already parsed target and pings it.
func OpenTarget(ctx context.Context, t Target) (*DB, error) {
	sqlDB, err := sql.Open(t.Driver, t.DSN)
	if err != nil {
		return nil, fmt.Errorf("opening %s database: %w", t.Dialect, err)
	}
	switch t.Dialect {
	case SQLite:
		// One writer at a time is SQLite's model; one connection avoids
		// SQLITE_BUSY between our own goroutines entirely.
		sqlDB.SetMaxOpenConns(1)
	default:
		sqlDB.SetMaxOpenConns(16)
		sqlDB.SetMaxIdleConns(8)
		sqlDB.SetConnMaxLifetime(30 * time.Minute)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connecting to %s database %s: %w", t.Dialect, t.Name, tlsFailure(err))
	}
	return &DB{DB: sqlDB, Dialect: t.Dialect, Name: t.Name}, nil
}

// SinkConns is the connection budget of one sink's own pool (OpenPool): its
// write transaction, a second connection to prepare a statement the cache
// lacks, and the orders sink's publisher.
const SinkConns = 4

// OpenPool opens rawURL as a pool of its own of at most maxOpen connections
// (SQLite keeps its single connection), for a component whose connections
// must not be taken by another's slow statements. It neither migrates nor
// shares the statement cache of another pool.
func OpenPool(ctx context.Context, rawURL string, maxOpen int) (*DB, error) {
	if maxOpen < 1 {
		return nil, fmt.Errorf("opening a pool of %d connections: need at least 1", maxOpen)
	}
	d, err := Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	if d.Dialect != SQLite {
		d.SetMaxOpenConns(maxOpen)
		d.SetMaxIdleConns(maxOpen)
	}
	return d, nil
}

// Close closes the pool. A connection that broke while it sat idle (its
// server restarted or the network cut it) fails the driver's goodbye with
// driver.ErrBadConn, mysql.ErrInvalidConn or the MySQL driver's unexported
// "bad connection"; it is closed all the same, so that is not an error.
// (A sink's pool that was idle through a database outage holds such
// connections: the chaos run's database-outage fault.)
func (d *DB) Close() error {
	err := d.DB.Close()
	if err == nil || errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn) || err.Error() == "bad connection" {
		return nil
	}
	return err
}

// Rebind turns '?' placeholders into the dialect's form ($1, $2, ... for
// PostgreSQL). Queries must not contain a literal '?' in string constants.
func (d *DB) Rebind(query string) string {
	return Rebind(d.Dialect, query)
}

// Rebind is [DB.Rebind] for a dialect.
func Rebind(d Dialect, query string) string {
	if d != Postgres {
		return query
	}
	var b strings.Builder
	b.Grow(len(query) + len(query)/4)
	n := 0
	for i := 0; i < len(query); i++ {
		if query[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(query[i])
	}
	return b.String()
}

// Decimal returns a placeholder cast to the numeric column type, so that a
// decimal string bound in a CASE branch is typed (PostgreSQL would otherwise
// infer text).
func (d *DB) Decimal() string {
	if d.Dialect == Postgres {
		return "CAST(? AS NUMERIC)"
	}
	return "?"
}

// MaskURL returns rawURL with its password (and any query value that holds
// a secret: password, sslpassword, ...) replaced by "xxxxx", for logs and
// errors. A URL that does not parse is not shown at all.
func MaskURL(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable database url)"
	}
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "xxxxx")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if secretKey(k) {
				q[k] = []string{"xxxxx"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// InTx runs fn in a transaction and commits it when fn returns nil; any
// error rolls it back and is returned.
func (d *DB) InTx(ctx context.Context, fn func(*sql.Tx) error) error {
	return d.InTxWith(ctx, nil, fn)
}

// InTxWith is InTx with transaction options (an isolation level); nil opts
// are the driver's defaults.
func (d *DB) InTxWith(ctx context.Context, opts *sql.TxOptions, fn func(*sql.Tx) error) error {
	tx, err := d.BeginTx(ctx, opts)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback() //nolint:errcheck // the fn error is the one that matters
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("committing transaction: %w", err)
	}
	return nil
}
