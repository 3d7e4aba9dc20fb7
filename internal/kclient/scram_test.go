package kclient

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// serverFirst is what a broker answers to the client-first message of a
// session whose client nonce is "kraitenonce" (base64 a3JhaXRlbm9uY2U) (as kfake and Kafka write it).
const serverFirst = "r=a3JhaXRlbm9uY2USERVERPART,s=c2FsdHNhbHRzYWx0,i=4096"

func boundedSession256(t testing.TB) *boundedSession {
	sess, first, err := boundedScram{scram.Auth{User: "u", Pass: "p", Nonce: []byte("kraitenonce")}.AsSha256Mechanism()}.
		Authenticate(context.Background(), "")
	if err != nil || !strings.Contains(string(first), "r=a3JhaXRlbm9uY2U") {
		t.Fatalf("client-first %q: %v", first, err)
	}
	return sess.(*boundedSession)
}

// A broker (hostile, or impersonated on a plaintext network) that asks for
// 2^31 PBKDF2 iterations is refused at once instead of pinning a core in
// every client at every connection; Kafka's usual 4096 goes through.
func TestScramIterationsAreBounded(t *testing.T) {
	for _, it := range []string{"2147483647", "16385", "99999999999999999999999999"} {
		start := time.Now()
		_, _, err := boundedSession256(t).Challenge([]byte("r=a3JhaXRlbm9uY2UX,s=c2FsdA==,i=" + it))
		if err == nil || !strings.Contains(err.Error(), "iterations") || time.Since(start) > time.Second {
			t.Errorf("i=%s: %v after %s", it, err, time.Since(start))
		}
	}
	done, final, err := boundedSession256(t).Challenge([]byte(serverFirst))
	if err != nil || done || !strings.HasPrefix(string(final), "c=biws,r=a3JhaXRlbm9uY2USERVERPART,p=") {
		t.Fatalf("a normal server-first message: %v %q %v", done, final, err)
	}
	// The sarama adapter goes through the same bound.
	c := &scramClient{mech: func(a scram.Auth) saslMechanism {
		a.Nonce = []byte("kraitenonce")
		return boundedScram{a.AsSha512Mechanism()}
	}}
	if err := c.Begin("u", "p", ""); err != nil {
		t.Fatal(err)
	}
	if first, err := c.Step(""); err != nil || !strings.Contains(first, "n=u,r=a3JhaXRlbm9uY2U") {
		t.Fatalf("sarama client-first %q: %v", first, err)
	}
	if _, err := c.Step("r=a3JhaXRlbm9uY2UX,s=c2FsdA==,i=2147483647"); err == nil || c.Done() {
		t.Fatalf("sarama adapter accepted 2^31 iterations: %v", err)
	}
}

// FuzzScramServerFirst: whatever a broker sends as its first SCRAM message,
// the client neither panics nor derives a key with more than
// MaxScramIterations iterations.
func FuzzScramServerFirst(f *testing.F) {
	for _, s := range []string{serverFirst, "", ",,", "r=,s=,i=", "r=a3JhaXRlbm9uY2U,s=!!,i=4096",
		"r=a3JhaXRlbm9uY2UX,s=c2FsdA==,i=-1", "r=a3JhaXRlbm9uY2UX,s=c2FsdA==,i=16384", "r=a3JhaXRlbm9uY2UX,s=c2FsdA==,i=16385",
		"r=a3JhaXRlbm9uY2UX,s=c2FsdA==,i=4096,e=ext", "i=4096,r=a3JhaXRlbm9uY2U,s=c2FsdA==", "r=other,s=c2FsdA==,i=4096",
		"e=server-error"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		start := time.Now()
		done, _, err := boundedSession256(t).Challenge(msg)
		if done {
			t.Fatalf("%q: a server-first message ended the exchange", msg)
		}
		if err == nil && time.Since(start) > 2*time.Second {
			t.Fatalf("%q: %s deriving the key", msg, time.Since(start))
		}
	})
}
