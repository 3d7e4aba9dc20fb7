package runs

import (
	"strings"
	"testing"
	"time"
)

func TestFailoverRequestRefusesNonsense(t *testing.T) {
	ok := FailoverRequest{Accounts: 1000, Session: 10 * time.Second, Grace: 15 * time.Second, Interval: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid request: %v", err)
	}
	for _, c := range []struct {
		name string
		edit func(*FailoverRequest)
		want string
	}{
		{"no accounts", func(r *FailoverRequest) { r.Accounts = 0 }, "--accounts"},
		{"negative accounts", func(r *FailoverRequest) { r.Accounts = -5 }, "--accounts"},
		{"session under the broker's minimum", func(r *FailoverRequest) { r.Session = time.Second }, "--session"},
		{"a weight no IP has", func(r *FailoverRequest) { r.WeightLimit = 10 }, "--weight-limit"},
		{"a negative weight", func(r *FailoverRequest) { r.WeightLimit = -1 }, "--weight-limit"},
		{"a huge weight", func(r *FailoverRequest) { r.WeightLimit = 1 << 40 }, "--weight-limit"},
	} {
		r := ok
		c.edit(&r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error naming %s", c.name, err, c.want)
		}
	}
}
