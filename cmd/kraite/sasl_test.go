package main

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// kraiteCLI runs the kraite command line as its own process (this test
// binary re-executed, see TestMain) with env added to the environment, the
// way an operator runs a command against a running deployment; it returns
// the combined output and the exit error.
func kraiteCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, args...)
	var keep []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KRAITE_KAFKA_") && !strings.HasPrefix(kv, "KRAITE_BROKERS=") {
			keep = append(keep, kv)
		}
	}
	cmd.Env = append(append(keep, reexecEnv+"=1", "KRAITE_LOG_LEVEL=warn"), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	return out.String(), err
}

// TestDevWithSASL is the pipeline behind a SASL-protected broker: `kraite
// dev --sasl-user --sasl-password` requires authentication, its own
// producers, goka processors and sinks authenticate (frames reach the
// topics, the sinks fill the database, the processors join their groups),
// and the operator commands, run as separate processes, work with
// KRAITE_KAFKA_SASL_* and fail with a message naming the cause without.
func TestDevWithSASL(t *testing.T) {
	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	const user, pass = "ops", "dev-Pa55-1"
	dir := t.TempDir()
	out := &syncBuffer{}
	addr, _, stop := startDevOpsOut(t, dir, out, "--sasl-user", user, "--sasl-password", pass)
	defer stop()
	if !strings.Contains(out.String(), `sasl       required: user "ops"`) {
		t.Errorf("the banner does not say SASL is required:\n%s", out)
	}
	if strings.Contains(out.String(), pass) {
		t.Errorf("the banner prints the password:\n%s", out)
	}

	scram := kclient.Security{Mechanism: kclient.MechanismScramSHA256, Username: user, Password: pass}
	adm := func(s kclient.Security) (*kadm.Client, func(), error) {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, s.KgoOpts()...)...)
		if err != nil {
			t.Fatal(err)
		}
		if err := kclient.Check(context.Background(), cl, s); err != nil {
			cl.Close()
			return nil, nil, err
		}
		return kadm.NewClient(cl), cl.Close, nil
	}
	// An anonymous client is refused, with the reason.
	if _, _, err := adm(kclient.Security{}); err == nil || !strings.Contains(err.Error(), "requires SASL") {
		t.Fatalf("anonymous client on the dev broker: %v", err)
	}
	a, closeAdm, err := adm(scram)
	if err != nil {
		t.Fatal(err)
	}
	defer closeAdm()
	ends := func(topic string) int64 {
		o, err := a.ListEndOffsets(context.Background(), topic)
		if err != nil {
			return 0
		}
		var n int64
		o.Each(func(l kadm.ListedOffset) { n += l.Offset })
		return n
	}
	testkit.Eventually(t, 30*time.Second, "frames in both topics", func() bool {
		return ends("kraite.user-data-stream") > 10 && ends("kraite.mark-price") > 3
	})
	d, err := db.Open(context.Background(), "sqlite://"+filepath.Join(dir, "kraite.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	count := func(q string) int {
		var n int
		if err := d.QueryRowContext(context.Background(), q).Scan(&n); err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("%s: %v", q, err)
		}
		return n
	}
	testkit.Eventually(t, 60*time.Second, "audit rows, mark prices and dispatched orders (sinks behind goka's dispatch)", func() bool {
		return count("SELECT COUNT(*) FROM api_data_stream") > 10 &&
			count("SELECT COUNT(*) FROM exchange_symbols WHERE mark_price IS NOT NULL") > 100 &&
			count("SELECT COUNT(*) FROM orders") > 0
	})
	// Every consumer group of the catalog joined: the goka processors
	// (sarama), the sinks, the gap watcher, the scheduler and the workers
	// (franz-go).
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		missing = missing[:0]
		groups, err := a.DescribeGroups(context.Background())
		stable := map[string]bool{}
		if err == nil {
			for _, g := range groups.Sorted() {
				stable[g.Group] = g.State == "Stable" && len(g.Members) > 0
			}
		}
		for _, g := range topics.Groups() {
			if g.Component == "" {
				continue // a queue no component consumes yet (default)
			}
			if !stable[g.Name("kraite.")] {
				missing = append(missing, g.Name("kraite."))
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("groups not stable behind SASL: %v", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}

	creds := []string{"KRAITE_BROKERS=" + addr, "KRAITE_KAFKA_SASL_MECHANISM=SCRAM-SHA-256",
		"KRAITE_KAFKA_SASL_USERNAME=" + user, "KRAITE_KAFKA_SASL_PASSWORD=" + pass}
	pwFile := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(pwFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	plainFromFile := []string{"KRAITE_BROKERS=" + addr, "KRAITE_KAFKA_SASL_MECHANISM=PLAIN",
		"KRAITE_KAFKA_SASL_USERNAME=" + user, "KRAITE_KAFKA_SASL_PASSWORD_FILE=" + pwFile}
	for _, args := range [][]string{{"topics", "apply"}, {"status"}, {"allowlist", "get", "binance"}} {
		for _, env := range [][]string{creds, plainFromFile} {
			if got, err := kraiteCLI(t, env, args...); err != nil {
				t.Errorf("kraite %s with %s: %v\n%s", strings.Join(args, " "), env[1], err, got)
			}
		}
		got, err := kraiteCLI(t, []string{"KRAITE_BROKERS=" + addr}, args...)
		if err == nil || !strings.Contains(got, "requires SASL") || !strings.Contains(got, "KRAITE_KAFKA_SASL_MECHANISM") {
			t.Errorf("kraite %s without credentials: %v\n%s", strings.Join(args, " "), err, got)
		}
		wrong := []string{"KRAITE_BROKERS=" + addr, "KRAITE_KAFKA_SASL_MECHANISM=SCRAM-SHA-256",
			"KRAITE_KAFKA_SASL_USERNAME=" + user, "KRAITE_KAFKA_SASL_PASSWORD=not-the-password"}
		got, err = kraiteCLI(t, wrong, args...)
		if err == nil || !strings.Contains(got, `SASL authentication failed for user "ops" (mechanism SCRAM-SHA-256)`) ||
			strings.Contains(got, "not-the-password") {
			t.Errorf("kraite %s with a wrong password: %v\n%s", strings.Join(args, " "), err, got)
		}
	}
}

// TestBrokerSASLFlags: the flags are validated before anything starts.
func TestBrokerSASLFlags(t *testing.T) {
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--sasl-user", "u"}, "needs a password"},
		{[]string{"--sasl-password", "p"}, "--sasl-password needs --sasl-user"},
		{[]string{"--sasl-user", "u", "--sasl-password", "p", "--sasl-mechanism", "GSSAPI"}, "--sasl-mechanism"},
		{[]string{"--sasl-user", "u", "--sasl-password", "p", "--sasl-mechanism", ","}, "at least one mechanism"},
	} {
		out := &syncBuffer{}
		err := newApp(strings.NewReader(""), out, out).main(context.Background(),
			append([]string{"broker", "--addr", "127.0.0.1:0", "--data-dir", ""}, tc.args...))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("broker %v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestBrokerWithSASL: `kraite broker --sasl-user` (password from the
// environment) applies the catalog as that user and refuses anonymous
// clients.
func TestBrokerWithSASL(t *testing.T) {
	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	t.Setenv("KRAITE_KAFKA_SASL_MECHANISM", "PLAIN")
	t.Setenv("KRAITE_KAFKA_SASL_USERNAME", "admin")
	t.Setenv("KRAITE_KAFKA_SASL_PASSWORD", "from-env-1")
	p := startKraite(t, "broker", "--addr", "127.0.0.1:0", "--data-dir", "", "--sasl-user", "admin")
	var addr string
	testkit.Eventually(t, 20*time.Second, "the broker's banner", func() bool {
		if _, rest, ok := strings.Cut(p.out.String(), "broker on "); ok {
			addr, _, _ = strings.Cut(rest, ";")
		}
		return addr != ""
	})
	if !strings.Contains(p.out.String(), "KRAITE_KAFKA_SASL_MECHANISM=PLAIN") || strings.Contains(p.out.String(), "from-env-1") {
		t.Errorf("banner:\n%s", p.out)
	}
	for _, s := range []kclient.Security{
		{Mechanism: kclient.MechanismPlain, Username: "admin", Password: "from-env-1"},
		{Mechanism: kclient.MechanismScramSHA512, Username: "admin", Password: "from-env-1"},
	} {
		cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, s.KgoOpts()...)...)
		if err != nil {
			t.Fatal(err)
		}
		topicsSeen, err := kadm.NewClient(cl).ListTopics(context.Background())
		cl.Close()
		if err != nil || !topicsSeen.Has("kraite.user-data-stream") {
			t.Errorf("%s: the catalog applied as the SASL user: %v %v", s.Mechanism, topicsSeen.Names(), err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kclient.Check(context.Background(), cl, kclient.Security{}); err == nil {
		t.Error("an anonymous client got in")
	}
}

// TestChaosChildIgnoresClusterCredentials: chaos points its worker child at
// its own open broker; cluster credentials in the operator's environment are
// blanked for it (last value wins, as exec passes it), so the child starts
// plaintext and anonymous instead of failing validation or trying them.
func TestChaosChildIgnoresClusterCredentials(t *testing.T) {
	outer := []string{"KRAITE_KAFKA_SASL_MECHANISM=SCRAM-SHA-512", "KRAITE_KAFKA_SASL_USERNAME=prod",
		"KRAITE_KAFKA_SASL_PASSWORD=prod-secret", "KRAITE_KAFKA_TLS=true", "KRAITE_KAFKA_TLS_CA_FILE=/nonexistent/ca.pem"}
	c, err := app.Load(append(outer, app.OpenBrokerEnv()...))
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Kafka.Build()
	if err != nil || s.SASL() || s.TLS != nil {
		t.Fatalf("the child's Kafka security: %s, %v; want plaintext without SASL", s, err)
	}
}
