package kclient_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
)

const (
	testUser = "kraite-box"
	testPass = "s3cret-Pa55"
)

// saslBroker is a kfake broker over TCP that requires SASL and knows
// testUser under every mechanism Kraite supports.
func saslBroker(t *testing.T, tc *tls.Config) *broker.Broker {
	t.Helper()
	var users []broker.User
	for _, m := range kclient.Mechanisms() {
		users = append(users, broker.User{Mechanism: m, Name: testUser, Password: testPass})
	}
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", SASL: users, TLS: tc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func sec(m, user, pass string) kclient.Security {
	return kclient.Security{Mechanism: m, Username: user, Password: kclient.Secret(pass)}
}

// roundTrip produces one record to topic with a franz-go client of s and
// reads it back with another; the first error is returned explained.
func roundTrip(ctx context.Context, addr string, s kclient.Security, topic string) error {
	opts := kclient.ProducerOpts([]string{addr}, nil)
	if s != kclient.DefaultSecurity() {
		opts = append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation()}, s.KgoOpts()...)
	}
	prod, err := kgo.NewClient(opts...)
	if err != nil {
		return err
	}
	defer prod.Close()
	if err := kclient.Check(ctx, prod, s); err != nil {
		return err
	}
	want := fmt.Sprintf("hello %s", s.Mechanism)
	if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Key: []byte("k"), Value: []byte(want)}).FirstErr(); err != nil {
		return kclient.Explain(err, s)
	}
	cons, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, s.KgoOpts()...)...)
	if err != nil {
		return err
	}
	defer cons.Close()
	for {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return kclient.Explain(err, s)
		}
		for _, r := range fs.Records() {
			if string(r.Value) == want {
				return nil
			}
		}
	}
}

// TestSASLFranzGo: franz-go producers and consumers authenticate to a
// SASL-only broker over TCP with every mechanism.
func TestSASLFranzGo(t *testing.T) {
	b := saslBroker(t, nil)
	for _, m := range kclient.Mechanisms() {
		t.Run(m, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := roundTrip(ctx, b.Addr(), sec(m, testUser, testPass), "sasl-"+strings.ToLower(m)); err != nil {
				t.Fatal(err)
			}
		})
	}
	// The process default reaches ProducerOpts (and BaseOpts) without the
	// caller passing anything.
	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	kclient.SetDefault(sec(kclient.MechanismScramSHA256, testUser, testPass))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := roundTrip(ctx, b.Addr(), kclient.DefaultSecurity(), "sasl-default"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kclient.BaseOpts([]string{b.Addr()})...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kclient.Check(ctx, cl, kclient.DefaultSecurity()); err != nil {
		t.Fatalf("BaseOpts: %v", err)
	}
}

// TestSASLRefusalNamesTheCause: wrong credentials, an unknown user and a
// client without SASL are refused, and the error says why (instead of
// franz-go's "broker closed the connection"), naming the user and the
// mechanism but never the password.
func TestSASLRefusalNamesTheCause(t *testing.T) {
	b := saslBroker(t, nil)
	cases := []struct {
		name string
		s    kclient.Security
		want []string
	}{
		{"wrong password scram-256", sec(kclient.MechanismScramSHA256, testUser, "wrong-pass"),
			[]string{"SASL authentication failed", `user "kraite-box"`, "SCRAM-SHA-256", "KRAITE_KAFKA_SASL_"}},
		{"wrong password plain", sec(kclient.MechanismPlain, testUser, "wrong-pass"),
			[]string{"SASL authentication failed", `user "kraite-box"`, "PLAIN", "KRAITE_KAFKA_SASL_"}},
		{"unknown user scram-512", sec(kclient.MechanismScramSHA512, "nobody", testPass),
			[]string{"SASL authentication failed", `user "nobody"`, "SCRAM-SHA-512"}},
		{"no sasl", kclient.Security{},
			[]string{"requires SASL", "KRAITE_KAFKA_SASL_MECHANISM", "KRAITE_KAFKA_SASL_USERNAME"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := roundTrip(ctx, b.Addr(), tc.s, "refused")
			if err == nil {
				t.Fatal("the broker accepted a client it must refuse")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "wrong-pass") || strings.Contains(err.Error(), testPass) {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

// TestSASLRefusalSarama: goka's clients (sarama) refused by the broker get
// the same explanation.
func TestSASLRefusalSarama(t *testing.T) {
	b := saslBroker(t, nil)
	for _, s := range []kclient.Security{sec(kclient.MechanismPlain, testUser, "wrong-pass"), sec(kclient.MechanismScramSHA256, testUser, "wrong-pass")} {
		cfg := sarama.NewConfig()
		cfg.Metadata.Retry.Max = 0
		s.ApplySarama(cfg)
		cl, err := sarama.NewClient([]string{b.Addr()}, cfg)
		if err == nil {
			cl.Close()
			t.Fatalf("%s: sarama authenticated with a wrong password", s.Mechanism)
		}
		err = kclient.Explain(err, s)
		for _, w := range []string{"SASL authentication failed", `user "kraite-box"`, s.Mechanism, "KRAITE_KAFKA_SASL_"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", s.Mechanism, err, w)
			}
		}
		if strings.Contains(err.Error(), "wrong-pass") {
			t.Errorf("error leaks the password: %v", err)
		}
	}
}

// TestSASLGoka: goka (sarama) processors and views get the process's SASL
// through GokaProcessorOptions/GokaViewOptions and run against the
// SASL-only broker: a processor keeps a per-key count in its table, a view
// reads it back. PLAIN is what kfake is known to authenticate sarama with;
// the SCRAM mechanisms go through the adapter onto franz-go's SCRAM.
func TestSASLGoka(t *testing.T) {
	b := saslBroker(t, nil)
	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	for _, m := range kclient.Mechanisms() {
		t.Run(m, func(t *testing.T) {
			s := sec(m, testUser, testPass)
			kclient.SetDefault(s)
			suffix := strings.ToLower(strings.ReplaceAll(m, "-", ""))
			in := goka.Stream("goka-in-" + suffix)
			group := goka.Group("goka-count-" + suffix)
			runGoka(t, b.Addr(), in, group)
		})
	}
}

func runGoka(t *testing.T, addr string, in goka.Stream, group goka.Group) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	brokers := []string{addr}
	// The input topic first (the processor checks it exists).
	tmc := goka.NewTopicManagerConfig()
	tmc.Stream.Replication = 1
	tmb := goka.TopicManagerBuilderWithConfig(kclient.SaramaConfig(), tmc)
	tm, err := tmb(brokers)
	if err != nil {
		t.Fatal(kclient.Explain(err, kclient.DefaultSecurity()))
	}
	if err := tm.EnsureStreamExists(string(in), 3); err != nil {
		t.Fatal(err)
	}
	tm.Close()

	g := goka.DefineGroup(group,
		goka.Input(in, new(codec.String), func(gc goka.Context, msg any) {
			var n int64
			if v := gc.Value(); v != nil {
				n = v.(int64)
			}
			gc.SetValue(n + 1)
		}),
		goka.Persist(new(codec.Int64)),
	)
	log := slog.New(slog.DiscardHandler)
	p, err := goka.NewProcessor(brokers, g, append(kclient.GokaProcessorOptions(1, log), goka.WithStorageBuilder(storage.MemoryBuilder()))...)
	if err != nil {
		t.Fatal(kclient.Explain(err, kclient.DefaultSecurity()))
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("processor: %v", err)
		}
	})
	if err := p.WaitForReadyContext(ctx); err != nil {
		t.Fatal(err)
	}

	em, err := goka.NewEmitter(brokers, in, new(codec.String), kclient.GokaEmitterOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := em.EmitSync("acct-1", "x"); err != nil {
			t.Fatal(err)
		}
	}
	if err := em.Finish(); err != nil {
		t.Fatal(err)
	}

	v, err := goka.NewView(brokers, goka.GroupTable(group), new(codec.Int64),
		append(kclient.GokaViewOptions(1), goka.WithViewStorageBuilder(storage.MemoryBuilder()))...)
	if err != nil {
		t.Fatal(err)
	}
	vdone := make(chan error, 1)
	vctx, vcancel := context.WithCancel(ctx)
	go func() { vdone <- v.Run(vctx) }()
	defer func() { vcancel(); <-vdone }()
	testkit.Eventually(t, 30*time.Second, "the view to read acct-1 = 3", func() error {
		got, err := v.Get("acct-1")
		if err == nil && got != nil && got.(int64) == 3 {
			return nil
		}
		return fmt.Errorf("view: acct-1 = %v (err %v)", got, err)
	})
}

// TestSecurityConfigBuild: every half-configured setting is a start-up
// error that names the variable; nothing falls back to plaintext or to no
// authentication.
func TestSecurityConfigBuild(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	bad := []struct {
		name string
		c    kclient.SecurityConfig
		want string
	}{
		{"unknown mechanism", kclient.SecurityConfig{SASLMechanism: "GSSAPI", SASLUsername: "u", SASLPassword: "p"}, "KRAITE_KAFKA_SASL_MECHANISM"},
		{"username without password", kclient.SecurityConfig{SASLMechanism: "PLAIN", SASLUsername: "u"}, "KRAITE_KAFKA_SASL_PASSWORD"},
		{"password without username", kclient.SecurityConfig{SASLMechanism: "PLAIN", SASLPassword: "p"}, "KRAITE_KAFKA_SASL_USERNAME"},
		{"credentials without mechanism", kclient.SecurityConfig{SASLUsername: "u", SASLPassword: "p"}, "KRAITE_KAFKA_SASL_MECHANISM"},
		{"both passwords", kclient.SecurityConfig{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "p", SASLPasswordFile: pwFile}, "both set"},
		{"unreadable password file", kclient.SecurityConfig{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPasswordFile: missing}, "KRAITE_KAFKA_SASL_PASSWORD_FILE"},
		{"empty password file", kclient.SecurityConfig{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPasswordFile: empty}, "KRAITE_KAFKA_SASL_PASSWORD_FILE"},
		{"unreadable CA", kclient.SecurityConfig{TLS: true, TLSCAFile: missing}, "KRAITE_KAFKA_TLS_CA_FILE"},
		{"CA without PEM", kclient.SecurityConfig{TLS: true, TLSCAFile: notPEM}, "KRAITE_KAFKA_TLS_CA_FILE"},
		{"cert without key", kclient.SecurityConfig{TLS: true, TLSCertFile: pwFile}, "KRAITE_KAFKA_TLS_KEY_FILE"},
		{"key without cert", kclient.SecurityConfig{TLS: true, TLSKeyFile: pwFile}, "KRAITE_KAFKA_TLS_CERT_FILE"},
		{"bad key pair", kclient.SecurityConfig{TLS: true, TLSCertFile: pwFile, TLSKeyFile: pwFile}, "KRAITE_KAFKA_TLS_CERT_FILE"},
		{"CA without TLS", kclient.SecurityConfig{TLSCAFile: notPEM}, "KRAITE_KAFKA_TLS is not true"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.c.Build()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build() = %v, want an error naming %s", err, tc.want)
			}
			if strings.Contains(err.Error(), "from-file") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}

	s, err := kclient.SecurityConfig{SASLMechanism: " scram-sha-512 ", SASLUsername: "u", SASLPasswordFile: pwFile}.Build()
	if err != nil {
		t.Fatal(err)
	}
	if s.Mechanism != kclient.MechanismScramSHA512 || s.Username != "u" || s.Password != "from-file" || s.TLS != nil {
		t.Fatalf("Build() = %+v", s)
	}
	if n := len(s.KgoOpts()); n != 1 {
		t.Errorf("SASL only: %d franz-go options, want 1 (SASL)", n)
	}
	if s, err := (kclient.SecurityConfig{}).Build(); err != nil || s.SASL() || s.TLS != nil || len(s.KgoOpts()) != 0 {
		t.Errorf("empty configuration: %+v, %v; want plaintext without SASL", s, err)
	}
	s, err = kclient.SecurityConfig{TLS: true}.Build()
	if err != nil || s.TLS == nil || s.TLS.MinVersion != tls.VersionTLS12 || s.TLS.RootCAs != nil || s.TLS.InsecureSkipVerify {
		t.Errorf("TLS with system roots: %+v, %v", s.TLS, err)
	}
}

// TestPlainWithoutTLSWarns: PLAIN in clear to another machine is worth a
// warning; on loopback, with TLS or with SCRAM it is not.
func TestPlainWithoutTLSWarns(t *testing.T) {
	plain := sec(kclient.MechanismPlain, "u", "p")
	if w := plain.Warning([]string{"127.0.0.1:9092", "kafka.example:9092"}); !strings.Contains(w, "kafka.example:9092") || strings.Contains(w, "p ") {
		t.Errorf("PLAIN to a remote broker: %q", w)
	}
	for _, quiet := range []struct {
		s       kclient.Security
		brokers []string
	}{
		{plain, []string{"127.0.0.1:9092", "localhost:9093", "[::1]:9092"}},
		{kclient.Security{Mechanism: kclient.MechanismPlain, Username: "u", Password: "p", TLS: &tls.Config{}}, []string{"kafka.example:9092"}},
		{sec(kclient.MechanismScramSHA256, "u", "p"), []string{"kafka.example:9092"}},
		{kclient.Security{}, []string{"kafka.example:9092"}},
	} {
		if w := quiet.s.Warning(quiet.brokers); w != "" {
			t.Errorf("%s to %v: %q", quiet.s, quiet.brokers, w)
		}
	}
}

// TestSecretsNeverPrint: the password does not appear in fmt or slog output
// of the configuration, the Security value or a refusal.
func TestSecretsNeverPrint(t *testing.T) {
	c := kclient.SecurityConfig{SASLMechanism: "PLAIN", SASLUsername: "u", SASLPassword: "hunter2-secret"}
	s, err := c.Build()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("cfg", "config", c, "security", s, "password", c.SASLPassword)
	log.Info("cfg", "config", slog.AnyValue(c))
	out := buf.String() + fmt.Sprintf("%v %+v %#v %s %v %+v %#v", c, c, c, s, s, s, s)
	if strings.Contains(out, "hunter2") {
		t.Fatalf("password printed: %s", out)
	}
	if !strings.Contains(out, "[redacted]") || !strings.Contains(out, `sasl PLAIN as \"u\"`) {
		t.Errorf("expected a redacted password and the user in %s", out)
	}
}

// TestExplainACLRefusal: a broker's authorization failure, from franz-go or
// sarama, names the refused user (never the password) and points at
// `kraite acls plan`; the cause stays wrapped; other errors are unchanged.
func TestExplainACLRefusal(t *testing.T) {
	withUser := kclient.Security{Mechanism: kclient.MechanismScramSHA256, Username: "kraite-eos", Password: kclient.Secret("hunter2-secret")}
	for _, cause := range []error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, sarama.ErrTopicAuthorizationFailed, sarama.ErrGroupAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed, sarama.ErrTransactionalIDAuthorizationFailed} {
		wrapped := fmt.Errorf("producing to kraite.positions: %w", cause)
		err := kclient.Explain(wrapped, withUser)
		if !errors.Is(err, cause) || !strings.Contains(err.Error(), `ACLs refuse user "kraite-eos"`) ||
			!strings.Contains(err.Error(), "kraite acls plan") || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: %v", cause, err)
		}
		if err := kclient.Explain(wrapped, kclient.Security{}); !errors.Is(err, cause) || !strings.Contains(err.Error(), "no SASL user") {
			t.Errorf("%v without SASL: %v", cause, err)
		}
	}
	other := fmt.Errorf("producing: %w", kerr.NotLeaderForPartition)
	if err := kclient.Explain(other, withUser); err != other {
		t.Errorf("an unrelated error changed: %v", err)
	}
}

// TestTLS: kfake can listen with TLS, so this is the real thing: a CA and
// a server certificate made here, the CA file given to the client through
// KRAITE_KAFKA_TLS_CA_FILE's field, SASL on top (SASL_SSL, the setting of
// every managed cluster), franz-go and goka both. A client that does not
// trust the CA, or speaks plaintext to the TLS listener, is refused with
// an error about TLS.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCfg := makeCA(t, dir)
	b := saslBroker(t, serverCfg)

	s, err := kclient.SecurityConfig{TLS: true, TLSCAFile: caFile,
		SASLMechanism: kclient.MechanismScramSHA256, SASLUsername: testUser, SASLPassword: testPass}.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := roundTrip(ctx, b.Addr(), s, "tls-franz"); err != nil {
		t.Fatalf("franz-go over TLS+SCRAM: %v", err)
	}

	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	gs := s
	gs.Mechanism = kclient.MechanismPlain
	kclient.SetDefault(gs)
	runGoka(t, b.Addr(), "tls-goka-in", "tls-goka-count")

	// The system roots do not know the test CA.
	untrusted, err := kclient.SecurityConfig{TLS: true, SASLMechanism: kclient.MechanismPlain, SASLUsername: testUser, SASLPassword: testPass}.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	err = roundTrip(ctx2, b.Addr(), untrusted, "tls-refused")
	if err == nil || !strings.Contains(err.Error(), "TLS") {
		t.Errorf("a client that does not trust the CA: %v, want a TLS error", err)
	}
	// Plaintext to a TLS listener.
	ctx3, cancel3 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel3()
	err = roundTrip(ctx3, b.Addr(), sec(kclient.MechanismPlain, testUser, testPass), "tls-refused")
	if err == nil || !strings.Contains(err.Error(), "KRAITE_KAFKA_TLS") {
		t.Errorf("a plaintext client at a TLS listener: %v, want an error that points at KRAITE_KAFKA_TLS", err)
	}
}

// makeCA writes a fresh CA certificate to dir and returns its file and a
// server TLS config with a certificate for 127.0.0.1 signed by it.
func makeCA(t *testing.T, dir string) (string, *tls.Config) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kraite test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "kfake"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, ca, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	// A client certificate signed by the same CA, for mutual TLS.
	cliKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cliDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "kraite-box"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, ca, &cliKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(cliKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cliDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "client-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{
		Certificate: [][]byte{srvDER}, PrivateKey: srvKey,
	}}}
}

// TestMutualTLS: a broker that requires a client certificate from the CA
// accepts one given through KRAITE_KAFKA_TLS_CERT_FILE/KEY_FILE's fields
// (franz-go and goka) and refuses a client without one.
func TestMutualTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, serverCfg := makeCA(t, dir)
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(caFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("reading the CA: %v", err)
	}
	serverCfg.ClientAuth, serverCfg.ClientCAs = tls.RequireAndVerifyClientCert, pool
	b := saslBroker(t, serverCfg)

	s, err := kclient.SecurityConfig{TLS: true, TLSCAFile: caFile,
		TLSCertFile: filepath.Join(dir, "client.pem"), TLSKeyFile: filepath.Join(dir, "client-key.pem"),
		SASLMechanism: kclient.MechanismScramSHA512, SASLUsername: testUser, SASLPassword: testPass}.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := roundTrip(ctx, b.Addr(), s, "mtls-franz"); err != nil {
		t.Fatalf("franz-go with a client certificate: %v", err)
	}
	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	kclient.SetDefault(s)
	runGoka(t, b.Addr(), "mtls-goka-in", "mtls-goka-count")

	noCert, err := kclient.SecurityConfig{TLS: true, TLSCAFile: caFile,
		SASLMechanism: kclient.MechanismScramSHA512, SASLUsername: testUser, SASLPassword: testPass}.Build()
	if err != nil {
		t.Fatal(err)
	}
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := roundTrip(ctx2, b.Addr(), noCert, "mtls-refused"); err == nil || !strings.Contains(err.Error(), "KRAITE_KAFKA_TLS_CERT_FILE") {
		t.Fatalf("a client without a certificate at a broker that requires one: %v, want a TLS error naming KRAITE_KAFKA_TLS_CERT_FILE", err)
	}
}
