package kclient

// # Security: TLS and SASL
//
// A production cluster (Redpanda Cloud, MSK, Confluent, a self-run Kafka
// with SASL_SSL) refuses a client that does not encrypt and authenticate.
// Kraite has two kinds of Kafka clients, franz-go (producers, sinks,
// workers, the CLI) and sarama (everything goka builds), and both must
// present the same identity over the same transport, so the settings are
// read once (SecurityConfig, from KRAITE_KAFKA_*), turned once into a
// Security value, and every builder of this package applies it:
// Security.KgoOpts for franz-go and Security.ApplySarama for sarama.
//
// The process-wide value (SetDefault, set by the command line at start-up
// like slog.SetDefault) is what a Factory without its own Security,
// ProducerOpts, BaseOpts, SaramaConfig and the goka option builders apply, so a client built anywhere in the process
// (including the goka emitters and sarama clients that processors build
// from SaramaConfig) cannot forget it.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The SASL mechanisms Kraite speaks (Kafka's names).
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms lists the supported SASL mechanisms.
func Mechanisms() []string {
	return []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512}
}

// ParseMechanism returns the canonical name of a SASL mechanism (case and
// surrounding space do not matter) or an error listing the supported ones.
func ParseMechanism(s string) (string, error) {
	m := strings.ToUpper(strings.TrimSpace(s))
	for _, ok := range Mechanisms() {
		if m == ok {
			return ok, nil
		}
	}
	return "", fmt.Errorf("%q is not a supported SASL mechanism (%s)", s, strings.Join(Mechanisms(), ", "))
}

// Secret is a string that never prints: fmt and slog show "[redacted]" (or
// "" when empty), so a configuration struct can be logged without leaking.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString keeps %#v from printing the secret either.
func (s Secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalJSON keeps JSON output (slog's JSON handler prints a struct that
// holds a Secret with encoding/json) from printing the secret.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// SecurityConfig is the Kafka security configuration as an operator writes
// it, one field per environment variable (the tags are read by the command
// line's environment parser).
type SecurityConfig struct {
	SASLMechanism    string `env:"KRAITE_KAFKA_SASL_MECHANISM"`
	SASLUsername     string `env:"KRAITE_KAFKA_SASL_USERNAME"`
	SASLPassword     Secret `env:"KRAITE_KAFKA_SASL_PASSWORD"`
	SASLPasswordFile string `env:"KRAITE_KAFKA_SASL_PASSWORD_FILE"`
	TLS              bool   `env:"KRAITE_KAFKA_TLS"`
	TLSCAFile        string `env:"KRAITE_KAFKA_TLS_CA_FILE"`
	TLSCertFile      string `env:"KRAITE_KAFKA_TLS_CERT_FILE"`
	TLSKeyFile       string `env:"KRAITE_KAFKA_TLS_KEY_FILE"`
}

// Build validates the configuration and reads the files it names. Every
// error names the variable to fix. Anything half configured is an error, not
// a silent fallback to plaintext or to no authentication.
func (c SecurityConfig) Build() (Security, error) {
	var s Security
	var errs []error
	password := string(c.SASLPassword)
	if c.SASLPasswordFile != "" {
		if password != "" {
			errs = append(errs, errors.New("KRAITE_KAFKA_SASL_PASSWORD and KRAITE_KAFKA_SASL_PASSWORD_FILE are both set: set one"))
		}
		b, err := os.ReadFile(c.SASLPasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("KRAITE_KAFKA_SASL_PASSWORD_FILE: %w", err))
		} else {
			// A file written by an editor or `echo` ends with a newline
			// that is not part of the password.
			password = strings.TrimRight(string(b), "\r\n")
			if password == "" {
				errs = append(errs, fmt.Errorf("KRAITE_KAFKA_SASL_PASSWORD_FILE: %s is empty", c.SASLPasswordFile))
			}
		}
	}
	switch {
	case c.SASLMechanism != "":
		m, err := ParseMechanism(c.SASLMechanism)
		if err != nil {
			errs = append(errs, fmt.Errorf("KRAITE_KAFKA_SASL_MECHANISM: %w", err))
		}
		s.Mechanism = m
		if c.SASLUsername == "" {
			errs = append(errs, errors.New("KRAITE_KAFKA_SASL_USERNAME: required when KRAITE_KAFKA_SASL_MECHANISM is set"))
		}
		if password == "" && c.SASLPasswordFile == "" {
			errs = append(errs, errors.New("KRAITE_KAFKA_SASL_PASSWORD (or KRAITE_KAFKA_SASL_PASSWORD_FILE): required when KRAITE_KAFKA_SASL_MECHANISM is set"))
		}
		s.Username, s.Password = c.SASLUsername, Secret(password)
	case c.SASLUsername != "" || password != "" || c.SASLPasswordFile != "":
		errs = append(errs, fmt.Errorf("KRAITE_KAFKA_SASL_MECHANISM: required when a SASL username or password is set (%s)", strings.Join(Mechanisms(), ", ")))
	}

	if !c.TLS {
		for _, f := range []struct{ name, val string }{
			{"KRAITE_KAFKA_TLS_CA_FILE", c.TLSCAFile},
			{"KRAITE_KAFKA_TLS_CERT_FILE", c.TLSCertFile},
			{"KRAITE_KAFKA_TLS_KEY_FILE", c.TLSKeyFile},
		} {
			if f.val != "" {
				errs = append(errs, fmt.Errorf("%s is set but KRAITE_KAFKA_TLS is not true: set KRAITE_KAFKA_TLS=true to use it", f.name))
			}
		}
		return s, errors.Join(errs...)
	}
	tc, err := tlsConfig(c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile)
	if err != nil {
		errs = append(errs, err)
	}
	s.TLS = tc
	return s, errors.Join(errs...)
}

// tlsConfig builds the client TLS configuration: TLS 1.2 at least, the
// system roots unless caFile names the CA bundle to trust, and a client
// certificate when certFile and keyFile are both given (mutual TLS).
func tlsConfig(caFile, certFile, keyFile string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("KRAITE_KAFKA_TLS_CA_FILE: %w", err))
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, fmt.Errorf("KRAITE_KAFKA_TLS_CA_FILE: %s holds no PEM certificate", caFile))
			}
			tc.RootCAs = pool
		}
	}
	switch {
	case certFile != "" && keyFile != "":
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("KRAITE_KAFKA_TLS_CERT_FILE/KRAITE_KAFKA_TLS_KEY_FILE: %w", err))
		} else {
			tc.Certificates = []tls.Certificate{cert}
		}
	case certFile != "":
		errs = append(errs, errors.New("KRAITE_KAFKA_TLS_KEY_FILE: required when KRAITE_KAFKA_TLS_CERT_FILE is set"))
	case keyFile != "":
		errs = append(errs, errors.New("KRAITE_KAFKA_TLS_CERT_FILE: required when KRAITE_KAFKA_TLS_KEY_FILE is set"))
	}
	return tc, errors.Join(errs...)
}

// Security is how a Kafka client connects: TLS (nil = plaintext) and SASL
// (empty Mechanism = none). The zero value is a plaintext, anonymous client.
type Security struct {
	Mechanism string // PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or "" for none
	Username  string
	Password  Secret
	TLS       *tls.Config
}

// SASL reports whether the client authenticates.
func (s Security) SASL() bool { return s.Mechanism != "" }

// String describes the security without the password, for logs.
func (s Security) String() string {
	tr := "plaintext"
	if s.TLS != nil {
		tr = "tls"
	}
	if !s.SASL() {
		return tr + ", no sasl"
	}
	return fmt.Sprintf("%s, sasl %s as %q", tr, s.Mechanism, s.Username)
}

// LogValue implements slog.LogValuer (never the password).
func (s Security) LogValue() slog.Value { return slog.StringValue(s.String()) }

// Warning is a reason to worry about this security with these brokers, or
// "": SASL PLAIN sends the password as it is, so without TLS anyone on the
// path to a broker that is not on this machine reads it.
func (s Security) Warning(brokers []string) string {
	if s.Mechanism != MechanismPlain || s.TLS != nil {
		return ""
	}
	for _, b := range brokers {
		host, _, err := net.SplitHostPort(b)
		if err != nil {
			host = b
		}
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return "KRAITE_KAFKA_SASL_MECHANISM=PLAIN without KRAITE_KAFKA_TLS=true sends the password in clear to " + b + ": enable TLS or use SCRAM"
		}
	}
	return ""
}

// mechanism is the franz-go SASL mechanism, nil without SASL.
func (s Security) mechanism() sasl.Mechanism {
	switch s.Mechanism {
	case MechanismPlain:
		return plain.Auth{User: s.Username, Pass: string(s.Password)}.AsMechanism()
	case MechanismScramSHA256:
		return boundedScram{scram.Auth{User: s.Username, Pass: string(s.Password)}.AsSha256Mechanism()}
	case MechanismScramSHA512:
		return boundedScram{scram.Auth{User: s.Username, Pass: string(s.Password)}.AsSha512Mechanism()}
	}
	return nil
}

// MaxScramIterations is the most PBKDF2 iterations a broker may ask of
// the client: Kafka's own limit for SCRAM credentials (4096 is the usual
// value). The iteration count comes from the server's first message, and a
// hostile or impersonated broker asking for 2^31 would pin a core for
// minutes in every client at every connection, so more is refused.
const MaxScramIterations = 16384

// boundedScram is a SCRAM mechanism whose session refuses a server-first
// message asking for more than MaxScramIterations before any key is
// derived (franz-go's SCRAM has a minimum but no maximum).
type boundedScram struct{ sasl.Mechanism }

func (m boundedScram) Authenticate(ctx context.Context, host string) (sasl.Session, []byte, error) {
	sess, first, err := m.Mechanism.Authenticate(ctx, host)
	if err != nil {
		return nil, nil, err
	}
	return &boundedSession{Session: sess}, first, nil
}

type boundedSession struct {
	sasl.Session
	step int
}

func (s *boundedSession) Challenge(msg []byte) (bool, []byte, error) {
	if s.step == 0 {
		if err := checkIterations(msg); err != nil {
			return false, nil, err
		}
	}
	s.step++
	return s.Session.Challenge(msg)
}

// checkIterations finds i= in a SCRAM server-first message (RFC 5802:
// r=...,s=...,i=N[,ext]) and refuses a count above MaxScramIterations.
// Anything else malformed is left to the SCRAM session, which refuses it.
func checkIterations(msg []byte) error {
	for kv := range strings.SplitSeq(string(msg), ",") {
		v, ok := strings.CutPrefix(kv, "i=")
		if !ok {
			continue
		}
		n := 0
		for _, c := range v {
			if c < '0' || c > '9' {
				return nil // not a number: the session refuses it
			}
			n = n*10 + int(c-'0')
			if n > MaxScramIterations {
				return fmt.Errorf("SCRAM: the broker asks for more than %d iterations; refused", MaxScramIterations)
			}
		}
		return nil
	}
	return nil
}

// KgoOpts are the franz-go options of this security: DialTLSConfig and
// SASL. Empty for a plaintext anonymous client.
func (s Security) KgoOpts() []kgo.Opt {
	var opts []kgo.Opt
	if s.TLS != nil {
		// franz-go clones it per connection and sets ServerName from the
		// broker's host when it is empty.
		opts = append(opts, kgo.DialTLSConfig(s.TLS.Clone()))
	}
	if m := s.mechanism(); m != nil {
		opts = append(opts, kgo.SASL(m))
	}
	return opts
}

// ApplySarama sets sarama's Net.TLS and Net.SASL (goka's clients). SCRAM
// runs franz-go's SCRAM implementation through an adapter, so both kinds of
// clients share one SCRAM code path and Kraite needs no third SCRAM library.
func (s Security) ApplySarama(cfg *sarama.Config) {
	if s.TLS != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = s.TLS.Clone()
	}
	if !s.SASL() {
		return
	}
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Version = sarama.SASLHandshakeV1
	cfg.Net.SASL.User = s.Username
	cfg.Net.SASL.Password = string(s.Password)
	switch s.Mechanism {
	case MechanismPlain:
		cfg.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case MechanismScramSHA256:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			return &scramClient{mech: func(a scram.Auth) sasl.Mechanism { return boundedScram{a.AsSha256Mechanism()} }}
		}
	case MechanismScramSHA512:
		cfg.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient {
			return &scramClient{mech: func(a scram.Auth) sasl.Mechanism { return boundedScram{a.AsSha512Mechanism()} }}
		}
	}
}

// scramClient is sarama's SCRAMClient on top of franz-go's SCRAM session:
// Step("") is the client-first message, then every server message goes to
// the session until it reports done.
type scramClient struct {
	mech    func(scram.Auth) saslMechanism
	session sasl.Session
	first   []byte
	started bool
	done    bool
}

func (c *scramClient) Begin(user, password, authzID string) error {
	sess, first, err := c.mech(scram.Auth{User: user, Pass: password, Zid: authzID}).Authenticate(context.Background(), "")
	if err != nil {
		return err
	}
	c.session, c.first = sess, first
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	if c.session == nil {
		return "", errors.New("scram: Step before Begin")
	}
	if !c.started {
		c.started = true
		return string(c.first), nil
	}
	done, resp, err := c.session.Challenge([]byte(challenge))
	if err != nil {
		return "", err
	}
	c.done = done
	return string(resp), nil
}

func (c *scramClient) Done() bool { return c.done }

var defaultSecurity atomic.Pointer[Security]

// SetDefault sets the process-wide security that ProducerOpts, BaseOpts,
// SaramaConfig and the goka builders apply. The command line calls it once
// at start-up, before it builds any client.
func SetDefault(s Security) { defaultSecurity.Store(&s) }

// DefaultSecurity is the process-wide security (zero value until SetDefault).
func DefaultSecurity() Security {
	if p := defaultSecurity.Load(); p != nil {
		return *p
	}
	return Security{}
}

// BaseOpts are the options every franz-go client starts from: the seed
// brokers and the process's TLS and SASL. Callers append their own
// (consume topics, client id, timeouts).
func BaseOpts(brokers []string) []kgo.Opt {
	return append([]kgo.Opt{kgo.SeedBrokers(brokers...)}, DefaultSecurity().KgoOpts()...)
}

// CheckTimeout bounds Check when the caller's context has no deadline.
const CheckTimeout = 15 * time.Second

// Check makes cl connect and authenticate to one broker now, so a wrong
// password or a missing TLS setting is a clear start-up error instead of a
// client that retries in the background forever. The error is Explain's.
func Check(ctx context.Context, cl *kgo.Client, s Security) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, CheckTimeout)
		defer cancel()
	}
	if err := cl.Ping(ctx); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			seeds, _ := cl.OptValue(kgo.SeedBrokers).([]string)
			return fmt.Errorf("connecting to Kafka (%s): no broker of %s answered in time: check KRAITE_BROKERS, and KRAITE_KAFKA_TLS if the listener speaks TLS (%w)", s, strings.Join(seeds, ","), err)
		}
		return fmt.Errorf("connecting to Kafka (%s): %w", s, Explain(err, s))
	}
	return nil
}

// Explain turns a connection error into one that names the likely cause
// when TLS or SASL is involved: a broker that refuses the credentials
// (Kafka's SASL_AUTHENTICATION_FAILED, or a broker that simply closes the
// connection during authentication), a broker that wants SASL from a client
// without it, or a TLS mismatch. Other errors come back unchanged; the
// original stays wrapped either way.
func Explain(err error, s Security) error {
	if err == nil {
		return nil
	}
	if aclRefusal(err) {
		who := "this client (no SASL user)"
		if s.SASL() {
			who = fmt.Sprintf("user %q", s.Username)
		}
		return fmt.Errorf("Kafka's ACLs refuse %s (%w): the principal has no ACL for this topic, group or cluster operation; `kraite acls plan` lists what each role and the operator may do", who, err)
	}
	if errors.Is(err, kerr.SaslAuthenticationFailed) || errors.Is(err, sarama.ErrSASLAuthenticationFailed) ||
		errors.Is(err, kerr.UnsupportedSaslMechanism) || errors.Is(err, sarama.ErrUnsupportedSASLMechanism) ||
		errors.Is(err, kerr.IllegalSaslState) || errors.Is(err, sarama.ErrIllegalSASLState) {
		return authFailed(err, s)
	}
	var eof *kgo.ErrFirstReadEOF
	if errors.As(err, &eof) {
		// franz-go's guess at why the broker hung up, from where it did.
		switch msg := eof.Error(); {
		case strings.Contains(msg, "requires TLS"):
			return fmt.Errorf("Kafka broker closed the connection during the first request (%w): its listener probably speaks TLS; set KRAITE_KAFKA_TLS=true (and KRAITE_KAFKA_TLS_CA_FILE for a private CA)", err)
		case strings.Contains(msg, "using TLS when"):
			return fmt.Errorf("Kafka broker closed the connection after the TLS dial (%w): its listener probably does not speak TLS; check KRAITE_KAFKA_TLS and the port in KRAITE_BROKERS", err)
		}
	}
	closed := eof != nil || strings.Contains(err.Error(), "broker closed the connection") ||
		strings.Contains(err.Error(), "EOF") || strings.Contains(err.Error(), "connection reset by peer")
	if !closed {
		if s.TLS != nil && isTLSError(err) {
			return fmt.Errorf("Kafka TLS handshake failed (%w): check KRAITE_KAFKA_TLS_CA_FILE, KRAITE_KAFKA_TLS_CERT_FILE/KEY_FILE and that the broker listener speaks TLS", err)
		}
		return err
	}
	switch {
	case s.SASL():
		return authFailed(err, s)
	case s.TLS == nil:
		return fmt.Errorf("Kafka broker closed the connection (%w): it probably requires SASL or TLS; set KRAITE_KAFKA_SASL_MECHANISM, KRAITE_KAFKA_SASL_USERNAME, KRAITE_KAFKA_SASL_PASSWORD (and KRAITE_KAFKA_TLS=true if its listener is TLS)", err)
	default:
		return fmt.Errorf("Kafka broker closed the connection (%w): it probably requires SASL; set KRAITE_KAFKA_SASL_MECHANISM, KRAITE_KAFKA_SASL_USERNAME and KRAITE_KAFKA_SASL_PASSWORD", err)
	}
}

// aclRefusal reports whether err is the broker's authorization failure, as
// franz-go (kerr) or sarama (goka) returns it.
func aclRefusal(err error) bool {
	for _, e := range []error{kerr.TopicAuthorizationFailed, kerr.GroupAuthorizationFailed, kerr.ClusterAuthorizationFailed,
		kerr.TransactionalIDAuthorizationFailed, sarama.ErrTopicAuthorizationFailed, sarama.ErrGroupAuthorizationFailed,
		sarama.ErrClusterAuthorizationFailed, sarama.ErrTransactionalIDAuthorizationFailed} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func authFailed(err error, s Security) error {
	if !s.SASL() {
		return fmt.Errorf("Kafka SASL authentication failed (%w): the broker requires SASL; set KRAITE_KAFKA_SASL_MECHANISM, KRAITE_KAFKA_SASL_USERNAME and KRAITE_KAFKA_SASL_PASSWORD", err)
	}
	// Kafka answers SASL_AUTHENTICATION_FAILED; some brokers (kfake) just
	// close the connection on bad credentials or an unknown mechanism.
	return fmt.Errorf("Kafka SASL authentication failed for user %q (mechanism %s): wrong password, unknown user or a mechanism the broker does not accept; check KRAITE_KAFKA_SASL_* (%w)", s.Username, s.Mechanism, err)
}

func isTLSError(err error) bool {
	var rec tls.RecordHeaderError
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var verr *tls.CertificateVerificationError
	return errors.As(err, &rec) || errors.As(err, &unk) || errors.As(err, &host) ||
		errors.As(err, &inv) || errors.As(err, &verr) || strings.Contains(err.Error(), "tls:")
}

// saslMechanism is franz-go's SASL mechanism (a name for the adapter's
// constructor, so tests can build one with a fixed nonce).
type saslMechanism = sasl.Mechanism
