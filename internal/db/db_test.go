package db_test

import (
	"context"
	"path/filepath"
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

// TestMySQLURLOptions: only known driver options are accepted (an unknown
// key used to become a session variable: ?password=X ran SET password=X);
// the error names the key, never its value; values are validated; the TLS
// modes and files combine sensibly.
func TestMySQLURLOptions(t *testing.T) {
	setTLSFiles(t, "", "", "")
	for _, tc := range []struct {
		url, want string
		dsnHas    []string
	}{
		{url: "mysql://u:p@h/db?timeout=5s&readTimeout=30s&charset=utf8mb4", dsnHas: []string{"timeout=5s", "readTimeout=30s", "charset=utf8mb4", "parseTime=true"}},
		{url: "mysql://u:p@h/db?tls=skip-verify", dsnHas: []string{"tls=skip-verify"}},
		{url: "mysql://u:p@h/db?tls=preferred", dsnHas: []string{"tls=preferred"}},
		{url: "mysql://u:p@h/db?tls=true", dsnHas: []string{"tls=kraite-"}},
		{url: "mysql://u:p@h/db?tls=false"},
		{url: "mysql://u@h/db?password=hunter2-secret", want: "unknown mysql option(s) password"},
		{url: "mysql://u@h/db?sql_mode=x&autocommit=0", want: "autocommit, sql_mode"},
		{url: "mysql://u@h/db?multiStatements=true", want: "multiStatements"},
		{url: "mysql://u@h/db?time_zone=%27%2B05:00%27", want: "time_zone"},
		{url: "mysql://u@h/db?timeout=soon", want: "mysql options"},
		{url: "mysql://u@h/db?tls=maybe", want: `tls="maybe"`},
		{url: "mysql://u@h/db?timeout=1s&timeout=2s", want: "more than once"},
	} {
		got, err := db.ParseURL(tc.url)
		if tc.want != "" {
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("%s: %v, want an error naming %q (and no value)", tc.url, err, tc.want)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.url, err)
			continue
		}
		for _, s := range tc.dsnHas {
			if !strings.Contains(got.DSN, s) {
				t.Errorf("%s: dsn %q lacks %q", tc.url, got.DSN, s)
			}
		}
	}
	dir := t.TempDir()
	p := newPKI(t, "opts")
	for _, tc := range []struct {
		ca, cert, key, url, want string
	}{
		{ca: p.CA, url: "mysql://u@h/db?tls=false", want: "tls=false"},
		{ca: p.CA, url: "mysql://u@h/db?tls=skip-verify", want: "verifies nothing"},
		{cert: p.ClientCert, url: "mysql://u@h/db", want: "go together"},
		{ca: filepath.Join(dir, "missing.pem"), url: "mysql://u@h/db", want: db.EnvTLSCAFile},
		{ca: p.ClientKey, url: "mysql://u@h/db", want: "no PEM certificate"},
		{cert: p.ClientCert, key: p.ClientCert, url: "mysql://u@h/db", want: db.EnvTLSCertFile},
		{ca: p.CA, url: "postgres://u@h/db?sslmode=disable", want: "sslmode=disable"},
		{ca: p.CA, url: "postgres://u@h/db?sslmode=prefer", want: "verifies nothing"},
		{ca: p.CA, url: "postgres://u@h/db?sslmode=allow", want: "verifies nothing"},
		{cert: p.ClientCert, url: "postgres://u@h/db", want: "go together"},
	} {
		setTLSFiles(t, tc.ca, tc.cert, tc.key)
		if _, err := db.ParseURL(tc.url); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc, err, tc.want)
		}
	}
	setTLSFiles(t, p.CA, p.ClientCert, p.ClientKey)
	got, err := db.ParseURL("postgres://u@h/db")
	if err != nil || !strings.Contains(got.DSN, "sslmode=verify-full") || !strings.Contains(got.DSN, "sslrootcert=") ||
		!strings.Contains(got.DSN, "sslcert=") || !strings.Contains(got.DSN, "sslkey=") {
		t.Errorf("postgres with TLS files: %q %v", got.DSN, err)
	}
	got, err = db.ParseURL("postgres://u@h/db?sslmode=verify-ca&sslrootcert=/own/ca.pem")
	if err != nil || !strings.Contains(got.DSN, "sslmode=verify-ca") || !strings.Contains(got.DSN, "sslrootcert=%2Fown%2Fca.pem") {
		t.Errorf("the URL's own TLS settings win: %q %v", got.DSN, err)
	}
}

func TestMaskURLHidesSecretsInTheQueryAndBadURLs(t *testing.T) {
	for _, raw := range []string{
		"postgres://u@h/db?password=s3cret&sslmode=require",
		"postgres://u:s3cret@h/db?sslpassword=s3cret",
		"mysql://u:s3cret@h:3306/db?tls=true",
		"mysql://u:s3cret@h:notaport/db",
	} {
		if got := db.MaskURL(raw); strings.Contains(got, "s3cret") {
			t.Errorf("MaskURL(%s) = %s", raw, got)
		}
	}
	if got := db.MaskURL("postgres://u@h/db?password=s3cret&sslmode=require"); !strings.Contains(got, "sslmode=require") {
		t.Errorf("masking dropped the other options: %s", got)
	}
	if _, err := db.ParseURL("mysql://u:s3cret@h:notaport/db"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("a URL that does not parse: %v", err)
	}
}
