package sinktest

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Pace produces recs at about perSecond records a second (a tick every 5
// ms) and waits for every ack. Each record's timestamp is the time it was
// produced, which Latencies measures from.
func (e *Env) Pace(t testing.TB, recs []*kgo.Record, perSecond int) {
	t.Helper()
	const tick = 5 * time.Millisecond
	per := max(1, perSecond*int(tick)/int(time.Second))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var errOnce sync.Once
	var perr error
	tk := time.NewTicker(tick)
	defer tk.Stop()
	for i := 0; i < len(recs); i += per {
		for _, r := range recs[i:min(i+per, len(recs))] {
			r.Timestamp = time.Now()
			wg.Add(1)
			e.Client.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					errOnce.Do(func() { perr = err })
				}
				wg.Done()
			})
		}
		<-tk.C
	}
	wg.Wait()
	if perr != nil {
		t.Fatalf("producing: %v", perr)
	}
}

// Latencies collects, per record, the time from its timestamp to when a
// sink reported it written (Written).
type Latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

// Written records recs as written now.
func (l *Latencies) Written(recs []*kgo.Record) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.d = append(l.d, now.Sub(r.Timestamp))
	}
}

// Add records one latency.
func (l *Latencies) Add(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.d = append(l.d, d)
}

// N is the number of latencies recorded.
func (l *Latencies) N() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

// Quantile is the q-quantile (0..1) of the latencies, 0 when there are none.
func (l *Latencies) Quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// BenchRate is the records per second of the sink cycle benchmarks:
// KRAITE_BENCH_RATE, default 1,000 (the user-data rate of 1,000 accounts).
func BenchRate(t testing.TB) int {
	if v := os.Getenv("KRAITE_BENCH_RATE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 10 || n > 100_000 {
			t.Fatalf("KRAITE_BENCH_RATE=%q: want records per second in [10, 100000]", v)
		}
		return n
	}
	return 1000
}

// LoadAvg is /proc/loadavg's first three fields ("" where there is none),
// to print next to a timing figure.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}

// scoped is a testing.TB whose cleanups run when its scope ends, not when
// the test does.
type scoped struct {
	testing.TB
	mu  sync.Mutex
	fns []func()
}

func (s *scoped) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fns = append(s.fns, f)
}

// Scope returns t with its own cleanups and the function that runs them
// (last registered first): a benchmark that starts a broker and a database
// per run ends each run's before the next starts.
func Scope(t testing.TB) (testing.TB, func()) {
	s := &scoped{TB: t}
	return s, func() {
		s.mu.Lock()
		fns := s.fns
		s.fns = nil
		s.mu.Unlock()
		for i := len(fns) - 1; i >= 0; i-- {
			fns[i]()
		}
	}
}

// ABBA runs the baseline and the candidate twice each in the order
// baseline, candidate, candidate, baseline, so that a machine that gets
// busier or quieter during the benchmark favours neither.
func ABBA(baseline, candidate func()) {
	baseline()
	candidate()
	candidate()
	baseline()
}
