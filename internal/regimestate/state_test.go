package regimestate

import (
	"testing"

	"github.com/kraite/stream/topics"
)

func TestGateStatusDegraded(t *testing.T) {
	const now = int64(1_700_000_000_000)
	st := &State{Band: Calm, Degraded: "BTCUSDT silent for 45s (limit 30s)", AtMs: now}
	for _, tc := range []struct {
		name string
		st   *State
		ov   *topics.Override
		want string
	}{
		{"degraded refuses", st, nil, GateDegraded},
		{"degraded beats Critical", &State{Band: Critical, Degraded: "x"}, nil, GateDegraded},
		{"allow override beats degraded", st, &topics.Override{Action: "allow", UntilMs: now + 1}, GateOverrideAllow},
		{"expired override does not", st, &topics.Override{Action: "allow", UntilMs: now}, GateDegraded},
		{"healthy Calm opens", &State{Band: Calm}, nil, GateOpen},
	} {
		if got, reason := GateStatus(tc.st, tc.ov, now); got != tc.want || reason == "" {
			t.Errorf("%s: %s (%q), want %s", tc.name, got, reason, tc.want)
		}
	}
	if _, blocked := (&State{Band: Calm}).Blocked(); blocked {
		t.Error("a healthy Calm state reports blocked")
	}
	if _, blocked := (*State)(nil).Blocked(); !blocked {
		t.Error("no state reports open")
	}
}
