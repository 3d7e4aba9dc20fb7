package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/groupadmin"
)

const statusSynopsis = `status [--group G[,G2]] [--json] [--watch 5s]

Shows every consumer group on KRAITE_BROKERS (or the named ones): its state,
protocol and members (client id, host, assigned partitions), then per topic
and partition the committed offset, the end offset, the lag and the member
that owns it. Scaling a consumer = starting another process with the same
group; this is where you see the partitions move to it.

Flags:`

func cmdStatus(ctx context.Context, a *cli, args []string) error {
	var (
		groups string
		asJSON bool
		watch  time.Duration
	)
	fs := a.newFlags("status", statusSynopsis)
	fs.StringVar(&groups, "group", "", "only these groups, comma separated (default: every group)")
	fs.BoolVar(&asJSON, "json", false, "print JSON for machines")
	fs.DurationVar(&watch, "watch", 0, "redraw every interval until interrupted (0: print once)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	if err := noArgs(fs, 0); err != nil {
		return err
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	if watch < 0 {
		return fmt.Errorf("--watch %s must not be negative", watch)
	}
	adm, closeAdm, err := opsAdmin(c)
	if err != nil {
		return err
	}
	defer closeAdm()
	names := app.SplitList(groups)
	for {
		if err := printStatusOnce(ctx, a.stdout, adm, names, asJSON); err != nil {
			return err
		}
		if watch == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(watch):
			fmt.Fprintf(a.stdout, "\n--- %s\n", time.Now().UTC().Format(time.RFC3339))
		}
	}
}

func printStatusOnce(ctx context.Context, w io.Writer, adm *kadm.Client, groups []string, asJSON bool) error {
	qctx, cancel := context.WithTimeout(ctx, opsRequestTimeout)
	defer cancel()
	sts, err := groupadmin.Status(qctx, adm, groups...)
	if err != nil {
		return err
	}
	var unknown []string
	for _, g := range sts {
		if len(groups) > 0 && g.State == "Dead" && len(g.Partitions) == 0 {
			unknown = append(unknown, g.Group)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("no such consumer group: %s (kraite status without --group lists them)", strings.Join(unknown, ", "))
	}
	if asJSON {
		if sts == nil {
			sts = []groupadmin.GroupStatus{}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(sts)
	}
	if len(sts) == 0 {
		fmt.Fprintln(w, "no consumer groups")
		return nil
	}
	for i, g := range sts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if err := printGroupStatus(w, g); err != nil {
			return err
		}
	}
	return nil
}

// printGroupStatus writes one group: a header line, its members, then one
// row per partition.
func printGroupStatus(w io.Writer, g groupadmin.GroupStatus) error {
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
	for _, t := range sortedKeys(m) {
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

// opsAdmin builds the admin client of replay and status; call the returned
// func to close it.
func opsAdmin(c app.Common) (*kadm.Client, func(), error) {
	cl, err := app.KafkaClient(context.Background(), c.Brokers, kgo.RequestTimeoutOverhead(5*time.Second), kgo.ClientID("kraite-ops-"+hostname()))
	if err != nil {
		return nil, nil, fmt.Errorf("creating admin client: %w", err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}
