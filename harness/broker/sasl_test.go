package broker_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
)

func users(name, pass string, mechs ...string) []broker.User {
	var us []broker.User
	for _, m := range mechs {
		us = append(us, broker.User{Mechanism: m, Name: name, Password: pass})
	}
	return us
}

// connect reports whether a franz-go client with s authenticates to addr.
func connect(t *testing.T, addr string, s kclient.Security) error {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, s.KgoOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return kclient.Check(ctx, cl, s)
}

func scram(user, pass string) kclient.Security {
	return kclient.Security{Mechanism: kclient.MechanismScramSHA256, Username: user, Password: kclient.Secret(pass)}
}

// The configured SASL users are the truth across restarts of a data
// directory: a directory first run without SASL (whose persisted state
// holds no users) and then with SASL lets the configured user in; changed
// credentials replace the old ones (kfake alone would load the persisted
// users over the configured ones and lock the new password out).
func TestSASLUsersSurviveADataDirectory(t *testing.T) {
	dir := t.TempDir()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(t, b.Addr(), kclient.Security{}); err != nil {
		t.Fatalf("no SASL: %v", err)
	}
	b.Close()

	b, err = broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir,
		SASL: users("alice", "pw-1", kclient.MechanismScramSHA256, kclient.MechanismPlain)})
	if err != nil {
		t.Fatal(err)
	}
	if err := connect(t, b.Addr(), scram("alice", "pw-1")); err != nil {
		t.Fatalf("alice after a run without SASL: %v", err)
	}
	if err := connect(t, b.Addr(), kclient.Security{}); err == nil || !strings.Contains(err.Error(), "requires SASL") {
		t.Fatalf("anonymous client on a SASL broker: %v", err)
	}
	b.Close()

	b, err = broker.Start(broker.Config{Addr: "127.0.0.1:0", DataDir: dir,
		SASL: users("alice", "pw-2", kclient.MechanismScramSHA256)})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := connect(t, b.Addr(), scram("alice", "pw-2")); err != nil {
		t.Fatalf("alice with the new password: %v", err)
	}
	if err := connect(t, b.Addr(), scram("alice", "pw-1")); err == nil || !strings.Contains(err.Error(), "SASL authentication failed") {
		t.Fatalf("alice with the old password: %v", err)
	}
}

func TestSASLUsersAreValidated(t *testing.T) {
	for _, us := range [][]broker.User{
		users("alice", "pw", "GSSAPI"),
		users("", "pw", kclient.MechanismPlain),
		users("alice", "", kclient.MechanismPlain),
	} {
		if b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", SASL: us}); err == nil {
			b.Close()
			t.Errorf("%+v: started", us)
		}
	}
}
