package consume

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/kraite/stream/harness/tcpproxy"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/validate"
)

// The classifier is checked against the errors the real servers return, not
// hand-built error values.
func TestDataErrorsOfTheRealServers(t *testing.T) {
	ctx := context.Background()
	t.Run("mysql", func(t *testing.T) {
		d := dbtest.MySQL(t)
		mustExec(t, d, "CREATE TABLE v (d DECIMAL(36,18), s VARCHAR(8), t DATETIME(3), j JSON, n BIGINT NOT NULL DEFAULT 0) CHARSET utf8mb4")
		for name, stmt := range map[string][]any{
			"1264 out of range":       {"INSERT INTO v (d) VALUES (?)", "1000000000000000000000"},
			"1366 incorrect string":   {"INSERT INTO v (s) VALUES (?)", "a\xffb"},
			"1406 data too long":      {"INSERT INTO v (s) VALUES (?)", "123456789"},
			"1292 incorrect datetime": {"INSERT INTO v (t) VALUES (?)", "9999-99-99"},
			"3140 invalid json":       {"INSERT INTO v (j) VALUES (?)", "{not json"},
			"1048 null":               {"INSERT INTO v (n) VALUES (?)", nil},
		} {
			_, err := d.ExecContext(ctx, stmt[0].(string), stmt[1:]...)
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			if !IsDataError(err) || !IsBadRecord(fmt.Errorf("wrapped: %w", err)) {
				t.Errorf("%s: %v not classified as a data error", name, err)
			}
		}
		checkOutageIsNotBad(t, d)
		if _, err := d.ExecContext(ctx, "SELECT * FROM no_such_table"); err == nil || IsBadRecord(err) {
			t.Errorf("a missing table is not a bad record: %v", err)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		d := dbtest.Postgres(t)
		mustExec(t, d, "CREATE TABLE v (d NUMERIC(36,18), s VARCHAR(8), t TIMESTAMPTZ(3), j JSONB, c INT CHECK (c > 0), n BIGINT NOT NULL DEFAULT 0)")
		for name, stmt := range map[string][]any{
			"22003 out of range":  {"INSERT INTO v (d) VALUES ($1)", "1000000000000000000000"},
			"22021 bad encoding":  {"INSERT INTO v (s) VALUES ($1)", "a\x00b"},
			"22001 too long":      {"INSERT INTO v (s) VALUES ($1)", "123456789"},
			"22008 bad timestamp": {"INSERT INTO v (t) VALUES ($1)", "9999-99-99"},
			"22P02 invalid json":  {"INSERT INTO v (j) VALUES ($1)", "{not json"},
			"23514 check":         {"INSERT INTO v (c) VALUES ($1)", -1},
			"23502 not null":      {"INSERT INTO v (n) VALUES ($1)", nil},
		} {
			_, err := d.ExecContext(ctx, stmt[0].(string), stmt[1:]...)
			if err == nil {
				t.Errorf("%s: no error", name)
				continue
			}
			if !IsDataError(err) {
				t.Errorf("%s: %v not classified as a data error", name, err)
			}
		}
		checkOutageIsNotBad(t, d)
	})
	t.Run("sqlite", func(t *testing.T) {
		d := dbtest.SQLite(t)
		mustExec(t, d, "CREATE TABLE v (c INT CHECK (c > 0), n INTEGER NOT NULL)")
		for name, stmt := range map[string][]any{
			"check":    {"INSERT INTO v (c, n) VALUES (?, 1)", -1},
			"not null": {"INSERT INTO v (c, n) VALUES (1, ?)", nil},
		} {
			_, err := d.ExecContext(ctx, stmt[0].(string), stmt[1:]...)
			if err == nil || !IsDataError(err) {
				t.Errorf("%s: %v not classified as a data error", name, err)
			}
		}
	})
}

func mustExec(t *testing.T, d *db.DB, q string) {
	t.Helper()
	if _, err := d.ExecContext(context.Background(), q); err != nil {
		t.Fatal(err)
	}
}

// checkOutageIsNotBad cuts the connection under a query: the error is an
// outage, never a bad record.
func checkOutageIsNotBad(t *testing.T, d *db.DB) {
	t.Helper()
	u, err := url.Parse(dbtest.URL(d))
	if err != nil {
		t.Fatal(err)
	}
	p, err := tcpproxy.StartProxy(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	u.Host = p.Addr()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pd, err := db.Open(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	defer pd.Close()
	p.Down()
	_, err = pd.ExecContext(ctx, "SELECT 1")
	if err == nil {
		t.Fatal("no error with the server down")
	}
	if IsBadRecord(err) || IsDataError(err) {
		t.Errorf("an outage classified as a bad record: %v", err)
	}
}

func TestIsBadRecord(t *testing.T) {
	for _, err := range []error{Bad(errors.New("x")), validate.MarkPrice("1e999999"), fmt.Errorf("w: %w", validate.Symbol(""))} {
		if !IsBadRecord(err) {
			t.Errorf("%v not a bad record", err)
		}
	}
	for _, err := range []error{nil, errors.New("connection refused"), context.Canceled, fmt.Errorf("%w", context.DeadlineExceeded)} {
		if IsBadRecord(err) {
			t.Errorf("%v is a bad record", err)
		}
	}
	if Bad(nil) != nil {
		t.Error("Bad(nil)")
	}
}

func TestIsolateFindsTheBadItemsAndWritesTheRest(t *testing.T) {
	ctx := context.Background()
	var written []int
	calls := 0
	write := func(_ context.Context, items []int) error {
		calls++
		for _, v := range items {
			if v%37 == 0 || v == 500 {
				return Bad(fmt.Errorf("item %d", v))
			}
		}
		written = append(written, items...)
		return nil
	}
	items := make([]int, 1000)
	for i := range items {
		items[i] = i + 1
	}
	bad, err := Isolate(ctx, items, write)
	if err != nil {
		t.Fatal(err)
	}
	want := 1000/37 + 1
	if len(bad) != want || len(written) != 1000-want {
		t.Fatalf("bad %d written %d", len(bad), len(written))
	}
	for i := 1; i < len(written); i++ {
		if written[i] <= written[i-1] {
			t.Fatal("written out of order")
		}
	}
	if bad[0].Item != 37 || bad[0].Err == nil {
		t.Errorf("first bad %+v", bad[0])
	}
	t.Logf("%d writes for %d bad items among %d", calls, want, len(items))

	outage := errors.New("connection reset")
	n := 0
	bad, err = Isolate(ctx, items, func(_ context.Context, items []int) error {
		n++
		if n == 1 {
			return Bad(errors.New("first"))
		}
		return outage
	})
	if !errors.Is(err, outage) || bad != nil {
		t.Fatalf("an outage while isolating: %v %v", bad, err)
	}
}
