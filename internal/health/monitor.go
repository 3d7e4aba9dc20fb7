package health

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/kraite/stream/internal/groupadmin"
)

// Monitor samples a process's streams and consumer groups every Interval
// and keeps one verdict per name, which ops checks read without doing I/O.
// A verdict is nil (ready) until the first sample says otherwise.
type Monitor struct {
	Interval time.Duration
	// Admin reads the groups' committed and end offsets (nil: no groups).
	Admin *kadm.Client
	Log   *slog.Logger

	mu       sync.Mutex
	streams  map[string]streamSource
	groups   map[string]*StallWatch
	verdicts map[string]error
}

type streamSource struct {
	watch  *StreamWatch
	sample func() []Stream
}

// NewMonitor returns a monitor sampling every interval (default 5 s).
func NewMonitor(interval time.Duration, adm *kadm.Client, log *slog.Logger) *Monitor {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Monitor{Interval: interval, Admin: adm, Log: log, streams: map[string]streamSource{},
		groups: map[string]*StallWatch{}, verdicts: map[string]error{}}
}

// Streams watches the streams sample returns under name.
func (m *Monitor) Streams(name string, w *StreamWatch, sample func() []Stream) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.streams[name] = streamSource{watch: w, sample: sample}
}

// Group watches a consumer group for stalls under name.
func (m *Monitor) Group(name string, w *StallWatch) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.groups[name] = w
}

// Check is the ops check of name: the latest verdict.
func (m *Monitor) Check(name string) func() error {
	return func() error {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.verdicts[name]
	}
}

// Run samples until ctx ends.
func (m *Monitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.Interval)
	defer t.Stop()
	for {
		m.Sample(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample takes one sample of everything watched.
func (m *Monitor) Sample(ctx context.Context) {
	m.mu.Lock()
	streams := make(map[string]streamSource, len(m.streams))
	for k, v := range m.streams {
		streams[k] = v
	}
	groups := make(map[string]*StallWatch, len(m.groups))
	for k, v := range m.groups {
		groups[k] = v
	}
	m.mu.Unlock()

	verdicts := map[string]error{}
	for name, s := range streams {
		verdicts[name] = s.watch.Observe(s.sample())
	}
	if len(groups) > 0 && m.Admin != nil {
		names := make([]string, 0, len(groups))
		for _, w := range groups {
			names = append(names, w.Group)
		}
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		sts, err := groupadmin.Status(qctx, m.Admin, names...)
		cancel()
		if err != nil {
			// Not knowing is not a stall; the broker's own checks report it.
			m.Log.Debug("health: reading group offsets", "err", err)
		} else {
			byGroup := make(map[string]groupadmin.GroupStatus, len(sts))
			for _, s := range sts {
				byGroup[s.Group] = s
			}
			for name, w := range groups {
				s := byGroup[w.Group]
				parts := make([]Partition, 0, len(s.Partitions))
				for _, p := range s.Partitions {
					if p.Err != "" {
						continue
					}
					parts = append(parts, Partition{Topic: p.Topic, Partition: p.Partition, Committed: p.Committed, End: p.End})
				}
				verdicts[name] = w.Observe(parts)
			}
		}
	}
	m.mu.Lock()
	for name, v := range verdicts {
		prev := m.verdicts[name]
		if (prev == nil) != (v == nil) {
			if v != nil {
				m.Log.Warn("not ready", "check", name, "reason", v)
			} else {
				m.Log.Info("ready again", "check", name)
			}
		}
		m.verdicts[name] = v
	}
	m.mu.Unlock()
}

// String is for logs.
func (m *Monitor) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return fmt.Sprintf("health monitor: %d stream sets, %d groups", len(m.streams), len(m.groups))
}
