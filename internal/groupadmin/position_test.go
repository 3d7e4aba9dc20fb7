package groupadmin

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParsePosition(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   string
		want Position
		bad  bool
	}{
		{"earliest is the log start", "earliest", Position{Kind: Earliest}, false},
		{"latest is the end", "LATEST", Position{Kind: Latest}, false},
		{"digits are one offset", "12345", Position{Kind: Offset, Offset: 12345}, false},
		{"zero is an offset", "0", Position{Kind: Offset}, false},
		{"an RFC 3339 time is a time", "2026-11-22T10:00:00Z", Position{Kind: Time, Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}, false},
		{"a zoned time becomes UTC", "2026-11-22T11:00:00+01:00", Position{Kind: Time, Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)}, false},
		{"a negative duration is before now", "-10m", Position{Kind: Time, Time: now.Add(-10 * time.Minute)}, false},
		{"an empty string is refused", "", Position{}, true},
		{"a date without time is refused", "2026-11-22", Position{}, true},
		{"an offset that overflows is refused", "99999999999999999999", Position{}, true},
		{"a word is refused", "yesterday", Position{}, true},
		{"a double negative duration is refused", "--5m", Position{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePositionAt(tt.in, now)
			if tt.bad {
				if !errors.Is(err, ErrBadPosition) {
					t.Fatalf("ParsePosition(%q) = %v, %v; want ErrBadPosition", tt.in, got, err)
				}
				return
			}
			if err != nil || got.Kind != tt.want.Kind || got.Offset != tt.want.Offset || !got.Time.Equal(tt.want.Time) {
				t.Fatalf("ParsePosition(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestPositionResolvesWithinEachPartition(t *testing.T) {
	tests := []struct {
		name       string
		pos        Position
		after      int64
		want       int64
		wantClamps bool
	}{
		{"earliest is the start", Position{Kind: Earliest}, -1, 10, false},
		{"latest is the end", Position{Kind: Latest}, -1, 50, false},
		{"an offset inside is kept", Position{Kind: Offset, Offset: 20}, -1, 20, false},
		{"an offset below the start is clamped", Position{Kind: Offset, Offset: 3}, -1, 10, true},
		{"an offset past the end is clamped", Position{Kind: Offset, Offset: 99}, -1, 50, true},
		{"a time with a record after it resolves there", Position{Kind: Time}, 30, 30, false},
		{"a time with nothing after it resolves to the end", Position{Kind: Time}, -1, 50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, clamped := tt.pos.resolve(10, 50, tt.after)
			if got != tt.want || clamped != tt.wantClamps {
				t.Fatalf("resolve = %d, %v; want %d, %v", got, clamped, tt.want, tt.wantClamps)
			}
		})
	}
}

// FuzzParsePosition: ParsePosition never panics; it returns either an error
// wrapping ErrBadPosition or a position whose String parses back to the same
// position.
func FuzzParsePosition(f *testing.F) {
	for _, s := range []string{"earliest", "latest", "0", "12345", "2026-11-22T10:00:00Z",
		"2026-11-22T10:00:00.123456789+05:30", "-10m", "-2h30m", "", "-", "1e9", "T", "9223372036854775808"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePositionAt(s, now)
		if err != nil {
			if !errors.Is(err, ErrBadPosition) {
				t.Fatalf("error %v does not wrap ErrBadPosition", err)
			}
			return
		}
		if p.Kind == Offset && p.Offset < 0 {
			t.Fatalf("negative offset %d from %q", p.Offset, s)
		}
		back, err := ParsePositionAt(p.String(), now)
		if err != nil || back.Kind != p.Kind || back.Offset != p.Offset || !back.Time.Equal(p.Time) {
			if p.Kind == Time && strings.HasPrefix(p.String(), "-") {
				return // a year before 0 has no RFC 3339 form
			}
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, p, p.String(), back, err)
		}
	})
}
