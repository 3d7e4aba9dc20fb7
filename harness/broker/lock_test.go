package broker_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/kraite/stream/harness/broker"
)

// A second broker on a live broker's data directory fails before it
// touches a file (issue 11 point 6), and the directory is free again once
// the first one closed.
func TestADataDirectoryBelongsToOneBroker(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	before := listing(t, dir)
	_, err = broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if !errors.Is(err, broker.ErrLocked) {
		t.Fatalf("second broker on the same data dir: %v", err)
	}
	if after := listing(t, dir); after != before {
		t.Fatalf("the refused broker changed the directory:\n%s\n---\n%s", before, after)
	}
	b.Close()
	b.Close() // twice is fine
	again, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatalf("after close: %v", err)
	}
	again.Close()
}

func listing(t *testing.T, dir string) string {
	t.Helper()
	var s string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if filepath.Base(p) != ".lock" {
			s += p + " " + fi.ModTime().String() + "\n"
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}
