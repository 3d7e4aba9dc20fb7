package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/acls"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	rolereg "github.com/kraite/stream/internal/roles"
)

// principalFlags collects --principal role=TYPE:NAME.
type principalFlags map[string]string

func (p principalFlags) String() string { return "" }

func (p principalFlags) Set(v string) error {
	role, pr, ok := strings.Cut(v, "=")
	if !ok || role == "" || pr == "" {
		return fmt.Errorf("%q is not role=TYPE:NAME (e.g. athena=User:ingest)", v)
	}
	if _, dup := p[role]; dup {
		return fmt.Errorf("the principal of %s is given twice", role)
	}
	p[role] = pr
	return nil
}

func cmdACLs(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("acls", "acls plan|apply [--prune] [--json] [--principal-prefix User:kraite-] [--principal role=User:name ...]\n\n"+
		"  plan   print the Kafka ACLs of least privilege derived from the topic catalog and the roles\n"+
		"         (one principal per role: "+strings.Join(rolereg.Names(), ", ")+", and one operator)\n"+
		"  apply  create the missing ACLs on KRAITE_BROKERS and report extra ones of the same principals\n"+
		"         (--prune deletes them); run it as the cluster's admin (it needs ALTER on the cluster)")
	prefix := fs.String("principal-prefix", acls.DefaultPrincipalPrefix, "principal of a role not given by --principal: this prefix + the role name (operator: prefix + \"operator\")")
	named := principalFlags{}
	fs.Var(named, "principal", "role=TYPE:NAME: the principal of one role or of the operator (repeatable), e.g. athena=User:ingest")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	prune := fs.Bool("prune", false, "apply: delete ACLs of the plan's principals that the plan does not hold")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch fs.Arg(0) {
	case "plan", "apply":
	case "":
		return cli.Usagef(fs, "acls needs a subcommand: plan or apply")
	default:
		return cli.Usagef(fs, "unknown acls subcommand %q: plan or apply", fs.Arg(0))
	}
	if err := cli.NoArgs(fs, 1); err != nil {
		return err
	}
	if *prune && fs.Arg(0) != "apply" {
		return cli.Usagef(fs, "--prune is an option of apply")
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	plan, err := acls.Plan(acls.Config{Prefix: c.TopicPrefix, PrincipalPrefix: *prefix, Principals: named})
	if err != nil {
		return err
	}
	if fs.Arg(0) == "plan" {
		if *asJSON {
			return writeIndentedJSON(a, plan)
		}
		return acls.WriteTable(a.stdout, plan)
	}
	cl, err := app.KafkaClient(ctx, c.Brokers, kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rep, err := acls.Apply(ctx, cl, plan, *prune)
	if *asJSON {
		if jerr := writeIndentedJSON(a, rep); jerr != nil {
			return jerr
		}
		return err
	}
	if werr := acls.WriteReport(a.stdout, len(plan), rep, *prune); werr != nil {
		return werr
	}
	return err
}

func writeIndentedJSON(a *kraite, v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
