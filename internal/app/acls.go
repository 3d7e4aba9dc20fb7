package app

// kraite acls: the Kafka ACLs of least privilege of the roles.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/acls"
	"github.com/kraite/stream/internal/roles"
)

// DefaultPrincipalPrefix names the principal of a role no --principal
// names: this prefix and the role's name.
const DefaultPrincipalPrefix = acls.DefaultPrincipalPrefix

// RoleNames are the roles (boxes), in order.
func RoleNames() []string { return roles.Names() }

// RoleComponents are the components of role (ok false: no such role).
func RoleComponents(role string) (names []string, ok bool) {
	names, ok = roles.Components[role]
	return names, ok
}

// Principals collects --principal role=TYPE:NAME (a flag.Value).
type Principals map[string]string

func (p Principals) String() string { return "" }

// Set adds one role=TYPE:NAME; a role given twice is refused.
func (p Principals) Set(v string) error {
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

// ACLsRequest is a `kraite acls plan|apply` call.
type ACLsRequest struct {
	Apply           bool // create the missing ACLs on the brokers (else: print the plan)
	Prune           bool // apply: also delete the plan's principals' ACLs the plan does not hold
	JSON            bool
	PrincipalPrefix string
	Principals      Principals
}

// Validate refuses an option of apply without it.
func (r ACLsRequest) Validate() error {
	if r.Prune && !r.Apply {
		return errors.New("--prune is an option of apply")
	}
	return nil
}

// ACLs derives the plan of ACLs from the topic catalog and the roles and
// writes it to w, or applies it to c's brokers and writes the report.
func ACLs(ctx context.Context, c Common, r ACLsRequest, w io.Writer) error {
	plan, err := acls.Plan(acls.Config{Prefix: c.TopicPrefix, PrincipalPrefix: r.PrincipalPrefix, Principals: r.Principals})
	if err != nil {
		return err
	}
	if !r.Apply {
		if r.JSON {
			return writeIndentedJSON(w, plan)
		}
		return acls.WriteTable(w, plan)
	}
	cl, err := KafkaClient(ctx, c.Brokers, kgo.RequestTimeoutOverhead(5*time.Second))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	rep, err := acls.Apply(ctx, cl, plan, r.Prune)
	if r.JSON {
		if jerr := writeIndentedJSON(w, rep); jerr != nil {
			return jerr
		}
		return err
	}
	if werr := acls.WriteReport(w, len(plan), rep, r.Prune); werr != nil {
		return werr
	}
	return err
}
