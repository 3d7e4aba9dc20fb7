package chaos

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

// TestOpenDBCreatesAProxiedDatabaseAndDropsIt: without a database URL a
// run gets a fresh MariaDB database that the pipeline reaches through the
// proxy, and Close drops it (unless keep).
func TestOpenDBCreatesAProxiedDatabaseAndDropsIt(t *testing.T) {
	dbtest.MySQL(t) // skips without a MariaDB server (fails in CI)
	admin := os.Getenv("KRAITE_TEST_MYSQL_URL")
	if admin == "" {
		admin = "mysql://root@127.0.0.1:3306/test"
	}
	ctx := context.Background()
	cd, err := OpenDB(ctx, "", admin, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(cd.Created, "kraite_chaos_") || !strings.Contains(cd.Masked, "/"+cd.Created) {
		t.Fatalf("created %q, masked %q", cd.Created, cd.Masked)
	}
	pu, err := url.Parse(cd.PipelineURL)
	if err != nil || pu.Host != cd.proxy.Addr() || pu.Path != "/"+cd.Created {
		t.Fatalf("pipeline url %q (%v), proxy %s", cd.PipelineURL, err, cd.proxy.Addr())
	}
	through, err := db.Open(ctx, cd.PipelineURL)
	if err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if err := through.PingContext(ctx); err != nil {
		t.Fatalf("ping through the proxy: %v", err)
	}
	through.Close()
	if err := cd.Close(ctx, false); err != nil {
		t.Fatal(err)
	}
	adm, err := db.Open(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer adm.Close()
	var n int
	if err := adm.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", cd.Created).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s left behind (%d, %v)", cd.Created, n, err)
	}
}

// TestOpenDBOnSQLiteHasNoProxy: SQLite has no server to cut, so the
// pipeline opens the file itself and nothing is created or dropped.
func TestOpenDBOnSQLiteHasNoProxy(t *testing.T) {
	raw := "sqlite://" + filepath.Join(t.TempDir(), "chaos.db")
	cd, err := OpenDB(context.Background(), raw, "mysql://nobody@127.0.0.1:1/none", true)
	if err != nil {
		t.Fatal(err)
	}
	defer cd.Close(context.Background(), false)
	if cd.proxy != nil || cd.PipelineURL != raw || cd.Created != "" {
		t.Fatalf("proxy %v, pipeline %q, created %q", cd.proxy, cd.PipelineURL, cd.Created)
	}
}
