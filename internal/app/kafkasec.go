package app

// Kafka security of the operator commands: the operator commands' clients (one
// connection check, so a refused login is a clear error and not a client
// retrying in the background), and the SASL users the embedded broker of
// `kraite broker` and `kraite dev` requires.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
)

// KafkaClient is a franz-go client of an operator command: the seed
// brokers, the process's TLS and SASL (KRAITE_KAFKA_*) and opts, checked
// against the cluster before it is returned.
func KafkaClient(ctx context.Context, brokers []string, opts ...kgo.Opt) (*kgo.Client, error) {
	return kclient.ForBrokers(brokers...).Checked(ctx, opts...)
}

// BrokerSASL is the SASL user of the embedded broker (kraite broker and
// dev: --sasl-user, --sasl-password, --sasl-mechanism).
type BrokerSASL struct {
	User       string
	Password   string
	Mechanisms string
}

// DefaultBrokerMechanisms: SCRAM first (the in-process clients use the
// first one), PLAIN for clients that only speak PLAIN.
const DefaultBrokerMechanisms = "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"

// Build returns the broker's SASL users and the security of this process's
// own clients of that broker. Without --sasl-user the broker is open and the
// in-process clients are plaintext and anonymous whatever KRAITE_KAFKA_*
// says (they talk to the broker this process started, not to a cluster).
// With it, the in-process clients authenticate as that user with
// KRAITE_KAFKA_SASL_MECHANISM if the broker accepts it, else with the first
// mechanism of --sasl-mechanism.
func (f BrokerSASL) Build(c Common) ([]broker.User, kclient.Security, error) {
	if f.User == "" {
		if f.Password != "" {
			return nil, kclient.Security{}, errors.New("--sasl-password needs --sasl-user")
		}
		return nil, kclient.Security{}, nil
	}
	pass := f.Password
	if pass == "" {
		sec, err := c.Kafka.Build()
		if err != nil {
			return nil, kclient.Security{}, err
		}
		pass = string(sec.Password)
	}
	if pass == "" {
		return nil, kclient.Security{}, errors.New("--sasl-user needs a password: --sasl-password, KRAITE_KAFKA_SASL_PASSWORD or KRAITE_KAFKA_SASL_PASSWORD_FILE")
	}
	var mechs []string
	for m := range strings.SplitSeq(f.Mechanisms, ",") {
		if strings.TrimSpace(m) == "" {
			continue
		}
		pm, err := kclient.ParseMechanism(m)
		if err != nil {
			return nil, kclient.Security{}, fmt.Errorf("--sasl-mechanism: %w", err)
		}
		if !slices.Contains(mechs, pm) {
			mechs = append(mechs, pm)
		}
	}
	if len(mechs) == 0 {
		return nil, kclient.Security{}, errors.New("--sasl-mechanism: at least one mechanism is required")
	}
	users := make([]broker.User, 0, len(mechs))
	for _, m := range mechs {
		users = append(users, broker.User{Mechanism: m, Name: f.User, Password: pass})
	}
	client := mechs[0]
	if m, err := kclient.ParseMechanism(c.Kafka.SASLMechanism); err == nil && slices.Contains(mechs, m) {
		client = m
	}
	return users, kclient.Security{Mechanism: client, Username: f.User, Password: kclient.Secret(pass)}, nil
}

// SASLHint tells a person how to reach a SASL broker (never the password).
func SASLHint(users []broker.User, sec kclient.Security) string {
	if len(users) == 0 {
		return ""
	}
	mechs := make([]string, 0, len(users))
	for _, u := range users {
		mechs = append(mechs, u.Mechanism)
	}
	return fmt.Sprintf("  sasl       required: user %q, mechanisms %s. Point the CLI at it with\n"+
		"             KRAITE_KAFKA_SASL_MECHANISM=%s KRAITE_KAFKA_SASL_USERNAME=%s KRAITE_KAFKA_SASL_PASSWORD=...\n"+
		"             and rpk with -X user=%s -X pass=... -X sasl.mechanism=%s\n",
		sec.Username, strings.Join(mechs, ","), sec.Mechanism, sec.Username, sec.Username, sec.Mechanism)
}

// OpenBrokerEnv blanks KRAITE_KAFKA_* for a child process this process
// points at a broker it started without TLS or SASL (chaos's worker child),
// so an operator's cluster credentials in the environment do not make the
// child try them there.
func OpenBrokerEnv() []string {
	return []string{"KRAITE_KAFKA_SASL_MECHANISM=", "KRAITE_KAFKA_SASL_USERNAME=", "KRAITE_KAFKA_SASL_PASSWORD=",
		"KRAITE_KAFKA_SASL_PASSWORD_FILE=", "KRAITE_KAFKA_TLS=false", "KRAITE_KAFKA_TLS_CA_FILE=",
		"KRAITE_KAFKA_TLS_CERT_FILE=", "KRAITE_KAFKA_TLS_KEY_FILE="}
}
