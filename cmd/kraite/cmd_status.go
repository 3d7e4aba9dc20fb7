package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/groupadmin"
)

const statusSynopsis = `status [--group G[,G2]] [--json] [--watch 5s]

Shows every consumer group on KRAITE_BROKERS (or the named ones): its state,
protocol and members (client id, host, assigned partitions), then per topic
and partition the committed offset, the end offset, the lag and the member
that owns it. Scaling a consumer = starting another process with the same
group; this is where you see the partitions move to it.

Flags:`

func cmdStatus(ctx context.Context, a *kraite, args []string) error {
	var (
		groups string
		asJSON bool
		watch  time.Duration
	)
	fs := a.newFlags("status", statusSynopsis)
	fs.StringVar(&groups, "group", "", "only these groups, comma separated (default: every group)")
	fs.BoolVar(&asJSON, "json", false, "print JSON for machines")
	fs.DurationVar(&watch, "watch", 0, "redraw every interval until interrupted (0: print once)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
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
		if err := groupadmin.WriteStatus(w, g); err != nil {
			return err
		}
	}
	return nil
}

// opsAdmin builds the admin client of replay and status; call the returned
// func to close it.
func opsAdmin(c app.Common) (*kadm.Client, func(), error) {
	cl, err := app.KafkaClient(context.Background(), c.Brokers, kgo.RequestTimeoutOverhead(5*time.Second), kgo.ClientID("kraite-ops-"+app.Hostname()))
	if err != nil {
		return nil, nil, fmt.Errorf("creating admin client: %w", err)
	}
	return kadm.NewClient(cl), cl.Close, nil
}
