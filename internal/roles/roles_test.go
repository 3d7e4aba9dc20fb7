package roles

import (
	"slices"
	"testing"

	"github.com/kraite/stream/topics"
)

// TestTheTableIsClosed: the ACLs derive from Components and ComponentAccess,
// so a misspelt component in either would silently drop a box's access
// (the broker refuses it only when that box runs). Every component with
// declared access, and every component that runs a consumer group, is run
// by some role; every role runs at least one component.
func TestTheTableIsClosed(t *testing.T) {
	run := map[string]bool{}
	for _, r := range Names() {
		if len(Components[r]) == 0 {
			t.Errorf("role %s runs nothing", r)
		}
		for _, c := range Components[r] {
			run[c] = true
		}
	}
	for c := range ComponentAccess {
		if !run[c] {
			t.Errorf("ComponentAccess names %q, which no role runs", c)
		}
	}
	for _, g := range topics.Groups() {
		if g.Component != "" && !run[g.Component] {
			t.Errorf("group %s belongs to %q, which no role runs", g.Suffix, g.Component)
		}
	}
	if !slices.IsSorted(Names()) {
		t.Errorf("Names() = %v, not sorted", Names())
	}
}
