package app

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// directImports lists the module packages the non-test files of dir (a
// path from the module root) import, without the module prefix.
func directImports(t *testing.T, dir string) []string {
	t.Helper()
	const module = "github.com/kraite/stream/"
	root := filepath.Join("..", "..")
	entries, err := os.ReadDir(filepath.Join(root, dir))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, dir, e.Name()), nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok && !slices.Contains(out, rest) {
				out = append(out, rest)
			}
		}
	}
	slices.Sort(out)
	return out
}

// TestTheLayersImportOnlyDownwards keeps the layering of the README's
// layout: cmd/kraite is flags and help over internal/app, internal/cli and
// harness/runs (plus the harness's config types and topics); internal/app
// embeds only the dev broker and the simulator of the harness (kraite dev,
// broker, simulator), never the rigs that import it (chaos, soak, e2e,
// streambench, runs), and those two never import app (a cycle).
func TestTheLayersImportOnlyDownwards(t *testing.T) {
	allowed := map[string][]string{
		"cmd/kraite": {"internal/app", "internal/cli", "harness/runs", "harness/chaos", "harness/e2e", "harness/soak", "topics"},
	}
	if got := directImports(t, "cmd/kraite"); !slices.Contains(got, "internal/app") {
		t.Fatalf("cmd/kraite's imports read as %v", got)
	}
	for dir, ok := range allowed {
		for _, p := range directImports(t, dir) {
			if !slices.Contains(ok, p) {
				t.Errorf("%s imports %s; it may import only %v", dir, p, ok)
			}
		}
	}
	for _, p := range directImports(t, "internal/app") {
		if strings.HasPrefix(p, "harness/") && p != "harness/broker" && p != "harness/simulator" {
			t.Errorf("internal/app imports %s: only the embedded broker and simulator of the harness", p)
		}
		if strings.HasPrefix(p, "cmd/") || p == "internal/cli" {
			t.Errorf("internal/app imports %s", p)
		}
	}
	for _, dir := range []string{"harness/broker", "harness/simulator", "internal/cli"} {
		for _, p := range directImports(t, dir) {
			if p == "internal/app" || strings.HasPrefix(p, "harness/runs") {
				t.Errorf("%s imports %s: a cycle through internal/app", dir, p)
			}
		}
	}
}
