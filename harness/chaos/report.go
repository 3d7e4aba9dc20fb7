package chaos

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/kraite/stream/harness/proc"
)

// Seconds is a duration that marshals to JSON as seconds (a number).
type Seconds time.Duration

// MarshalJSON writes the seconds with millisecond precision.
func (s Seconds) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(time.Duration(s).Seconds(), 'f', 3, 64)), nil
}

// UnmarshalJSON reads seconds.
func (s *Seconds) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return fmt.Errorf("seconds: %w", err)
	}
	*s = Seconds(time.Duration(f * float64(time.Second)))
	return nil
}

func (s Seconds) String() string { return fmtDur(time.Duration(s)) }

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

// Report is the result of a chaos run.
type Report struct {
	Started  time.Time `json:"started"`
	For      Seconds   `json:"for_s"`
	Accounts int       `json:"accounts"`
	Seed     int64     `json:"seed"`
	Database string    `json:"database"` // masked
	// Converged says the database reached the ground truth after trading
	// paused, within ConvergedAfter of the pause.
	Converged      bool        `json:"converged"`
	ConvergedAfter Seconds     `json:"converged_after_s"`
	Result         Result      `json:"result"`
	Faults         []Outcome   `json:"faults"`
	MemoryStart    proc.Memory `json:"memory_start"`
	MemoryEnd      proc.Memory `json:"memory_end"`
	// ChildMemory is the worker child process's RSS, first and last start.
	ChildStart proc.Memory `json:"child_memory_start"`
	ChildEnd   proc.Memory `json:"child_memory_end"`
	Notes      []string    `json:"notes,omitempty"`
}

// Failures lists why the run did not pass (none: it passed).
func (r Report) Failures() []string {
	var out []string
	if n := r.Result.LostTotal(); n > 0 {
		out = append(out, fmt.Sprintf("%d events lost", n))
	}
	if n := r.Result.DuplicateTotal(); n > 0 {
		out = append(out, fmt.Sprintf("%d duplicates applied", n))
	}
	if r.Result.Phantom > 0 {
		out = append(out, fmt.Sprintf("%d rows unknown to the exchange", r.Result.Phantom))
	}
	if r.Result.Regressions > 0 {
		out = append(out, fmt.Sprintf("%d transitions out of a final status", r.Result.Regressions))
	}
	if !r.Converged {
		out = append(out, "the database did not converge to the ground truth")
	}
	for _, f := range r.Faults {
		switch {
		case !f.Injected:
			out = append(out, fmt.Sprintf("fault %s not injected: %s", f.Fault, f.Error))
		case !f.Recovered:
			msg := fmt.Sprintf("fault %s did not recover (%s)", f.Fault, f.Measure)
			if f.Error != "" {
				msg += ": " + f.Error
			}
			out = append(out, msg)
		}
	}
	return out
}

// Pass is true when nothing was lost or doubled and every fault was injected
// and recovered.
func (r Report) Pass() bool { return len(r.Failures()) == 0 }

// WriteJSON writes the report as indented JSON.
func (r Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText prints the report for a person.
func (r Report) WriteText(w io.Writer) {
	res := r.Result
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	p("kraite chaos: %s with faults, %d accounts, seed %d, database %s\n", r.For, r.Accounts, r.Seed, r.Database)
	unread := ""
	if res.FramesUnread > 0 {
		unread = fmt.Sprintf("  (+%d written just before a socket drop and never read; their events came back from REST)", res.FramesUnread)
	}
	p("  frames pushed       %d\n", res.FramesPushed)
	p("  frames stored       %d%s\n", res.FramesStored, unread)
	p("  events lost         %d  (orders %d, algo orders %d, fills %d, frames %d%s)\n", res.LostTotal(),
		res.Lost.Orders, res.Lost.AlgoOrders, res.Lost.Fills, res.Lost.Frames, findings(res.Findings, true))
	p("  duplicates applied  %d  (fills %d, audit rows %d, transitions %d%s)\n", res.DuplicateTotal(),
		res.Duplicates.Fills, res.Duplicates.AuditRows, res.Duplicates.Transitions, findings(res.Findings, false))
	if res.Phantom > 0 {
		p("  unknown rows        %d  (orders the exchange never reported)\n", res.Phantom)
	}
	if res.Regressions > 0 {
		p("  status regressions  %d  (transitions out of a final status)\n", res.Regressions)
	}
	p("  compared            %d orders, %d algo orders, %d fills, %d transitions\n", res.Orders, res.AlgoOrders, res.Fills, res.Transitions)
	for _, f := range res.Findings {
		p("  checked %-11s %d compared, %d lost, %d duplicates\n", f.Name, f.Checked, f.Lost, f.Duplicates)
	}
	if r.Converged {
		p("  converged           %s after trading paused\n", r.ConvergedAfter)
	} else {
		p("  converged           NO (waited %s after trading paused)\n", r.ConvergedAfter)
	}
	p("  memory (this proc)  rss %.1f -> %.1f MiB, go heap %.1f -> %.1f MiB, goroutines %d -> %d\n",
		r.MemoryStart.RSSMiB, r.MemoryEnd.RSSMiB, r.MemoryStart.HeapMiB, r.MemoryEnd.HeapMiB, r.MemoryStart.Goroutines, r.MemoryEnd.Goroutines)
	if r.ChildStart.RSSMiB > 0 || r.ChildEnd.RSSMiB > 0 {
		p("  memory (worker)     rss %.1f MiB at its first start, %.1f MiB at the end\n", r.ChildStart.RSSMiB, r.ChildEnd.RSSMiB)
	}
	p("\n  %-7s %-17s %-10s %-8s %-10s %s\n", "at", "fault", "target", "lasted", "recovered", "measured as")
	for _, f := range r.Faults {
		rec := "NO"
		if f.Recovered {
			rec = f.RecoveredAfter.String()
		}
		if !f.Injected {
			rec = "not injected"
		}
		lasted := "-"
		if time.Duration(f.Lasted) >= 100*time.Millisecond {
			lasted = f.Lasted.String()
		}
		p("  %-7s %-17s %-10s %-8s %-10s %s\n", fmtDur(f.At), f.Kind, clipTo(f.Target, 10), lasted, rec, f.Measure)
	}
	for _, n := range r.Notes {
		p("  note: %s\n", n)
	}
	details := res.Details
	for _, f := range res.Findings {
		details = append(details, f.Details...)
	}
	if len(details) > 0 {
		p("\n  differences:\n")
		for _, d := range details {
			p("    %s\n", d)
		}
	}
	if fs := r.Failures(); len(fs) > 0 {
		p("\nFAIL: %s\n", strings.Join(fs, "; "))
		return
	}
	injected := 0
	for _, f := range r.Faults {
		if f.Injected {
			injected++
		}
	}
	p("\nPASS: 0 lost, 0 duplicates, %d/%d faults injected and recovered\n", injected, len(r.Faults))
}

func findings(fs []Finding, lost bool) string {
	var b strings.Builder
	for _, f := range fs {
		n := f.Duplicates
		if lost {
			n = f.Lost
		}
		fmt.Fprintf(&b, ", %s %d", f.Name, n)
	}
	return b.String()
}

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
