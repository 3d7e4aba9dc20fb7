package markprice

import (
	"net/url"
	"testing"
)

// hostPort is the server address of a database URL.
func hostPort(t testing.TB, dialect, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if u.Port() == "" {
		if dialect == "mysql" {
			return u.Hostname() + ":3306"
		}
		return u.Hostname() + ":5432"
	}
	return u.Host
}

// viaProxy rewrites a database URL to go through addr.
func viaProxy(t testing.TB, raw, addr string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = addr
	return u.String()
}
