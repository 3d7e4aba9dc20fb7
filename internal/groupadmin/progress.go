package groupadmin

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// ProgressOptions configures Progress. The zero value polls every 500 ms and
// prints nothing.
type ProgressOptions struct {
	// Out receives the bar; nil discards it.
	Out io.Writer
	// TTY redraws one line with \r; otherwise a full line is printed every
	// LineEvery (and at the start and the end), which suits logs.
	TTY bool
	// Interval is how often committed offsets are fetched (default 500ms).
	Interval time.Duration
	// LineEvery is the non-TTY line period (default 5s).
	LineEvery time.Duration
	// Width is the bar width in characters (default 30).
	Width int
}

// ProgressState is how far a group has come through a plan.
type ProgressState struct {
	// Done counts replayed records: per partition, committed minus target,
	// clamped to [0, Replay].
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
	// Behind is the number of planned partitions not yet at their end.
	Behind int `json:"behind"`
}

// CaughtUp reports whether every planned record has been committed past.
func (s ProgressState) CaughtUp() bool { return s.Done >= s.Total }

// Measure computes a plan's progress from the group's committed offsets.
func Measure(plan ReplayPlan, committed kadm.OffsetResponses) ProgressState {
	var s ProgressState
	for _, pp := range plan.Partitions {
		n := pp.Replay()
		s.Total += n
		done := int64(0)
		if c, ok := committed.Lookup(plan.Topic, pp.Partition); ok && c.Err == nil {
			done = min(max(c.At-pp.Target, 0), n)
		}
		s.Done += done
		if done < n {
			s.Behind++
		}
	}
	return s
}

// Progress follows plan's group until it has committed past every planned
// record, drawing a bar on opts.Out. It blocks; it returns the last state
// and nil when caught up, or ctx's error when ctx ends first (the reset
// stands either way: Progress only watches).
func Progress(ctx context.Context, adm *kadm.Client, plan ReplayPlan, opts ProgressOptions) (ProgressState, error) {
	opts = opts.withDefaults()
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	var (
		state    ProgressState
		lastLine time.Time
	)
	for {
		committed, err := fetchCommitted(ctx, adm, plan.Group, plan.Topic)
		if err != nil && ctx.Err() == nil {
			return state, err
		}
		if err == nil {
			state = Measure(plan, committed)
		}
		final := state.CaughtUp() || ctx.Err() != nil
		if opts.TTY {
			fmt.Fprintf(opts.Out, "\r%s\x1b[K", RenderProgress(plan.Group, state, opts.Width))
			if final {
				fmt.Fprintln(opts.Out)
			}
		} else if final || time.Since(lastLine) >= opts.LineEvery {
			fmt.Fprintln(opts.Out, RenderProgress(plan.Group, state, opts.Width))
			lastLine = time.Now()
		}
		switch {
		case state.CaughtUp():
			return state, nil
		case ctx.Err() != nil:
			return state, ctx.Err()
		}
		select {
		case <-ctx.Done():
		case <-t.C:
		}
	}
}

func (o ProgressOptions) withDefaults() ProgressOptions {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Interval <= 0 {
		o.Interval = 500 * time.Millisecond
	}
	if o.LineEvery <= 0 {
		o.LineEvery = 5 * time.Second
	}
	if o.Width <= 0 {
		o.Width = 30
	}
	return o
}

// RenderProgress draws one progress line, e.g.
//
//	[###############---------------]  50.0%  500/1000 records  2 partitions behind  group kraite.sink.orders
func RenderProgress(group string, s ProgressState, width int) string {
	frac := 1.0
	if s.Total > 0 {
		frac = float64(s.Done) / float64(s.Total)
	}
	filled := min(int(frac*float64(width)), width)
	bar := strings.Repeat("#", filled) + strings.Repeat("-", width-filled)
	return fmt.Sprintf("[%s] %5.1f%%  %d/%d records  %d partitions behind  group %s", bar, frac*100, s.Done, s.Total, s.Behind, group)
}
