// Package proc is what the harness reads of a process and how it starts its
// children: the one memory reader (RSS from /proc, the Go heap, goroutines)
// of the chaos run, the soaks and the benches, the machine's load average
// that every figure is quoted with, and the attributes of a re-executed
// child process (the kraite binary started again as a worker, a peer or a
// producer) so that it dies with its parent.
package proc

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Memory is one process's memory at one moment.
type Memory struct {
	RSSMiB     float64 `json:"rss_mib"`
	HeapMiB    float64 `json:"heap_mib,omitempty"` // Go heap in use (this process only)
	Goroutines int     `json:"goroutines,omitempty"`
}

// Self collects garbage, then reads this process's RSS, Go heap in use and
// goroutine count.
func Self() Memory {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m := Memory{HeapMiB: float64(ms.HeapInuse) / (1 << 20), Goroutines: runtime.NumGoroutine()}
	m.RSSMiB, _ = RSS(os.Getpid())
	return m
}

// RSS reads the resident set size of a process, in MiB, from /proc (Linux).
func RSS(pid int) (float64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return 0, fmt.Errorf("parsing VmRSS of process %d: %w", pid, err)
			}
			return kb / 1024, nil
		}
	}
	return 0, fmt.Errorf("no VmRSS for process %d", pid)
}

// LoadAvg is the machine's 1, 5 and 15 minute load averages from
// /proc/loadavg ("?" where unreadable).
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
