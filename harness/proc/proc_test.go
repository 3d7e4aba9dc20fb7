package proc

import (
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestSelfReadsRSSHeapAndGoroutines(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("RSS comes from /proc")
	}
	m := Self()
	if m.RSSMiB <= 0 || m.HeapMiB <= 0 || m.Goroutines < 1 {
		t.Fatalf("%+v", m)
	}
	if _, err := RSS(-1); err == nil {
		t.Fatal("the RSS of no process read without an error")
	}
	if rss, err := RSS(os.Getpid()); err != nil || rss <= 0 {
		t.Fatalf("RSS of this process: %v %v", rss, err)
	}
}

func TestLoadAvgIsThreeFields(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/loadavg")
	}
	if f := strings.Fields(LoadAvg()); len(f) != 3 {
		t.Fatalf("%q", LoadAvg())
	}
}
