package topics_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

// TestGroupsAreDeclaredOnce: every declared group has a unique name, a
// component that runs it and inputs from the topic catalog.
func TestGroupsAreDeclaredOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range topics.Groups() {
		if seen[g.Suffix] {
			t.Errorf("group %s declared twice", g.Suffix)
		}
		seen[g.Suffix] = true
		if g.Component == "" || g.Doc == "" || len(g.Inputs) == 0 {
			t.Errorf("group %s: component %q, doc %q, inputs %v: all are required", g.Suffix, g.Component, g.Doc, g.Inputs)
		}
		for _, in := range g.Inputs {
			if _, ok := topics.Lookup("", in.Suffix); !ok {
				t.Errorf("group %s reads %s, which is not in the catalog", g.Suffix, in.Suffix)
			}
		}
		if got, ok := topics.LookupGroup("p.", g.Name("p.")); !ok || got.Suffix != g.Suffix {
			t.Errorf("LookupGroup(%s) = %v %v", g.Name("p."), got.Suffix, ok)
		}
	}
}

// TestRebuildGroups: a rebuild group is declared for the three sinks a
// rebuild replays, found again by LookupGroup under its prefix, and refused
// for another group or a run name an operator could not type back.
func TestRebuildGroups(t *testing.T) {
	for _, sink := range []topics.GroupSpec{topics.GroupSinkOrders, topics.GroupSinkAudit, topics.GroupSinkMarkPrice} {
		g, ok := topics.RebuildGroup(sink, "run-1.a")
		if !ok || !strings.HasPrefix(g.Suffix, "rebuild-run-1.a-") || g.Component != topics.RebuildComponent || !slices.Equal(g.Inputs, sink.Inputs) {
			t.Fatalf("RebuildGroup(%s) = %+v %v", sink.Suffix, g, ok)
		}
		got, ok := topics.LookupGroup("t.", g.Name("t."))
		if !ok || got.Suffix != g.Suffix || !slices.Equal(got.Inputs, sink.Inputs) {
			t.Fatalf("LookupGroup(%s) = %+v %v", g.Name("t."), got, ok)
		}
	}
	for _, bad := range []string{"", "a b", "a,b", "a\nb", "a\x1b[2J", strings.Repeat("x", 201)} {
		if g, ok := topics.RebuildGroup(topics.GroupSinkOrders, bad); ok {
			t.Errorf("run %q accepted: %s", bad, g.Suffix)
		}
	}
	if g, ok := topics.RebuildGroup(topics.GroupDispatch, "x"); ok {
		t.Errorf("a rebuild of dispatch declared: %s", g.Suffix)
	}
	for _, name := range []string{"t.rebuild-x-positions", "t.rebuild--orders", "t.rebuild-orders", "t.rebuild-x-"} {
		if g, ok := topics.LookupGroup("t.", name); ok {
			t.Errorf("LookupGroup(%s) = %s, want unknown", name, g.Suffix)
		}
	}
}

// TestEveryGroupNameIsDeclared: the group names the processors join come
// from the declarations, and no production code outside the catalog
// builds a group (or topic) name from the prefix and a literal, or names a
// group with a literal: a group the catalog does not know is one the
// status page, replay and the ACLs do not know either.
func TestEveryGroupNameIsDeclared(t *testing.T) {
	for _, c := range []struct {
		name      string
		component string
	}{
		{string(dispatch.Group("p.")), topics.GroupDispatch.Component},
		{string(gate.Group("p.")), topics.GroupGate.Component},
		{string(regime.Group("p.")), topics.GroupRegime.Component},
	} {
		if g, ok := topics.LookupGroup("p.", c.name); !ok || g.Component != c.component {
			t.Errorf("processor group %s: declared %v as %q, want component %q", c.name, ok, g.Component, c.component)
		}
	}

	// pending lists files allowed to name groups by hand while they move
	// (none now); a file on it that no longer does must leave it.
	var pending []string
	built := regexp.MustCompile(`\b[\w.]*[Pp]refix\s*\+\s*"|ConsumerGroup\(\s*"|goka\.Group\(\s*"|\bDefaultGroup\b|\bGroup(Name)?\s*=\s*"[^"]`)
	const root = ".."
	seen := 0
	var still []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "topics" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		seen++
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "//") || !built.MatchString(line) {
				continue
			}
			if slices.Contains(pending, rel) {
				still = append(still, rel)
				continue
			}
			t.Errorf("%s:%d builds a group or topic name by hand (%s): use topics.Group*, WorkerGroup, RebuildGroup or Spec.Name",
				rel, i+1, strings.TrimSpace(line))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 100 {
		t.Fatalf("read %d production files: the walk missed the tree", seen)
	}
	for _, p := range pending {
		if !slices.Contains(still, p) {
			t.Errorf("%s no longer names groups by hand: take it off pending", p)
		}
	}
}
