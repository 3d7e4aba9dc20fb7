package kclient_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root, two directories up from this package.
const repoRoot = "../.."

// productionSources calls fn with the slash path (from the module root)
// and text of every non-test Go file outside internal/kclient.
func productionSources(t *testing.T, fn func(path, src string)) {
	t.Helper()
	err := filepath.WalkDir(repoRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(repoRoot, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || rel == "internal/kclient" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(rel, string(b))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNoClientOutsideTheFactory: production code and the test kits create
// their franz-go clients through kclient.Factory (security, metrics and
// library logs in one place), never with kgo.NewClient.
func TestNoClientOutsideTheFactory(t *testing.T) {
	seen := 0
	productionSources(t, func(path, src string) {
		seen++
		if !strings.Contains(src, "kgo.NewClient(") {
			return
		}
		t.Errorf("%s calls kgo.NewClient: build the client with a kclient.Factory (Client, Producer, Checked, Admin)", path)
	})
	if seen < 100 {
		t.Fatalf("read %d production files: the walk missed the tree", seen)
	}
}
