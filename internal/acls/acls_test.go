package acls_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/acls"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/roles"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

func plan(t *testing.T) []acls.Entry {
	t.Helper()
	p, err := acls.Plan(acls.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// who lists the principals granted op on the topic or group name (literal
// or through a prefix).
func who(es []acls.Entry, res kmsg.ACLResourceType, name string, op kmsg.ACLOperation) []string {
	var out []string
	for _, e := range es {
		if e.Resource != res || e.Operation != op || e.Deny {
			continue
		}
		if e.Name == name || (e.Pattern == kmsg.ACLResourcePatternTypePrefixed && strings.HasPrefix(name, e.Name)) {
			if !slices.Contains(out, e.Principal) {
				out = append(out, e.Principal)
			}
		}
	}
	slices.Sort(out)
	return out
}

func TestPlanIsLeastPrivilege(t *testing.T) {
	es := plan(t)
	writers := func(s topics.Spec) []string {
		return who(es, kmsg.ACLResourceTypeTopic, s.Name(prefix), kmsg.ACLOperationWrite)
	}
	if got := writers(topics.MarkPrice); !slices.Equal(got, []string{"User:kraite-athena"}) {
		t.Errorf("mark-price writers: %v, want athena only", got)
	}
	// user-data-stream: athena's producers, and the workers that publish
	// the reconciliation's backfill frames (order sync on eos/iris/nyx's
	// trading worker and tyche's cron worker) — never the operator.
	if got := writers(topics.UserDataStream); slices.Contains(got, "User:kraite-operator") || !slices.Contains(got, "User:kraite-athena") {
		t.Errorf("user-data-stream writers: %v", got)
	}
	for _, s := range roles.OperatorWrites() {
		want := []string{"User:kraite-operator"}
		if s.Suffix == topics.Accounts.Suffix {
			// athena's scheduler republishes the accounts table's pending
			// changes (accounts.Store.RunPublisher); a record that does not
			// match the table streams nothing (userdata.Assigner).
			want = []string{"User:kraite-athena", "User:kraite-operator"}
		}
		if got := writers(s); !slices.Equal(got, want) {
			t.Errorf("%s writers: %v, want %v", s.Suffix, got, want)
		}
	}
	// No principal writes or reads through a prefix it could widen to
	// other topics by writing; writes are always literal.
	for _, e := range es {
		if e.Operation == kmsg.ACLOperationWrite && e.Pattern != kmsg.ACLResourcePatternTypeLiteral {
			t.Errorf("a prefixed WRITE: %s", e)
		}
		if e.Operation == kmsg.ACLOperationAll || e.Name == "*" || e.Deny {
			t.Errorf("a wildcard or DENY entry: %s", e)
		}
	}
	// Each group is READ (joined) only by the roles that run its
	// component, and those roles READ its inputs.
	for _, g := range topics.Groups() {
		var want []string
		for _, r := range roles.Names() {
			if slices.Contains(roles.Components[r], g.Component) {
				want = append(want, "User:kraite-"+r)
			}
		}
		got := who(es, kmsg.ACLResourceTypeGroup, g.Name(prefix), kmsg.ACLOperationRead)
		got = slices.DeleteFunc(got, func(p string) bool { return p == "User:kraite-operator" }) // replay
		if !slices.Equal(got, want) {
			t.Errorf("group %s is joined by %v, want %v", g.Suffix, got, want)
		}
		for _, p := range want {
			for _, in := range g.Inputs {
				if !slices.Contains(who(es, kmsg.ACLResourceTypeTopic, in.Name(prefix), kmsg.ACLOperationRead), p) {
					t.Errorf("%s joins %s but may not read its input %s", p, g.Suffix, in.Suffix)
				}
			}
		}
	}
	// The new user-data producer group and its topic belong to athena.
	if got := who(es, kmsg.ACLResourceTypeGroup, topics.GroupUserDataProducer.Name(prefix), kmsg.ACLOperationRead); !slices.Contains(got, "User:kraite-athena") {
		t.Errorf("producer.user-data: %v", got)
	}
	// Only the regime's role owns (creates, writes) the regime table.
	if got := who(es, kmsg.ACLResourceTypeTopic, regimestate.TableSpec().Name(prefix), kmsg.ACLOperationWrite); !slices.Equal(got, []string{"User:kraite-tyche"}) {
		t.Errorf("regime-table writers: %v", got)
	}
	// Every writer may initialise an idempotent producer; nobody but the
	// admin who applies the ACLs alters the cluster.
	for _, r := range append(roles.Names(), acls.Operator) {
		if !slices.Contains(who(es, kmsg.ACLResourceTypeCluster, acls.ClusterName, kmsg.ACLOperationIdempotentWrite), "User:kraite-"+r) {
			t.Errorf("%s has no IDEMPOTENT_WRITE", r)
		}
	}
	if got := who(es, kmsg.ACLResourceTypeCluster, acls.ClusterName, kmsg.ACLOperationAlter); len(got) > 0 {
		t.Errorf("cluster ALTER granted to %v", got)
	}
	// Stable and deduplicated.
	again := plan(t)
	if !slices.EqualFunc(es, again, func(a, b acls.Entry) bool { return a.String() == b.String() && a.Why == b.Why }) {
		t.Error("two plans differ")
	}
	seen := map[string]bool{}
	for _, e := range es {
		if seen[e.String()] {
			t.Errorf("duplicate %s", e)
		}
		seen[e.String()] = true
	}
	b, err := json.Marshal(es[0])
	if err != nil || !strings.Contains(string(b), `"operation":"`) || !strings.Contains(string(b), `"resource":"TOPIC"`) {
		t.Errorf("JSON: %s %v", b, err)
	}
}

func TestPrincipalsAreConfigurableAndValidated(t *testing.T) {
	es, err := acls.Plan(acls.Config{Prefix: "prod.", PrincipalPrefix: "User:prod-", Principals: map[string]string{"athena": "User:ingest"}})
	if err != nil {
		t.Fatal(err)
	}
	ps := acls.Principals(es)
	for _, want := range []string{"User:ingest", "User:prod-eos", "User:prod-operator", "User:prod-tyche"} {
		if !slices.Contains(ps, want) {
			t.Errorf("principals %v lack %s", ps, want)
		}
	}
	for _, e := range es {
		if !strings.HasPrefix(e.Name, "prod.") && e.Name != acls.ClusterName {
			t.Errorf("an ACL outside the prefix: %s", e)
		}
	}
	for _, tc := range []struct {
		cfg  acls.Config
		want string
	}{
		{acls.Config{Prefix: ""}, "prefix is empty"},
		{acls.Config{Prefix: prefix, Principals: map[string]string{"hermes": "User:x"}}, `unknown role "hermes"`},
		{acls.Config{Prefix: prefix, Principals: map[string]string{"eos": "User:box", "iris": "User:box"}}, "share the principal"},
		{acls.Config{Prefix: prefix, Principals: map[string]string{"eos": "kraite-eos"}}, "is not TYPE:NAME"},
		{acls.Config{Prefix: prefix, Principals: map[string]string{"eos": "User:*"}}, "is not TYPE:NAME"},
		{acls.Config{Prefix: prefix, PrincipalPrefix: "User:a b-"}, "is not TYPE:NAME"},
	} {
		if _, err := acls.Plan(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

const pass = "role-Pa55-1"

// requestCounter counts the requests a client writes, by key.
type requestCounter struct {
	mu sync.Mutex
	n  map[int16]int
}

func (c *requestCounter) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, _ error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[int16]int{}
	}
	c.n[key]++
}

func (c *requestCounter) count(k kmsg.Key) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[int16(k)]
}

// aclBroker is a SASL broker that enforces ACLs: admin is a superuser, and
// every role and the operator is a plain user (kraite-<role>).
func aclBroker(t *testing.T) *broker.Broker {
	t.Helper()
	opts := []kfake.Opt{kfake.EnableACLs()}
	for _, r := range append(roles.Names(), acls.Operator) {
		opts = append(opts, kfake.User(kclient.MechanismScramSHA256, "kraite-"+r, pass))
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0",
		SASL: []broker.User{{Mechanism: kclient.MechanismScramSHA256, Name: "admin", Password: "admin-Pa55"}}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func client(t *testing.T, addr, user, password string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	s := kclient.Security{Mechanism: kclient.MechanismScramSHA256, Username: user, Password: kclient.Secret(password)}
	cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(addr)}, s.KgoOpts()...), opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, addr, role, topic string) error {
	t.Helper()
	cl := client(t, addr, "kraite-"+role, pass, kgo.RequiredAcks(kgo.AllISRAcks()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(`{}`)}).FirstErr()
}

// TestApplyOnAnACLBroker: apply creates the plan, a second apply changes
// nothing, an ACL outside the plan is reported and pruned, and the broker
// then refuses a box's principal that writes a topic it does not own (the
// error names the authorization failure) while it lets it write its own.
func TestApplyOnAnACLBroker(t *testing.T) {
	b := aclBroker(t)
	var reqs requestCounter
	admin := client(t, b.Addr(), "admin", "admin-Pa55", kgo.WithHooks(&reqs))
	ctx := context.Background()
	if _, err := topics.Apply(ctx, admin, prefix, append(topics.All(), regimestate.TableSpec()), 1); err != nil {
		t.Fatal(err)
	}
	adm := kadm.NewClient(admin)
	es := plan(t)

	// Before: a box may not even see the topics.
	if err := produce(t, b.Addr(), "eos", topics.Positions.Name(prefix)); err == nil {
		t.Fatal("eos wrote before any ACL existed")
	}

	rep, err := acls.Apply(ctx, admin, es, false)
	if err != nil || len(rep.Created) != len(es) || rep.Present != 0 || len(rep.Extra) != 0 {
		t.Fatalf("first apply: %d created, %d present, extra %v, err %v (plan %d)", len(rep.Created), rep.Present, rep.Extra, err, len(es))
	}
	// The whole plan went to the broker in one CreateACLs request.
	if n := reqs.count(kmsg.CreateACLs); n != 1 {
		t.Errorf("the first apply of %d ACLs sent %d CreateACLs requests, want 1", len(es), n)
	}
	rep, err = acls.Apply(ctx, admin, es, false)
	if err != nil || len(rep.Created) != 0 || rep.Present != len(es) {
		t.Fatalf("second apply: %d created, %d present, err %v", len(rep.Created), rep.Present, err)
	}

	// An ACL someone added by hand: reported, kept, then pruned.
	stray := kadm.NewACLs().Allow("User:kraite-eos").AllowHosts("*").Topics(topics.MarkPrice.Name(prefix)).
		Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	if _, err := adm.CreateACLs(ctx, stray); err != nil {
		t.Fatal(err)
	}
	if err := produce(t, b.Addr(), "eos", topics.MarkPrice.Name(prefix)); err != nil {
		t.Fatalf("the stray ACL does not work: %v", err)
	}
	rep, err = acls.Apply(ctx, admin, es, false)
	if err != nil || len(rep.Extra) != 1 || !strings.Contains(rep.Extra[0].String(), "User:kraite-eos WRITE on literal TOPIC:kraite.mark-price") || len(rep.Deleted) != 0 {
		t.Fatalf("apply with a stray ACL: extra %v, deleted %v, err %v", rep.Extra, rep.Deleted, err)
	}
	rep, err = acls.Apply(ctx, admin, es, true)
	if err != nil || len(rep.Deleted) != 1 {
		t.Fatalf("prune: deleted %v, err %v", rep.Deleted, err)
	}
	if rep, err = acls.Apply(ctx, admin, es, false); err != nil || len(rep.Extra) != 0 || rep.Present != len(es) {
		t.Fatalf("after prune: %+v %v", rep, err)
	}
	// A stray DENY on a resource type the plan never uses (a
	// transactional id) is pruned too, with the other strays in one
	// DeleteACLs request.
	deleteReqs := reqs.count(kmsg.DeleteACLs)
	strays := kadm.NewACLs().Deny("User:kraite-iris").DenyHosts("10.0.0.1").TransactionalIDs("tx").
		Operations(kadm.OpWrite).ResourcePatternType(kadm.ACLPatternLiteral)
	strays2 := kadm.NewACLs().Allow("User:kraite-operator").AllowHosts("*").Groups(prefix).
		Operations(kadm.OpAlter).ResourcePatternType(kadm.ACLPatternPrefixed)
	for _, s := range []*kadm.ACLBuilder{strays, strays2} {
		if _, err := adm.CreateACLs(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if rep, err = acls.Apply(ctx, admin, es, true); err != nil || len(rep.Extra) != 2 || len(rep.Deleted) != 2 {
		t.Fatalf("prune of a DENY and a prefixed stray: %+v %v", rep, err)
	}
	if n := reqs.count(kmsg.DeleteACLs) - deleteReqs; n != 1 {
		t.Errorf("pruning 2 ACLs sent %d DeleteACLs requests, want 1", n)
	}
	if rep, err = acls.Apply(ctx, admin, es, false); err != nil || len(rep.Extra) != 0 || rep.Present != len(es) {
		t.Fatalf("after the second prune: %+v %v", rep, err)
	}

	// Owners write; everyone else is refused, with the cause.
	for _, tc := range []struct {
		role  string
		topic topics.Spec
		ok    bool
	}{
		{"athena", topics.UserDataStream, true},
		{"athena", topics.MarkPrice, true},
		{"eos", topics.Positions, true},
		{"tyche", topics.RegimeChanges, true},
		{acls.Operator, topics.Allowlist, true},
		{acls.Operator, topics.OpenIntents, true},
		{acls.Operator, topics.RegimeOverrides, true},
		{"eos", topics.MarkPrice, false},
		{"tyche", topics.MarkPrice, false},
		{"iris", topics.OpenIntents, false},
		{"athena", topics.Allowlist, false},
		{"tyche", topics.RegimeOverrides, false},
		{"nyx", topics.RegimeChanges, false},
		{acls.Operator, topics.UserDataStream, false},
		{acls.Operator, topics.MarkPrice, false},
	} {
		err := produce(t, b.Addr(), tc.role, tc.topic.Name(prefix))
		switch {
		case tc.ok && err != nil:
			t.Errorf("%s writing its own %s: %v", tc.role, tc.topic.Suffix, err)
		case !tc.ok && err == nil:
			t.Errorf("%s wrote %s, which it does not own", tc.role, tc.topic.Suffix)
		case !tc.ok && (!errors.Is(err, kerr.TopicAuthorizationFailed) || !strings.Contains(err.Error(), "TOPIC_AUTHORIZATION_FAILED")):
			t.Errorf("%s writing %s: %v, want TOPIC_AUTHORIZATION_FAILED", tc.role, tc.topic.Suffix, err)
		}
	}

	// A box cannot join another box's group.
	cl := client(t, b.Addr(), "kraite-eos", pass, kgo.ConsumerGroup(topics.GroupDispatch.Name(prefix)),
		kgo.ConsumeTopics(topics.UserDataStream.Name(prefix)))
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var gerr error
	for gerr == nil && fctx.Err() == nil {
		cl.PollFetches(fctx).EachError(func(_ string, _ int32, err error) {
			if gerr == nil {
				gerr = err
			}
		})
	}
	if !errors.Is(gerr, kerr.GroupAuthorizationFailed) && !errors.Is(gerr, kerr.TopicAuthorizationFailed) {
		t.Errorf("eos joining dispatch's group: %v, want an authorization failure", gerr)
	}
}

// TestWriteReport: the counts, then a line per created ACL and per extra
// one, saying whether it was kept or deleted.
func TestWriteReport(t *testing.T) {
	es := plan(t)
	rep := acls.Report{Created: es[:2], Present: len(es) - 2, Extra: es[2:4], Deleted: es[3:4]}
	var b strings.Builder
	if err := acls.WriteReport(&b, len(es), rep, true); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("%d ACLs planned: 2 created, %d already present", len(es), len(es)-2),
		"created  " + es[0].String(), "created  " + es[1].String(),
		"extra    " + es[2].String(), // prune failed to delete it
		"deleted  " + es[3].String(),
	}
	if got := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n"); !slices.Equal(got, want) {
		t.Errorf("report:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	b.Reset()
	if err := acls.WriteReport(&b, len(es), acls.Report{Extra: es[:1]}, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "extra (kept; --prune deletes it) "+es[0].String()) {
		t.Errorf("an extra ACL without prune:\n%s", b.String())
	}
}
