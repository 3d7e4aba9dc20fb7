package main

import (
	"context"
	"strings"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

func cmdACLs(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("acls", "acls plan|apply [--prune] [--json] [--principal-prefix User:kraite-] [--principal role=User:name ...]\n\n"+
		"  plan   print the Kafka ACLs of least privilege derived from the topic catalog and the roles\n"+
		"         (one principal per role: "+strings.Join(app.RoleNames(), ", ")+", and one operator)\n"+
		"  apply  create the missing ACLs on KRAITE_BROKERS and report extra ones of the same principals\n"+
		"         (--prune deletes them); run it as the cluster's admin (it needs ALTER on the cluster)")
	r := app.ACLsRequest{Principals: app.Principals{}}
	fs.StringVar(&r.PrincipalPrefix, "principal-prefix", app.DefaultPrincipalPrefix, "principal of a role not given by --principal: this prefix + the role name (operator: prefix + \"operator\")")
	fs.Var(r.Principals, "principal", "role=TYPE:NAME: the principal of one role or of the operator (repeatable), e.g. athena=User:ingest")
	fs.BoolVar(&r.JSON, "json", false, "print JSON instead of a table")
	fs.BoolVar(&r.Prune, "prune", false, "apply: delete ACLs of the plan's principals that the plan does not hold")
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
	r.Apply = fs.Arg(0) == "apply"
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	return app.ACLs(ctx, c, r, a.stdout)
}
