package runs

import (
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/e2e"
	"github.com/kraite/stream/internal/app"
)

func TestFailoverRequestRefusesNonsense(t *testing.T) {
	ok := FailoverRequest{Accounts: 1000, Session: 10 * time.Second, Grace: 15 * time.Second, Interval: time.Second, WeightLimit: 2400}
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
		{"no weight", func(r *FailoverRequest) { r.WeightLimit = 0 }, "--weight-limit"},
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

// check runs each case's Validate and wants an error naming its flag (none
// for want "").
func check(t *testing.T, name string, err error, want string) {
	t.Helper()
	if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
		t.Errorf("%s: %v, want %q", name, err, want)
	}
}

func TestIngestRequestRefusesNonsense(t *testing.T) {
	ok := IngestRequest{Accounts: 1000, Interval: time.Second, Warmup: 5 * time.Second, Duration: 20 * time.Second}
	check(t, "default", ok.Validate(), "")
	for _, c := range []struct {
		name string
		edit func(*IngestRequest)
		want string
	}{
		{"sixteen processes", func(r *IngestRequest) { r.Processes = 16 }, ""},
		{"no accounts", func(r *IngestRequest) { r.Accounts = 0 }, "--accounts positive"},
		{"negative accounts", func(r *IngestRequest) { r.Accounts = -1 }, "--accounts positive"},
		{"negative processes", func(r *IngestRequest) { r.Processes = -1 }, "--processes must be 0..16"},
		{"huge processes", func(r *IngestRequest) { r.Processes = 1 << 30 }, "--processes must be 0..16"},
	} {
		r := ok
		c.edit(&r)
		check(t, c.name, r.Validate(), c.want)
	}
}

func TestE2ERequestRefusesNonsense(t *testing.T) {
	ok := E2ERequest{e2e.Config{Accounts: 200, Duration: 20 * time.Second, Warmup: 5 * time.Second, OrderInterval: 2 * time.Second, Repeat: 1}}
	check(t, "default", ok.Validate(), "")
	for _, c := range []struct {
		name string
		edit func(*E2ERequest)
		want string
	}{
		{"no repeat", func(r *E2ERequest) { r.Repeat = 0 }, "repeat: 0 is not between 1 and 100"},
		{"negative repeat", func(r *E2ERequest) { r.Repeat = -3 }, "repeat: -3 is not between 1 and 100"},
		{"huge repeat", func(r *E2ERequest) { r.Repeat = 1 << 40 }, "repeat: 1099511627776 is not between 1 and 100"},
		{"no accounts", func(r *E2ERequest) { r.Accounts = 0 }, "accounts: 0 is not between"},
		{"huge accounts", func(r *E2ERequest) { r.Accounts = 1 << 30 }, "accounts: 1073741824 is not between"},
		{"negative duration", func(r *E2ERequest) { r.Duration = -time.Second }, "duration: must be positive"},
		{"negative warmup", func(r *E2ERequest) { r.Warmup = -time.Second }, "warmup: must not be negative"},
	} {
		r := ok
		c.edit(&r)
		check(t, c.name, r.Validate(), c.want)
	}
}

// kraite chaos validates the fault run, or with --soak the soak, and only
// the flags that one uses.
func TestChaosRequestRefusesNonsense(t *testing.T) {
	ok := ChaosRequest{Config: chaos.Config{App: &app.Config{}, For: time.Minute, Accounts: 3, Seed: 1,
		OrderInterval: 100 * time.Millisecond, Settle: 3 * time.Minute}, Simulated: 72 * time.Hour, Speed: 360, PeerCmd: []string{"bench", "peer"}}
	check(t, "default", ok.Validate(), "")
	for _, c := range []struct {
		name string
		edit func(*ChaosRequest)
		want string
	}{
		{"some faults", func(r *ChaosRequest) { r.Faults = "kill-worker, socket-drop" }, ""},
		{"unknown fault", func(r *ChaosRequest) { r.Faults = "kill-worker,meteor" }, `--faults: unknown fault "meteor"`},
		{"no accounts", func(r *ChaosRequest) { r.Accounts = 0 }, "--accounts 0 is not within 1..1000"},
		{"negative accounts", func(r *ChaosRequest) { r.Accounts = -2 }, "--accounts -2 is not within 1..1000"},
		{"huge accounts", func(r *ChaosRequest) { r.Accounts = 1 << 30 }, "--accounts 1073741824 is not within 1..1000"},
		{"short window", func(r *ChaosRequest) { r.For = time.Second }, "--for 1s is too short"},
		{"negative settle", func(r *ChaosRequest) { r.Settle = -time.Second }, "--settle -1s must be positive"},
		{"zero order interval", func(r *ChaosRequest) { r.OrderInterval = 0 }, "--order-interval 0s must be positive"},
		// The soak's flags are not the fault run's, and the other way round.
		{"fault run ignores --speed", func(r *ChaosRequest) { r.Speed = -1 }, ""},
		{"soak ignores --faults and --for", func(r *ChaosRequest) { r.Soak, r.Faults, r.For = true, "meteor", 0 }, ""},
		{"soak: negative speed", func(r *ChaosRequest) { r.Soak, r.Speed = true, -1 }, "--speed -1 is not within 1.."},
		{"soak: huge speed", func(r *ChaosRequest) { r.Soak, r.Speed = true, 1e12 }, "--speed 1e+12 is not within 1.."},
		{"soak: no simulated span", func(r *ChaosRequest) { r.Soak, r.Simulated = true, 0 }, "--simulated 0s must be positive"},
		{"soak: huge accounts", func(r *ChaosRequest) { r.Soak, r.Accounts = true, 5000 }, "--accounts 5000 is not within 1..1000"},
		{"soak: negative settle", func(r *ChaosRequest) { r.Soak, r.Settle = true, -time.Second }, "--settle -1s must be positive"},
	} {
		r := ok
		c.edit(&r)
		check(t, c.name, r.Validate(), c.want)
	}
	// The soak is the fault run's settings and peer, of the whole pipeline.
	s := ok.soakConfig()
	if !s.Pipeline || s.Accounts != 3 || s.Settle != 3*time.Minute || s.Speed != 360 || s.PeerCmd[1] != "peer" || s.App == nil {
		t.Fatalf("soak config: %+v", s)
	}
}
