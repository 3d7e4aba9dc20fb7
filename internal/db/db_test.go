package db_test

import (
	"context"
	"strings"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		dialect db.Dialect
		dsnHas  []string
		dbName  string
		wantErr string
	}{
		{name: "a mysql url becomes a go-sql-driver dsn with parseTime", url: "mysql://kraite:s3cret@db.internal:3307/kraite",
			dialect: db.MySQL, dsnHas: []string{"kraite:s3cret@tcp(db.internal:3307)/kraite", "parseTime=true"}, dbName: "kraite"},
		{name: "a mysql url without a port uses 3306", url: "mysql://root@localhost/app",
			dialect: db.MySQL, dsnHas: []string{"tcp(localhost:3306)/app"}, dbName: "app"},
		{name: "a postgres url is passed to pgx unchanged", url: "postgres://u:p@h:5432/kraite?sslmode=disable",
			dialect: db.Postgres, dsnHas: []string{"postgres://u:p@h:5432/kraite?sslmode=disable"}, dbName: "kraite"},
		{name: "a postgresql scheme is postgres too", url: "postgresql://h/kraite", dialect: db.Postgres, dbName: "kraite"},
		{name: "an absolute sqlite path", url: "sqlite:///var/lib/kraite/kraite.db",
			dialect: db.SQLite, dsnHas: []string{"file:/var/lib/kraite/kraite.db?", "busy_timeout"}, dbName: "/var/lib/kraite/kraite.db"},
		{name: "a relative sqlite path", url: "sqlite://data/kraite.db", dialect: db.SQLite, dbName: "data/kraite.db"},
		{name: "an unknown scheme is refused", url: "oracle://x/y", wantErr: "unsupported scheme"},
		{name: "a url without scheme is refused", url: "localhost/kraite", wantErr: "missing scheme"},
		{name: "a mysql url needs a database", url: "mysql://root@localhost", wantErr: "needs a database"},
		{name: "a sqlite url needs a path", url: "sqlite://", wantErr: "needs a file path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.ParseURL(tt.url)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Dialect != tt.dialect || got.Name != tt.dbName {
				t.Fatalf("got dialect %s name %q, want %s %q", got.Dialect, got.Name, tt.dialect, tt.dbName)
			}
			for _, s := range tt.dsnHas {
				if !strings.Contains(got.DSN, s) {
					t.Errorf("dsn %q does not contain %q", got.DSN, s)
				}
			}
		})
	}
}

func TestRebind(t *testing.T) {
	q := "UPDATE t SET a = CASE id WHEN ? THEN ? END WHERE id IN (?, ?)"
	if got := db.Rebind(db.MySQL, q); got != q {
		t.Errorf("mysql rebind changed the query: %s", got)
	}
	want := "UPDATE t SET a = CASE id WHEN $1 THEN $2 END WHERE id IN ($3, $4)"
	if got := db.Rebind(db.Postgres, q); got != want {
		t.Errorf("postgres rebind = %s, want %s", got, want)
	}
}

func TestMaskURLHidesThePassword(t *testing.T) {
	got := db.MaskURL("mysql://kraite:s3cret@db:3306/kraite")
	if strings.Contains(got, "s3cret") || !strings.Contains(got, "kraite:xxxxx@db") {
		t.Fatalf("masked = %s", got)
	}
}

func TestMigrateIsIdempotentOnEveryDialect(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t) // already migrated once
			ctx := context.Background()
			applied, err := d.Migrate(ctx)
			if err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if len(applied) != len(db.Migrations()) {
				t.Fatalf("applied %d versions, want %d", len(applied), len(db.Migrations()))
			}
			for _, a := range applied {
				if a.New {
					t.Errorf("version %d applied again", a.Version)
				}
				if a.AppliedAt.IsZero() {
					t.Errorf("version %d has no applied_at", a.Version)
				}
			}
			for _, tbl := range db.Tables() {
				if n := dbtest.Count(t, d, "FROM "+tbl); n != 0 {
					t.Errorf("table %s has %d rows", tbl, n)
				}
			}
		})
	}
}

func TestMigrateRunsConcurrentlyWithoutErrors(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			errs := make(chan error, 3)
			for range 3 {
				go func() { _, err := d.Migrate(context.Background()); errs <- err }()
			}
			for range 3 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
}
