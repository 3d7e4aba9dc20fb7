package db

import (
	"fmt"
	"strings"
	"time"
)

// NullTime scans a timestamp from any of the three drivers: time.Time
// (MySQL with parseTime, pgx, SQLite DATETIME columns) or the text forms
// SQLite may return for computed expressions. NULL leaves Valid false.
type NullTime struct {
	Time  time.Time
	Valid bool
}

var timeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999 -0700 MST",
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
}

// Scan implements sql.Scanner.
func (n *NullTime) Scan(v any) error {
	n.Time, n.Valid = time.Time{}, false
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		n.Time, n.Valid = x.UTC(), true
		return nil
	case int64:
		n.Time, n.Valid = time.UnixMilli(x).UTC(), true
		return nil
	case []byte:
		return n.parse(string(x))
	case string:
		return n.parse(x)
	default:
		return fmt.Errorf("scanning time from %T", v)
	}
}

func (n *NullTime) parse(s string) error {
	s = strings.TrimSpace(s)
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			n.Time, n.Valid = t.UTC(), true
			return nil
		}
	}
	return fmt.Errorf("scanning time from %q: unknown layout", s)
}
