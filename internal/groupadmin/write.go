package groupadmin

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// What replay and status print: tables an operator reads.

// WriteStatus writes one group as a table: a header line, its members,
// then one row per partition.
func WriteStatus(w io.Writer, g GroupStatus) error {
	fmt.Fprintf(w, "GROUP %s  state %s  protocol %s  members %d  lag %d\n", g.Group, g.State, orDash(g.Protocol), len(g.Members), g.TotalLag)
	if g.Err != "" {
		fmt.Fprintf(w, "  error: %s\n", g.Err)
	}
	if len(g.Members) > 0 {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  MEMBER\tCLIENT\tHOST\tASSIGNED")
		for _, m := range g.Members {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.MemberID, m.ClientID, m.Host, formatAssigned(m.Assigned))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("writing status: %w", err)
		}
	}
	if len(g.Partitions) == 0 {
		return nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOPIC\tPARTITION\tCOMMITTED\tEND\tLAG\tMEMBER")
	for _, p := range g.Partitions {
		owner := "-"
		if p.ClientID != "" {
			owner = p.ClientID + "@" + p.Host
		}
		lag := fmt.Sprint(p.Lag)
		if p.Err != "" {
			lag = "? (" + p.Err + ")"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\t%s\n", p.Topic, p.Partition, offsetOrDash(p.Committed), p.End, lag, owner)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// formatAssigned renders topic -> partitions as "orders[0-3,7] positions[1]".
func formatAssigned(m map[string][]int32) string {
	if len(m) == 0 {
		return "-"
	}
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, t+"["+formatRanges(m[t])+"]")
	}
	return strings.Join(parts, " ")
}

// formatRanges compresses sorted partition numbers: 0,1,2,5 -> "0-2,5".
func formatRanges(ps []int32) string {
	ps = append([]int32(nil), ps...)
	sort.Slice(ps, func(i, j int) bool { return ps[i] < ps[j] })
	var b strings.Builder
	for i := 0; i < len(ps); {
		j := i
		for j+1 < len(ps) && ps[j+1] == ps[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&b, "%d-%d", ps[i], ps[j])
		} else {
			fmt.Fprintf(&b, "%d", ps[i])
		}
		i = j + 1
	}
	return b.String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteLiveMembers writes the members a reset refused to run under, for an
// operator to stop.
func WriteLiveMembers(w io.Writer, live *LiveMembersError) {
	fmt.Fprintf(w, "group %s has %d live member(s) (state %s); stop these processes first:\n", live.Group, len(live.Members), live.State)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  CLIENT\tHOST\tMEMBER")
	for _, m := range live.Members {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", m.ClientID, m.Host, m.MemberID)
	}
	tw.Flush()
}

// WritePlan writes the plan as a table (or JSON) with its notes.
func WritePlan(w io.Writer, plan ReplayPlan, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(plan)
	}
	until := "the end"
	if plan.To != nil {
		until = plan.To.String()
	}
	fmt.Fprintf(w, "replay plan: group %s, topic %s, from %s to %s", plan.Group, plan.Topic, plan.From, until)
	if plan.Account != "" {
		fmt.Fprintf(w, ", account %s (partition %d)", plan.Account, plan.AccountPartition)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PARTITION\tCOMMITTED\tSTART\tEND\tTARGET\tUNTIL\tREPLAY\tSKIP\t")
	for _, p := range plan.Partitions {
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t\n", p.Partition, offsetOrDash(p.Committed), p.Start, p.End, p.Target, p.Until, p.Replay(), p.Skipped())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing plan: %w", err)
	}
	fmt.Fprintf(w, "total: %d records to replay in %d partition(s)\n", plan.Total(), len(plan.Partitions))
	for _, n := range plan.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}

func offsetOrDash(o int64) string {
	if o < 0 {
		return "-"
	}
	return fmt.Sprint(o)
}
