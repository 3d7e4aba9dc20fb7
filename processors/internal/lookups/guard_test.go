package lookups

import (
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"
	"github.com/prometheus/client_golang/prometheus"
)

// The Guards of several processors (gate, dispatch, regime in one `kraite
// dev`) register their collectors on one registry side by side, even for
// the same topic.
func TestGuardsRegisterSideBySide(t *testing.T) {
	tt := tester.New(t)
	reg := prometheus.NewRegistry()
	for _, group := range []goka.Group{"kraite.gate", "kraite.regime"} {
		_, g, err := NewGuardedView(GuardConfig{Table: "kraite.regime-overrides", Group: group, Quarantine: "kraite.quarantine",
			Check:       func(string, []byte) error { return nil },
			ViewOptions: []goka.ViewOption{goka.WithViewTester(tt)}})
		if err != nil {
			t.Fatal(err)
		}
		g.alerts["global"] = Alert{Key: "global", KeptLastGood: false}
		g.rejected.Add(2)
		if err := reg.Register(g); err != nil {
			t.Fatalf("registering the guard of %s: %v", group, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			series[mf.GetName()]++
			if mf.GetName() == "kraite_control_records_refused_total" && m.GetCounter().GetValue() != 2 {
				t.Fatalf("refused %v, want 2", m.GetCounter().GetValue())
			}
		}
	}
	if series["kraite_control_records_refused_total"] != 2 || series["kraite_control_alert"] != 2 {
		t.Fatalf("series %v, want 2 of each", series)
	}
}

func TestUnreadableMarker(t *testing.T) {
	m := unreadableMarker(errString("garbage"))
	if r, ok := Unreadable(m); !ok || r != "garbage" {
		t.Fatalf("Unreadable(marker) = %q, %v", r, ok)
	}
	for _, v := range []any{nil, []byte(nil), []byte(`{"a":1}`), "string", []byte("\x00other")} {
		if _, ok := Unreadable(v); ok {
			t.Fatalf("Unreadable(%q) = true", v)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }
