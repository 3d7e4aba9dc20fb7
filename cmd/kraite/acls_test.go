package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/acls"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/topics"
)

// kraiteChild is the kraite command line running as its own process (this
// test binary re-executed) until the test ends: a box with its own
// environment, so its own Kafka principal.
type kraiteChild struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan error
}

func startKraiteChild(t *testing.T, env []string, args ...string) *kraiteChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	var keep []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KRAITE_") {
			keep = append(keep, kv)
		}
	}
	cmd.Env = append(append(keep, reexecEnv+"=1", "KRAITE_LOG_LEVEL=warn"), env...)
	p := &kraiteChild{cmd: cmd, out: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

func (p *kraiteChild) running() bool {
	select {
	case err := <-p.done:
		p.done <- err
		return false
	default:
		return true
	}
}

// TestRolesRunUnderLeastPrivilegeACLs is the pipeline on a broker that
// enforces ACLs: the catalog and `kraite acls apply` are applied by the
// cluster's admin, then athena, eos and tyche run as separate processes,
// each authenticated as its own principal (kraite-<role>), against the
// simulator and MariaDB. A frame from the simulator reaches the orders
// table (athena's producers, streaming the accounts the operator imported
// and published to kraite.accounts, and dispatch; eos's orders sink), the operator's
// open intent is judged by the gate (eos, reading tyche's regime table),
// no box logs an authorization failure, and a box that writes a topic it
// does not own (athena publishing an open intent) is refused with the cause.
func TestRolesRunUnderLeastPrivilegeACLs(t *testing.T) {
	const adminPass, boxPass = "admin-Pa55-9", "box-Pa55-9"
	boxes := []string{"athena", "eos", "tyche"}
	opts := []kfake.Opt{kfake.EnableACLs()}
	for _, r := range append(boxes, acls.Operator) {
		opts = append(opts, kfake.User(kclient.MechanismScramSHA256, "kraite-"+r, boxPass))
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0",
		SASL: []broker.User{{Mechanism: kclient.MechanismScramSHA256, Name: "admin", Password: adminPass}}}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	as := func(user, pass string) []string {
		return []string{"KRAITE_BROKERS=" + b.Addr(), "KRAITE_KAFKA_SASL_MECHANISM=SCRAM-SHA-256",
			"KRAITE_KAFKA_SASL_USERNAME=" + user, "KRAITE_KAFKA_SASL_PASSWORD=" + pass}
	}
	admin := as("admin", adminPass)
	if out, err := kraiteCLI(t, admin, "topics", "apply"); err != nil {
		t.Fatalf("topics apply: %v\n%s", err, out)
	}
	out, err := kraiteCLI(t, admin, "acls", "apply")
	if err != nil || !strings.Contains(out, " created, 0 already present") {
		t.Fatalf("acls apply: %v\n%s", err, out)
	}
	// The operator may list the ACLs (nothing is missing) but not grant
	// any: new principals are refused.
	if out, err := kraiteCLI(t, as("kraite-operator", boxPass), "acls", "apply"); err != nil || !strings.Contains(out, "0 created") {
		t.Errorf("acls apply as the operator with nothing missing: %v\n%s", err, out)
	}
	if out, err := kraiteCLI(t, as("kraite-operator", boxPass), "acls", "apply", "--principal-prefix", "User:other-"); err == nil || !strings.Contains(out, "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("acls apply as the operator: %v\n%s", err, out)
	}

	sim, err := simulator.New(simulator.Config{Seed: 7, Accounts: 2, OrderInterval: 150 * time.Millisecond,
		MarkPriceInterval: 300 * time.Millisecond, Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = sim.Serve(ctx, ln) }()
	simAddr := ln.Addr().String()
	type acct struct {
		ID     string `json:"id"`
		Key    string `json:"api_key"`
		Secret string `json:"api_secret"`
	}
	var accts []acct
	for _, a := range sim.Accounts() {
		accts = append(accts, acct{a.ID, a.APIKey, a.APISecret})
	}
	dir := t.TempDir()
	accountsFile := filepath.Join(dir, "accounts.json")
	raw, _ := json.Marshal(accts)
	if err := os.WriteFile(accountsFile, raw, 0o600); err != nil {
		t.Fatal(err)
	}

	d := dbtest.MySQL(t)
	if _, err := d.SeedUniverse(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := marketjobs.ImportExchangeInfo(ctx, d, topics.ExchangeBinance, sim.ExchangeInfo(), time.Now()); err != nil {
		t.Fatal(err)
	}

	// The operator puts the accounts in the accounts table and on
	// kraite.accounts; athena's user-data producers take them from there
	// (group producer.user-data), the other boxes from the file.
	key := []string{"KRAITE_DATABASE_URL=" + dbtest.URL(d), "KRAITE_ACCOUNTS_KEY=" + base64.StdEncoding.EncodeToString(make([]byte, 32))}
	if out, err := kraiteCLI(t, append(as("kraite-operator", boxPass), key...), "accounts", "import", accountsFile); err != nil {
		t.Fatalf("accounts import as the operator: %v\n%s", err, out)
	}
	if out, err := kraiteCLI(t, append(as("kraite-operator", boxPass), key...), "accounts", "publish", "--all"); err != nil || !strings.Contains(out, "published") {
		t.Fatalf("accounts publish as the operator: %v\n%s", err, out)
	}
	procs := map[string]*kraiteChild{}
	for _, r := range boxes {
		env := append(as("kraite-"+r, boxPass), key...)
		env = append(env, "KRAITE_BINANCE_REST_URL=http://"+simAddr, "KRAITE_BINANCE_WS_URL=ws://"+simAddr,
			"KRAITE_STATE_DIR="+filepath.Join(dir, r), "KRAITE_HTTP_ADDR=127.0.0.1:0")
		if r == "athena" {
			env = append(env, "KRAITE_ACCOUNTS_SOURCE=database")
		} else {
			env = append(env, "KRAITE_ACCOUNTS_FILE="+accountsFile)
		}
		procs[r] = startKraiteChild(t, env, "run", "--role", r)
	}
	defer func() {
		if t.Failed() {
			for r, p := range procs {
				t.Logf("%s:\n%s", r, p.out)
			}
		}
	}()
	alive := func() bool {
		for r, p := range procs {
			if !p.running() {
				t.Fatalf("the %s box ended:\n%s", r, p.out)
			}
		}
		return true
	}
	testkit.Eventually(t, 120*time.Second, "a simulator order in the orders table (athena produces and dispatches, eos's sink stores)", func() bool {
		return alive() && dbtest.Count(t, d, "FROM orders") > 0
	})

	// The operator's open intent is judged by eos's gate: allowed (on the
	// positions topic) or refused with a reason (open-intents.rejected),
	// once athena's mark-price sink has priced BTCUSDT and eos's validator
	// has reloaded.
	testkit.Eventually(t, 60*time.Second, "a BTCUSDT mark price from athena's sink", func() bool {
		return alive() && dbtest.Count(t, d, "FROM exchange_symbols WHERE exchange = 'binance' AND symbol = 'BTCUSDT' AND mark_price IS NOT NULL") == 1
	})
	time.Sleep(6 * time.Second) // KRAITE_INTENT_REFRESH (5 s)
	out, err = kraiteCLI(t, as("kraite-operator", boxPass), "open", "--account", accts[0].ID, "--symbol", "BTCUSDT",
		"--side", "BUY", "--size", "0.01", "--client-id", "acl-intent-1", "--wait", "45s")
	if !strings.Contains(out, "acl-intent-1") || (!strings.Contains(out, "allowed") && !strings.Contains(out, "refused") && !strings.Contains(out, "rejected")) {
		t.Fatalf("kraite open as the operator: %v\n%s", err, out)
	}
	t.Logf("the gate's decision: %s", strings.TrimSpace(out))

	// athena does not own open-intents: refused, and the error says why.
	out, err = kraiteCLI(t, as("kraite-athena", boxPass), "open", "--account", accts[0].ID, "--symbol", "BTCUSDT",
		"--side", "BUY", "--size", "0.01", "--client-id", "acl-intent-2")
	if err == nil || !strings.Contains(out, "TOPIC_AUTHORIZATION_FAILED") || !strings.Contains(out, `ACLs refuse user "kraite-athena"`) ||
		!strings.Contains(out, "kraite acls plan") {
		t.Errorf("kraite open as athena: %v\n%s", err, out)
	}

	// Every consumer group of the three boxes joined as its box's
	// principal (goka's sarama groups, the sinks', workers' and
	// scheduler's franz-go groups).
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr())},
		kclient.Security{Mechanism: kclient.MechanismScramSHA256, Username: "admin", Password: adminPass}.KgoOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var missing []string
	defer func() {
		if len(missing) > 0 {
			t.Logf("groups not stable: %v", missing)
		}
	}()
	testkit.Eventually(t, 60*time.Second, "every group of athena, eos and tyche stable", func() bool {
		missing = missing[:0]
		described, err := adm.DescribeGroups(ctx)
		if err != nil {
			return false
		}
		for _, g := range topics.Groups() {
			if g.Component == "" {
				continue
			}
			dg, ok := described[g.Name("kraite.")]
			if !ok || dg.State != "Stable" || len(dg.Members) == 0 {
				missing = append(missing, g.Suffix)
			}
		}
		return alive() && len(missing) == 0
	})
	alive()
	for r, p := range procs {
		if s := p.out.String(); strings.Contains(s, "AUTHORIZATION_FAILED") || strings.Contains(s, "not authorized") {
			t.Errorf("the %s box was refused something its ACLs should allow:\n%s", r, s)
		}
	}
}

// TestACLsPlanPrintsATableAndJSON: plan needs no broker; --principal and
// --principal-prefix name the principals; a bad principal is refused.
func TestACLsPlanPrintsATableAndJSON(t *testing.T) {
	noBroker(t)
	code, out, errOut := cliRun(t, "acls", "plan", "--principal", "athena=User:ingest", "--principal-prefix", "User:prod-")
	if code != 0 || errOut != "" || !strings.Contains(out, "User:ingest") || !strings.Contains(out, "User:prod-operator") ||
		!strings.HasPrefix(out, "PRINCIPAL") {
		t.Fatalf("plan: exit %d, stderr %q\n%s", code, errOut, out)
	}
	code, out, errOut = cliRun(t, "acls", "plan", "--json")
	var es []map[string]string
	if code != 0 || errOut != "" || json.Unmarshal([]byte(out), &es) != nil || len(es) < 50 || es[0]["principal"] == "" {
		t.Fatalf("plan --json: exit %d, stderr %q\n%.500s", code, errOut, out)
	}
	if code, _, errOut = cliRun(t, "acls", "plan", "--principal", "eos=kraite-eos"); code != 1 || !strings.Contains(errOut, "is not TYPE:NAME") {
		t.Errorf("a principal without a type: exit %d, %s", code, errOut)
	}
	if code, _, errOut = cliRun(t, "acls", "plan", "--prune"); code != 2 || !strings.Contains(errOut, "--prune is an option of apply") {
		t.Errorf("plan --prune: exit %d, %s", code, errOut)
	}
	// A malformed or repeated --principal is a usage error; a principal
	// with a newline (a forged second line in the plan) is refused.
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--principal", "athena"}, 2, "is not role=TYPE:NAME"},
		{[]string{"--principal", "=User:x"}, 2, "is not role=TYPE:NAME"},
		{[]string{"--principal", "eos=User:a", "--principal", "eos=User:b"}, 2, "given twice"},
		{[]string{"--principal", "eos=User:a\nALLOW User:x"}, 1, "is not TYPE:NAME"},
		{[]string{"--principal", "hermes=User:x"}, 1, `unknown role "hermes"`},
	} {
		if code, _, errOut = cliRun(t, append([]string{"acls", "plan"}, tc.args...)...); code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("plan %q: exit %d, %s; want exit %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
	}
}
