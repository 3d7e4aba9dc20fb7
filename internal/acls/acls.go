// Package acls derives Kraite's Kafka ACLs (least privilege on the broker)
// from the topic catalog (topics.All, topics.Groups) and the role registry
// (internal/roles), and applies them with kadm.
//
// # The model
//
// One principal per role (default User:kraite-<role>) and one operator
// principal (default User:kraite-operator):
//
//   - a role's principal READs the input topics and the GROUP of every
//     consumer group its components run, WRITEs the topics its components
//     produce to (roles.ComponentAccess), READs the tables its goka Views
//     look up, and owns (READ, WRITE, CREATE) the goka group tables of its
//     processors; a principal that writes anything also gets IDEMPOTENT_WRITE
//     on the cluster (every producer is idempotent; no client of Kraite is
//     transactional, so there is no TRANSACTIONAL_ID ACL);
//   - every role's principal may DESCRIBE and DESCRIBE_CONFIGS the topics
//     under the prefix (kraite run checks the catalog at start; it creates
//     and alters nothing when the catalog is applied), DESCRIBE the groups
//     under the prefix (health and the status page's lag) and READ the
//     topics the status page shows (roles.StatusPageReads);
//   - only the operator WRITEs the control topics (allowlist, regime
//     overrides, open intents); it may READ, DESCRIBE, CREATE, ALTER and
//     ALTER_CONFIGS the topics under the prefix (topics apply, status,
//     decode, replay) and READ, DESCRIBE and DELETE the groups under it
//     (replay), and DESCRIBE the cluster (listing ACLs).
//
// Creating and deleting ACLs needs ALTER on the cluster: run `kraite acls
// apply` as the cluster's admin (a superuser), not as the operator.
package acls

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kraite/stream/internal/roles"
)

// ClusterName is the resource name of the cluster in ACLs.
const ClusterName = "kafka-cluster"

// Operator is the key of the operator principal in Config.Principals.
const Operator = "operator"

// DefaultPrincipalPrefix makes the default principals: User:kraite-athena,
// ..., User:kraite-operator.
const DefaultPrincipalPrefix = "User:kraite-"

// Entry is one ACL: ALLOW (or DENY) Principal from Host the Operation on
// the resource. Why says which part of Kraite needs it (not part of the
// ACL's identity).
type Entry struct {
	Principal string
	Host      string
	Resource  kmsg.ACLResourceType
	Name      string
	Pattern   kmsg.ACLResourcePatternType
	Operation kmsg.ACLOperation
	Deny      bool
	Why       string
}

type key struct {
	principal, host, name string
	res                   kmsg.ACLResourceType
	pat                   kmsg.ACLResourcePatternType
	op                    kmsg.ACLOperation
	deny                  bool
}

func (e Entry) key() key {
	return key{e.Principal, e.Host, e.Name, e.Resource, e.Pattern, e.Operation, e.Deny}
}

func (e Entry) permission() string {
	if e.Deny {
		return "DENY"
	}
	return "ALLOW"
}

// String is the entry on one line, as Kafka's tools print an ACL.
func (e Entry) String() string {
	return fmt.Sprintf("%s %s %s on %s %s:%s from %s", e.permission(), e.Principal, e.Operation, strings.ToLower(e.Pattern.String()),
		e.Resource, e.Name, e.Host)
}

// MarshalJSON writes the entry with names, not numbers.
func (e Entry) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Principal  string `json:"principal"`
		Host       string `json:"host"`
		Resource   string `json:"resource"`
		Name       string `json:"name"`
		Pattern    string `json:"pattern"`
		Operation  string `json:"operation"`
		Permission string `json:"permission"`
		Why        string `json:"why,omitempty"`
	}{e.Principal, e.Host, e.Resource.String(), e.Name, e.Pattern.String(), e.Operation.String(), e.permission(), e.Why})
}

// Config names the deployment and its principals.
type Config struct {
	// Prefix is the topic and group prefix of the deployment.
	Prefix string
	// PrincipalPrefix makes the principal of a role (and of the operator)
	// that Principals does not name: PrincipalPrefix + role. Empty means
	// DefaultPrincipalPrefix.
	PrincipalPrefix string
	// Principals overrides the principal of a role or of the operator
	// (key Operator), e.g. {"athena": "User:prod-ingest"}.
	Principals map[string]string
}

// Principal is the principal of role (or Operator).
func (c Config) Principal(role string) string {
	if p, ok := c.Principals[role]; ok {
		return p
	}
	pp := c.PrincipalPrefix
	if pp == "" {
		pp = DefaultPrincipalPrefix
	}
	return pp + role
}

// Validate refuses unknown roles, principals without a type ("User:") and
// two roles sharing one principal (their ACLs would merge silently).
func (c Config) Validate() error {
	var errs []error
	if c.Prefix == "" {
		errs = append(errs, errors.New("the topic prefix is empty: ACLs on prefix \"\" would cover every topic of the cluster"))
	}
	known := append(roles.Names(), Operator)
	for r := range c.Principals {
		if !slices.Contains(known, r) {
			errs = append(errs, fmt.Errorf("unknown role %q (roles: %s)", r, strings.Join(known, ", ")))
		}
	}
	seen := map[string]string{}
	for _, r := range known {
		p := c.Principal(r)
		typ, name, ok := strings.Cut(p, ":")
		if !ok || typ == "" || name == "" || strings.ContainsAny(p, " \t\n,*") {
			errs = append(errs, fmt.Errorf("principal %q of %s is not TYPE:NAME (e.g. User:kraite-%s) or holds a space, comma or '*'", p, r, r))
			continue
		}
		if other, dup := seen[p]; dup {
			errs = append(errs, fmt.Errorf("roles %s and %s share the principal %q: give each its own", other, r, p))
		}
		seen[p] = r
	}
	return errors.Join(errs...)
}

// Plan is the full ACL set of the deployment, deduplicated (Why joins the
// reasons), in a stable order: by principal, resource type, name, pattern,
// operation.
func Plan(c Config) ([]Entry, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	p := &planner{byKey: map[key]int{}}
	pre := c.Prefix
	for _, role := range roles.Names() {
		pr := c.Principal(role)
		writes := false
		for _, comp := range roles.Components[role] {
			for _, g := range roles.Groups(comp) {
				p.add(pr, kmsg.ACLResourceTypeGroup, g.Name(pre), lit, kmsg.ACLOperationRead, comp+": consumer group")
				for _, in := range g.Inputs {
					p.add(pr, kmsg.ACLResourceTypeTopic, in.Name(pre), lit, kmsg.ACLOperationRead, comp+": input of group "+g.Suffix)
				}
			}
			a := roles.ComponentAccess[comp]
			for _, t := range a.Writes {
				why := comp
				if w := a.Why[t.Suffix]; w != "" {
					why += ": " + w
				}
				p.add(pr, kmsg.ACLResourceTypeTopic, t.Name(pre), lit, kmsg.ACLOperationWrite, why)
				writes = true
			}
			for _, t := range a.Reads {
				p.add(pr, kmsg.ACLResourceTypeTopic, t.Name(pre), lit, kmsg.ACLOperationRead, comp+": reads without a group (view, lease)")
			}
			for _, t := range a.Tables {
				for _, op := range []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate} {
					p.add(pr, kmsg.ACLResourceTypeTopic, t.Name(pre), lit, op, comp+": goka group table")
				}
				writes = true
			}
		}
		if writes {
			p.add(pr, kmsg.ACLResourceTypeCluster, ClusterName, lit, kmsg.ACLOperationIdempotentWrite, "idempotent producers")
		}
		p.add(pr, kmsg.ACLResourceTypeTopic, pre, prefixed, kmsg.ACLOperationDescribe, "metadata; the catalog check at start")
		p.add(pr, kmsg.ACLResourceTypeTopic, pre, prefixed, kmsg.ACLOperationDescribeConfigs, "the catalog check at start (kraite run)")
		p.add(pr, kmsg.ACLResourceTypeGroup, pre, prefixed, kmsg.ACLOperationDescribe, "group lag (health, status page)")
		for _, t := range roles.StatusPageReads() {
			p.add(pr, kmsg.ACLResourceTypeTopic, t.Name(pre), lit, kmsg.ACLOperationRead, "status page")
		}
	}
	op := c.Principal(Operator)
	for _, t := range roles.OperatorWrites() {
		p.add(op, kmsg.ACLResourceTypeTopic, t.Name(pre), lit, kmsg.ACLOperationWrite, "operator control topic")
	}
	for _, o := range []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDescribeConfigs,
		kmsg.ACLOperationCreate, kmsg.ACLOperationAlter, kmsg.ACLOperationAlterConfigs} {
		p.add(op, kmsg.ACLResourceTypeTopic, pre, prefixed, o, "topics apply, status, decode, replay")
	}
	for _, o := range []kmsg.ACLOperation{kmsg.ACLOperationRead, kmsg.ACLOperationDescribe, kmsg.ACLOperationDelete} {
		p.add(op, kmsg.ACLResourceTypeGroup, pre, prefixed, o, "status, replay")
	}
	p.add(op, kmsg.ACLResourceTypeCluster, ClusterName, lit, kmsg.ACLOperationIdempotentWrite, "idempotent producers")
	p.add(op, kmsg.ACLResourceTypeCluster, ClusterName, lit, kmsg.ACLOperationDescribe, "listing groups and ACLs")
	sortEntries(p.out)
	return p.out, nil
}

const (
	lit      = kmsg.ACLResourcePatternTypeLiteral
	prefixed = kmsg.ACLResourcePatternTypePrefixed
)

type planner struct {
	out   []Entry
	byKey map[key]int
}

func (p *planner) add(principal string, res kmsg.ACLResourceType, name string, pat kmsg.ACLResourcePatternType, op kmsg.ACLOperation, why string) {
	e := Entry{Principal: principal, Host: "*", Resource: res, Name: name, Pattern: pat, Operation: op, Why: why}
	if i, ok := p.byKey[e.key()]; ok {
		if !slices.Contains(strings.Split(p.out[i].Why, "; "), why) {
			p.out[i].Why += "; " + why
		}
		return
	}
	p.byKey[e.key()] = len(p.out)
	p.out = append(p.out, e)
}

func sortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i], es[j]
		switch {
		case a.Principal != b.Principal:
			return a.Principal < b.Principal
		case a.Resource != b.Resource:
			return a.Resource < b.Resource
		case a.Name != b.Name:
			return a.Name < b.Name
		case a.Pattern != b.Pattern:
			return a.Pattern < b.Pattern
		case a.Operation != b.Operation:
			return a.Operation < b.Operation
		case a.Host != b.Host:
			return a.Host < b.Host
		}
		return !a.Deny && b.Deny
	})
}

// Principals returns the distinct principals of entries, sorted.
func Principals(es []Entry) []string {
	var ps []string
	for _, e := range es {
		if !slices.Contains(ps, e.Principal) {
			ps = append(ps, e.Principal)
		}
	}
	sort.Strings(ps)
	return ps
}

// WriteTable prints entries as an aligned table.
func WriteTable(w io.Writer, es []Entry) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PRINCIPAL\tPERMISSION\tOPERATION\tRESOURCE\tPATTERN\tNAME\tWHY")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Principal, e.permission(), e.Operation, e.Resource,
			strings.ToLower(e.Pattern.String()), e.Name, e.Why)
	}
	return tw.Flush()
}

// Report is what Apply found and did.
type Report struct {
	// Created are the planned ACLs that were missing (and are now there).
	Created []Entry `json:"created"`
	// Present counts the planned ACLs that were already there.
	Present int `json:"present"`
	// Extra are ACLs of the plan's principals that the plan does not hold.
	Extra []Entry `json:"extra"`
	// Deleted are the extra ACLs Apply deleted (prune).
	Deleted []Entry `json:"deleted"`
}

// WriteReport prints what Apply found and did with the plan of planned
// ACLs: the counts, then one line per created, extra (kept, or deleted
// with prune) ACL.
func WriteReport(w io.Writer, planned int, rep Report, prune bool) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "%d ACLs planned: %d created, %d already present\n", planned, len(rep.Created), rep.Present)
	for _, e := range rep.Created {
		fmt.Fprintf(bw, "created  %s\n", e)
	}
	deleted := map[key]bool{}
	for _, e := range rep.Deleted {
		deleted[e.key()] = true
	}
	for _, e := range rep.Extra {
		verb := "extra    "
		switch {
		case deleted[e.key()]:
			verb = "deleted  "
		case !prune:
			verb = "extra (kept; --prune deletes it) "
		}
		fmt.Fprintf(bw, "%s%s\n", verb, e)
	}
	return bw.Flush()
}

// Existing lists the ACLs the cluster holds for principals (any resource,
// pattern, operation, host, ALLOW or DENY).
func Existing(ctx context.Context, adm *kadm.Client, principals []string) ([]Entry, error) {
	if len(principals) == 0 {
		return nil, nil
	}
	b := kadm.NewACLs().AnyResource().Allow(principals...).AllowHosts().Deny(principals...).DenyHosts().
		Operations().ResourcePatternType(kadm.ACLPatternAny)
	res, err := adm.DescribeACLs(ctx, b)
	if err != nil {
		return nil, fmt.Errorf("listing the ACLs of %s: %w", strings.Join(principals, ", "), err)
	}
	var out []Entry
	seen := map[key]bool{}
	for _, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("listing ACLs: %w (%s)", r.Err, r.ErrMessage)
		}
		for _, d := range r.Described {
			e := Entry{Principal: d.Principal, Host: d.Host, Resource: d.Type, Name: d.Name, Pattern: d.Pattern,
				Operation: d.Operation, Deny: d.Permission == kmsg.ACLPermissionTypeDeny}
			if !seen[e.key()] {
				seen[e.key()] = true
				out = append(out, e)
			}
		}
	}
	sortEntries(out)
	return out, nil
}

// Apply creates the ACLs of plan the cluster lacks and reports the ACLs of
// the plan's principals it does not hold; prune deletes those. The missing
// ACLs go to the broker in one CreateACLs request and the pruned ones in
// one DeleteACLs request, however many there are. Every failure is
// returned.
func Apply(ctx context.Context, cl *kgo.Client, plan []Entry, prune bool) (Report, error) {
	var rep Report
	have, err := Existing(ctx, kadm.NewClient(cl), Principals(plan))
	if err != nil {
		return rep, err
	}
	haveKeys := map[key]bool{}
	for _, e := range have {
		haveKeys[e.key()] = true
	}
	planKeys := map[key]bool{}
	var missing []Entry
	for _, e := range plan {
		planKeys[e.key()] = true
		if haveKeys[e.key()] {
			rep.Present++
		} else {
			missing = append(missing, e)
		}
	}
	for _, e := range have {
		if !planKeys[e.key()] {
			rep.Extra = append(rep.Extra, e)
		}
	}
	var errs []error
	rep.Created, errs = create(ctx, cl, missing)
	if prune {
		var derrs []error
		rep.Deleted, derrs = remove(ctx, cl, rep.Extra)
		errs = append(errs, derrs...)
	}
	return rep, errors.Join(errs...)
}

func permission(e Entry) kmsg.ACLPermissionType {
	if e.Deny {
		return kmsg.ACLPermissionTypeDeny
	}
	return kmsg.ACLPermissionTypeAllow
}

// create creates es in one request and returns those the broker created
// and an error for each it did not.
func create(ctx context.Context, cl *kgo.Client, es []Entry) ([]Entry, []error) {
	if len(es) == 0 {
		return nil, nil
	}
	req := kmsg.NewPtrCreateACLsRequest()
	for _, e := range es {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = e.Resource, e.Name, e.Pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = e.Principal, e.Host, e.Operation, permission(e)
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && len(resp.Results) != len(es) {
		err = fmt.Errorf("the broker answered %d results to %d creations", len(resp.Results), len(es))
	}
	if err != nil {
		return nil, []error{fmt.Errorf("creating %d ACLs: %w", len(es), err)}
	}
	var done []Entry
	var errs []error
	for i, r := range resp.Results {
		if err := codeErr(r.ErrorCode, r.ErrorMessage); err != nil {
			errs = append(errs, fmt.Errorf("creating ACL %s: %w", es[i], err))
			continue
		}
		done = append(done, es[i])
	}
	return done, errs
}

// remove deletes es (each matched exactly: principal, host, resource,
// pattern, operation, permission) in one request and returns those the
// broker deleted and an error for each it did not.
func remove(ctx context.Context, cl *kgo.Client, es []Entry) ([]Entry, []error) {
	if len(es) == 0 {
		return nil, nil
	}
	req := kmsg.NewPtrDeleteACLsRequest()
	for _, e := range es {
		f := kmsg.NewDeleteACLsRequestFilter()
		f.ResourceType, f.ResourceName, f.ResourcePatternType = e.Resource, kmsg.StringPtr(e.Name), e.Pattern
		f.Principal, f.Host, f.Operation, f.PermissionType = kmsg.StringPtr(e.Principal), kmsg.StringPtr(e.Host), e.Operation, permission(e)
		req.Filters = append(req.Filters, f)
	}
	resp, err := req.RequestWith(ctx, cl)
	if err == nil && len(resp.Results) != len(es) {
		err = fmt.Errorf("the broker answered %d results to %d filters", len(resp.Results), len(es))
	}
	if err != nil {
		return nil, []error{fmt.Errorf("deleting %d ACLs: %w", len(es), err)}
	}
	var done []Entry
	var errs []error
	for i, r := range resp.Results {
		err := codeErr(r.ErrorCode, r.ErrorMessage)
		for _, m := range r.MatchingACLs {
			if err == nil {
				err = codeErr(m.ErrorCode, m.ErrorMessage)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("deleting ACL %s: %w", es[i], err))
			continue
		}
		done = append(done, es[i])
	}
	return done, errs
}

// codeErr is the error of a Kafka error code and its message.
func codeErr(code int16, msg *string) error {
	err := kerr.ErrorForCode(code)
	if err != nil && msg != nil && *msg != "" {
		err = fmt.Errorf("%w (%s)", err, *msg)
	}
	return err
}
