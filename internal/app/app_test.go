package app

import (
	"fmt"
	"testing"

	"github.com/kraite/stream/internal/roles"
	"github.com/kraite/stream/internal/statuspage"
	"github.com/kraite/stream/processors/gate"
)

// TestEveryRoleComponentIsBuilt: `kraite run --role` starts the role
// registry's components (the table the ACLs derive from), so each has a
// builder here.
func TestEveryRoleComponentIsBuilt(t *testing.T) {
	for _, r := range roles.Names() {
		for _, c := range roles.Components[r] {
			if !IsComponent(c) {
				t.Errorf("role %s runs %q, which has no builder (known: %v)", r, c, ComponentNames())
			}
		}
	}
}

// TestTheStatusPageListsTheProcessorsControlAlerts: the page's control
// alerts come from every gate and dispatch Runner of the process, and a
// process without them gives none (the page then reads the quarantine).
func TestTheStatusPageListsTheProcessorsControlAlerts(t *testing.T) {
	if processControlAlerts(&App{}) != nil {
		t.Fatal("alerts without a gate or dispatch in the process")
	}
	w := &App{controlAlerts: []func() []gate.Alert{
		func() []gate.Alert {
			return []gate.Alert{{Topic: "kraite.allowlist", Key: "binance", Partition: 1, Offset: 9, Consumer: "kraite.dispatch",
				Error: "decoding allowlist: EOF", AtMs: 42}}
		},
		func() []gate.Alert {
			return []gate.Alert{{Topic: "kraite.regime-overrides", Key: "(unknown keys)", Consumer: "kraite.gate", KeptLastGood: true}}
		},
	}}
	got := processControlAlerts(w)()
	want := []statuspage.ControlAlert{
		{Topic: "kraite.allowlist", Key: "binance", Partition: 1, Offset: 9, Consumers: []string{"kraite.dispatch"},
			Error: "decoding allowlist: EOF", AtMs: 42},
		{Topic: "kraite.regime-overrides", Key: statuspage.UnknownKeys, Consumers: []string{"kraite.gate"}, KeptLastGood: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
