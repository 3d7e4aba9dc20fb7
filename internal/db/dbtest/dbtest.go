// Package dbtest gives tests a fresh, migrated database per test on each of
// the three dialects: a new MariaDB/MySQL database, a new PostgreSQL database
// or a SQLite file in t.TempDir(), dropped in t.Cleanup.
//
// Servers default to this machine (MariaDB root@127.0.0.1:3306, PostgreSQL
// postgres@127.0.0.1:5432); override the admin URLs with
// KRAITE_TEST_MYSQL_URL and KRAITE_TEST_POSTGRES_URL. An unreachable server
// skips the test, unless KRAITE_TEST_REQUIRE_DB=1 (CI), which fails it.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
)

var urls sync.Map // *db.DB -> its URL

// URL returns the URL a database of this package was opened with, so a test
// can open a second handle (e.g. through a fault-injecting proxy).
func URL(d *db.DB) string {
	u, _ := urls.Load(d)
	s, _ := u.(string)
	return s
}

// Factory creates a fresh migrated database for one test.
type Factory struct {
	Name string
	New  func(t testing.TB) *db.DB
}

// All returns the factories of the three dialects, MySQL first.
func All() []Factory {
	return []Factory{{"mysql", MySQL}, {"postgres", Postgres}, {"sqlite", SQLite}}
}

func adminURL(envKey, def string) string {
	if v := os.Getenv(envKey); v != "" {
		return v
	}
	return def
}

func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("KRAITE_TEST_REQUIRE_DB") == "1" {
		t.Fatalf("%s unavailable: %v", what, err)
	}
	t.Skipf("%s unavailable: %v", what, err)
}

func randomName() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "kraite_test_" + hex.EncodeToString(b)
}

// MySQL creates a fresh database on the MariaDB/MySQL server.
func MySQL(t testing.TB) *db.DB {
	t.Helper()
	return onServer(t, "mysql", mysqlAdmin())
}

// MySQLEmpty creates a fresh, empty database (no migration) on the
// MariaDB/MySQL server and returns its URL, for a test whose code under
// test creates the schema; dropped in t.Cleanup, skipped like MySQL.
func MySQLEmpty(t testing.TB) string {
	t.Helper()
	_, u := fresh(t, "mysql", mysqlAdmin())
	return u
}

func mysqlAdmin() string {
	return adminURL("KRAITE_TEST_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
}

// Postgres creates a fresh database on the PostgreSQL server.
func Postgres(t testing.TB) *db.DB {
	t.Helper()
	return onServer(t, "postgres", adminURL("KRAITE_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"))
}

// SQLite creates a database file in t.TempDir().
func SQLite(t testing.TB) *db.DB {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "kraite.db"))
	if err != nil {
		t.Fatalf("opening sqlite: %v", err)
	}
	urls.Store(d, "sqlite://"+d.Name)
	t.Cleanup(func() { urls.Delete(d); d.Close() })
	migrate(t, d)
	return d
}

// URLFor returns the URL of database name on the server of adminURL.
func URLFor(adminURL, name string) string {
	u, err := url.Parse(adminURL)
	if err != nil {
		return adminURL
	}
	u.Path = "/" + name
	return u.String()
}

func onServer(t testing.TB, what, admin string) *db.DB {
	t.Helper()
	name, u := fresh(t, what, admin)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := db.Open(ctx, u)
	if err != nil {
		t.Fatalf("opening database %s: %v", name, err)
	}
	urls.Store(d, u)
	t.Cleanup(func() { // before fresh's drop
		urls.Delete(d)
		d.Close()
	})
	migrate(t, d)
	return d
}

// fresh creates an empty database on the server of admin, dropped in
// t.Cleanup, and returns its name and URL; an unreachable server skips
// the test.
func fresh(t testing.TB, what, admin string) (name, u string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm, err := db.Open(ctx, admin)
	if err != nil {
		unavailable(t, what, err)
	}
	name = randomName()
	if _, err := adm.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		adm.Close()
		t.Fatalf("creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		dropDatabase(adm, what, name)
		adm.Close()
	})
	return name, URLFor(admin, name)
}

func dropDatabase(adm *db.DB, what, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stmt := "DROP DATABASE IF EXISTS " + name
	if what == "postgres" {
		stmt += " WITH (FORCE)"
	}
	_, _ = adm.ExecContext(ctx, stmt)
}

func migrate(t testing.TB, d *db.DB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrating %s: %v", d.Dialect, err)
	}
}

// Count returns SELECT COUNT(*) of a query suffix ("FROM orders WHERE ...").
func Count(t testing.TB, d *db.DB, fromWhere string, args ...any) int {
	t.Helper()
	var n int
	if err := d.QueryRowContext(context.Background(), d.Rebind("SELECT COUNT(*) "+fromWhere), args...).Scan(&n); err != nil {
		t.Fatalf("counting %s: %v", fromWhere, err)
	}
	return n
}

// Dump returns every row of query as strings (NULL as "NULL"), for
// comparing whole tables across runs.
func Dump(t testing.TB, d *db.DB, query string, args ...any) [][]string {
	t.Helper()
	rows, err := d.QueryContext(context.Background(), d.Rebind(query), args...)
	if err != nil {
		t.Fatalf("querying %s: %v", query, err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var out [][]string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatalf("scanning %s: %v", query, err)
		}
		row := make([]string, len(cols))
		for i, v := range vals {
			row[i] = "NULL"
			if v.Valid {
				row[i] = v.String
			}
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("reading %s: %v", query, err)
	}
	return out
}
