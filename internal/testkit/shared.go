package testkit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
)

// The fixtures in ../shared (beside the repository: binance-frames,
// market-data) are read through SharedFiles and SharedFile. A fixture that
// is missing fails the test when CI is set (CI=true, as .ci/run sets it), so
// a moved package or a broken path cannot pass by finding nothing; outside
// CI the test is skipped, saying what is missing.

var sharedDir = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
})

// SharedDir is the absolute path of ../shared, the fixtures beside the
// repository (found from the module root, whatever the package's depth).
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := sharedDir()
	if err != nil {
		t.Fatalf("locating ../shared: %v", err)
	}
	return dir
}

// InCI reports whether CI is set: any value but empty, "0" or "false"
// counts (an unexpected value means CI, the stricter reading).
func InCI() bool {
	v := os.Getenv("CI")
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b
}

// MissingFixture fails the test when CI is set and skips it otherwise.
func MissingFixture(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("fixture missing (CI is set): "+format, args...)
	}
	t.Skipf("fixture missing: "+format, args...)
}

// SharedFiles returns the paths of the fixtures matching pattern under
// ../shared (for example "binance-frames/*markPriceUpdate*.json"), sorted.
// None matching is a missing fixture (MissingFixture), as is a malformed
// pattern.
func SharedFiles(t testing.TB, pattern string) []string {
	t.Helper()
	dir := SharedDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil || len(paths) == 0 {
		MissingFixture(t, "nothing matches %s in %s (err %v)", pattern, dir, err)
		return nil
	}
	slices.Sort(paths)
	return paths
}

// SharedFile reads the fixture name under ../shared (for example
// "market-data/crash-2022-05-09.csv"); a file that cannot be read is a
// missing fixture (MissingFixture).
func SharedFile(t testing.TB, name string) []byte {
	t.Helper()
	p := filepath.Join(SharedDir(t), name)
	b, err := os.ReadFile(p)
	if err != nil {
		MissingFixture(t, "%v", err)
		return nil
	}
	return b
}

// ReadSharedFiles reads every fixture matching pattern under ../shared, by
// file name (SharedFiles: none matching is a missing fixture).
func ReadSharedFiles(t testing.TB, pattern string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, p := range SharedFiles(t, pattern) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("reading fixture: %v", err)
		}
		out[filepath.Base(p)] = b
	}
	return out
}
