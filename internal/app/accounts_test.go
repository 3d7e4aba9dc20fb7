package app

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// TestTheSchedulerRepublishesPendingAccountChanges: an account change saved
// in the table whose publication failed (the broker unreachable) is put on
// kraite.accounts by the scheduler's box on its own (accounts.Store.
// RunPublisher), without a secret; a box without an accounts key runs the
// scheduler alone, and a malformed key is a startup error.
func TestTheSchedulerRepublishesPendingAccountChanges(t *testing.T) {
	const prefix = "kraite."
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b := testkit.Broker(t, prefix)
	d := dbtest.MySQL(t)
	keyText, err := accounts.NewKeyText()
	if err != nil {
		t.Fatal(err)
	}
	key, err := accounts.ParseKey(keyText)
	if err != nil {
		t.Fatal(err)
	}
	// No broker listens on port 1: the change is saved, not published.
	dead, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer dead.Close()
	st, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: testkit.Logger(t),
		Publisher: accounts.KafkaPublisher{Client: dead, Topic: topics.Accounts.Name(prefix), Timeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	const secret = "s3cret-never-published"
	err = st.Add(ctx, "test", accounts.Account{ID: "acct-7", Exchange: topics.ExchangeBinance, APIKey: "AbCdEf123456", APISecret: secret, Enabled: true})
	if !errors.Is(err, accounts.ErrNotPublished) {
		t.Fatalf("add with the broker unreachable: %v, want ErrNotPublished", err)
	}

	log := testkit.Logger(t)
	box := func(k accounts.KeyConfig) *App {
		cfg, err := Load([]string{"KRAITE_BROKERS=" + b.Addr(), "KRAITE_DATABASE_URL=" + dbtest.URL(d)})
		if err != nil {
			t.Fatal(err)
		}
		cfg.AccountsKey = k
		return New(cfg, log)
	}
	w := box(accounts.KeyConfig{Key: keyText})
	c, err := buildScheduler(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(rctx, []Component{c}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("the scheduler's box: %v", err)
		}
	}()
	testkit.Eventually(t, time.Minute, "acct-7 on kraite.accounts and acknowledged in the table", func() bool {
		var on bool
		for _, r := range testkit.ReadAll(t, b.Addr(), topics.Accounts.Name(prefix)) {
			if strings.Contains(string(r.Value), secret) {
				t.Fatal("a secret reached kraite.accounts")
			}
			c, _, err := accounts.DecodeChange(r.Key, r.Value)
			on = on || err == nil && c.ID == "acct-7" && c.Version == 1 && c.Enabled
		}
		list, err := st.List(ctx)
		return on && err == nil && len(list) == 1 && !list[0].Pending()
	})

	// Without a key the scheduler runs alone; a malformed key is refused.
	if f, err := box(accounts.KeyConfig{}).accountsPublisher(ctx); f != nil || err != nil {
		t.Fatalf("no key: publisher %v, err %v; want neither", f != nil, err)
	}
	if _, err := box(accounts.KeyConfig{Key: "not-a-key"}).accountsPublisher(ctx); err == nil || strings.Contains(err.Error(), "not-a-key") {
		t.Fatalf("malformed key: %v, want an error that does not quote the key", err)
	}
}
