package app

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// TestPerAccountJobsReadTheAccountsTable: with KRAITE_ACCOUNTS_SOURCE=
// database the scheduler's account list (what its per-account schedules
// fire for) is the enabled accounts of the accounts table and the workers'
// credentials come from the table: an account added or disabled with the
// Store changes both, a disabled or unknown account's credentials are
// refused (parked at once, the secret never in the error), the accounts
// file is not read, a worker without the key does not start, and kraite
// open judges against the table. File mode is unchanged.
func TestPerAccountJobsReadTheAccountsTable(t *testing.T) {
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
	pcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	st, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: testkit.Logger(t),
		Publisher: accounts.KafkaPublisher{Client: pcl, Topic: topics.Accounts.Name(prefix)}})
	if err != nil {
		t.Fatal(err)
	}
	secret := func(id string) string { return "secret-of-" + id + "-never-shown" }
	add := func(id string, enabled bool) {
		t.Helper()
		if err := st.Add(ctx, "test", accounts.Account{ID: id, Exchange: topics.ExchangeBinance, APIKey: "KEY" + id, APISecret: secret(id), Enabled: enabled}); err != nil {
			t.Fatal(err)
		}
	}
	add("acct-1", true)
	add("acct-2", true)
	add("acct-off", false)

	// A file the database mode must not read: its account is not served.
	file := filepath.Join(t.TempDir(), "accounts.json")
	if err := os.WriteFile(file, []byte(`[{"id":"file-only","api_key":"FILEKEY","api_secret":"filesecret"}]`), 0o600); err != nil {
		t.Fatal(err)
	}
	log := testkit.Logger(t)
	box := func(k accounts.KeyConfig, env ...string) *App {
		cfg, err := Load(append([]string{"KRAITE_BROKERS=" + b.Addr(), "KRAITE_DATABASE_URL=" + dbtest.URL(d), "KRAITE_ACCOUNTS_FILE=" + file}, env...))
		if err != nil {
			t.Fatal(err)
		}
		cfg.AccountsKey = k
		w := New(cfg, log)
		t.Cleanup(func() {
			if w.db != nil {
				_ = w.db.Close()
			}
		})
		return w
	}
	ids := func(w *App) []string {
		t.Helper()
		accts, err := w.accountList()
		if err != nil {
			t.Fatalf("account list: %v", err)
		}
		out := []string{}
		for _, a := range accts {
			out = append(out, a.ID)
		}
		return out
	}
	refused := func(w *App, id string) {
		t.Helper()
		c, err := w.credentials(id)
		if err == nil || !errors.Is(err, ErrAccountNotServed) || !errors.Is(err, worker.ErrPermanent) {
			t.Fatalf("credentials of %s: %+v, %v; want refused, permanent", id, c, err)
		}
		if !strings.Contains(err.Error(), id) || strings.Contains(err.Error(), secret(id)) {
			t.Errorf("refusal of %s: %q: want the account named and no secret", id, err)
		}
		if c.APIKey != "" || c.APISecret != "" {
			t.Errorf("refusal of %s carries credentials", id)
		}
	}
	served := func(w *App, id string) {
		t.Helper()
		c, err := w.credentials(id)
		if err != nil || c.APIKey != "KEY"+id || c.APISecret != secret(id) {
			t.Fatalf("credentials of %s: key %q, secret right %t, %v", id, c.APIKey, c.APISecret == secret(id), err)
		}
	}

	w := box(accounts.KeyConfig{Key: keyText}, "KRAITE_ACCOUNTS_SOURCE=database")
	// The scheduler's box needs no key to list; a worker does.
	if err := box(accounts.KeyConfig{}, "KRAITE_ACCOUNTS_SOURCE=database").openAccountsTable(ctx, false); err != nil {
		t.Fatalf("listing without a key: %v", err)
	}
	if _, err := buildWorker(ctx, box(accounts.KeyConfig{}, "KRAITE_ACCOUNTS_SOURCE=database"), "trading-worker", topics.Priority); !errors.Is(err, accounts.ErrNoKey) {
		t.Fatalf("a worker without the accounts key: %v, want ErrNoKey", err)
	}
	if err := w.openAccountsTable(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := ids(w); !slices.Equal(got, []string{"acct-1", "acct-2"}) {
		t.Fatalf("scheduler's accounts: %v, want the enabled accounts of the table", got)
	}
	served(w, "acct-1")
	refused(w, "acct-off")
	refused(w, "file-only")
	refused(w, "nobody")

	// kraite accounts add / disable: the list follows within seconds, the
	// credentials at once.
	add("acct-3", true)
	if _, err := st.SetEnabled(ctx, "test", "acct-1", false); err != nil {
		t.Fatal(err)
	}
	refused(w, "acct-1")
	served(w, "acct-3")
	testkit.Eventually(t, 10*time.Second, "the scheduler's list without acct-1 and with acct-3", func() bool {
		return slices.Equal(ids(w), []string{"acct-2", "acct-3"})
	})
	if _, err := st.SetEnabled(ctx, "test", "acct-off", true); err != nil {
		t.Fatal(err)
	}
	served(w, "acct-off")
	testkit.Eventually(t, 10*time.Second, "the scheduler's list with acct-off", func() bool {
		return slices.Equal(ids(w), []string{"acct-2", "acct-3", "acct-off"})
	})

	// kraite open judges against the table, not the file.
	sim, err := simulator.New(simulator.Config{Seed: 1, Accounts: 1, OrderInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	if _, err := marketjobs.ImportExchangeInfo(ctx, d, topics.ExchangeBinance, sim.ExchangeInfo(), time.Now()); err != nil {
		t.Fatal(err)
	}
	lim, err := w.Intents.Limits()
	if err != nil {
		t.Fatal(err)
	}
	for acct, want := range map[string]string{"acct-1": intents.ReasonAccountDisabled, "file-only": intents.ReasonUnknownAccount, "acct-3": ""} {
		r, cannot := PrevalidateOpen(ctx, w.Exchange, lim, topics.OpenIntent{Account: acct, Exchange: topics.ExchangeBinance,
			Symbol: "BTCUSDT", Side: "BUY", Size: "0.01", ClientID: "c"}, time.Now(), log)
		if cannot != nil {
			t.Fatalf("open on %s: cannot judge: %v", acct, cannot)
		}
		got := ""
		if r != nil && (r.Reason == intents.ReasonAccountDisabled || r.Reason == intents.ReasonUnknownAccount) {
			got = r.Reason
		}
		if got != want {
			t.Errorf("open on %s: %+v, want account reason %q", acct, r, want)
		}
	}

	// An account of another exchange in the table is not served: no
	// per-account job fires for it and its credentials are refused.
	if err := st.Add(ctx, "test", accounts.Account{ID: "acct-bybit", Exchange: "bybit", APIKey: "KEYbybit", APISecret: secret("acct-bybit"), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	refused(w, "acct-bybit")
	time.Sleep(accountsTableFor)
	if got := ids(w); slices.Contains(got, "acct-bybit") {
		t.Fatalf("scheduler's accounts %v include an account of bybit", got)
	}

	// File mode: the file's accounts and credentials, the table unread.
	fw := box(accounts.KeyConfig{Key: keyText})
	if err := fw.openAccountsTable(ctx, true); err != nil {
		t.Fatal(err)
	}
	if got := ids(fw); !slices.Equal(got, []string{"file-only"}) {
		t.Fatalf("file mode's accounts: %v", got)
	}
	if c, err := fw.credentials("file-only"); err != nil || c.APIKey != "FILEKEY" {
		t.Fatalf("file mode's credentials: %q, %v", c.APIKey, err)
	}
	if _, err := fw.credentials("acct-2"); err == nil {
		t.Fatal("file mode served an account of the table only")
	}
}

// TestTheSchedulerFiresForTheAccountsTable: a running scheduler in
// database mode fires the per-account keep-alive for the enabled accounts
// of the table, starts firing for an account added with the Store and
// stops firing for a disabled one within seconds, without a restart.
func TestTheSchedulerFiresForTheAccountsTable(t *testing.T) {
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
	pcl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer pcl.Close()
	st, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: testkit.Logger(t),
		Publisher: accounts.KafkaPublisher{Client: pcl, Topic: topics.Accounts.Name(prefix)}})
	if err != nil {
		t.Fatal(err)
	}
	add := func(id string) {
		t.Helper()
		if err := st.Add(ctx, "test", accounts.Account{ID: id, Exchange: topics.ExchangeBinance, APIKey: "KEY" + id, APISecret: "secret-" + id, Enabled: true}); err != nil {
			t.Fatal(err)
		}
	}
	add("acct-1")
	add("acct-2")

	// No accounts key: the scheduler lists the table without one.
	cfg, err := Load([]string{"KRAITE_BROKERS=" + b.Addr(), "KRAITE_DATABASE_URL=" + dbtest.URL(d),
		"KRAITE_ACCOUNTS_SOURCE=database", "KRAITE_KEEPALIVE_EVERY=2s"})
	if err != nil {
		t.Fatal(err)
	}
	w := New(cfg, testkit.Logger(t))
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
	r := testkit.NewReader(t, b.Addr(), topics.Priority.Name(prefix))
	fired := func(since time.Time) map[string]bool {
		out := map[string]bool{}
		for _, rec := range r.Poll(t) {
			var j topics.Job
			if err := json.Unmarshal(rec.Value, &j); err != nil {
				t.Fatalf("a job on the queue: %v", err)
			}
			if j.Type == reconcile.JobKeepAlive && time.UnixMilli(j.ScheduledMs).After(since) {
				out[j.Account] = true
			}
		}
		return out
	}
	testkit.Eventually(t, time.Minute, "keep-alive jobs of acct-1 and acct-2", func() bool {
		f := fired(time.Time{})
		return f["acct-1"] && f["acct-2"] && len(f) == 2
	})

	add("acct-3")
	if _, err := st.SetEnabled(ctx, "test", "acct-1", false); err != nil {
		t.Fatal(err)
	}
	// The list is reused for up to 3 s; after that only the table's
	// enabled accounts are fired for.
	settled := time.Now().Add(accountsTableFor + time.Second)
	testkit.Eventually(t, time.Minute, "keep-alive jobs of acct-2 and acct-3 scheduled after the change", func() bool {
		f := fired(settled)
		return f["acct-2"] && f["acct-3"]
	})
	time.Sleep(3 * time.Second) // two more keep-alive periods
	if f := fired(settled); f["acct-1"] || len(f) != 2 {
		t.Fatalf("jobs scheduled after the change: %v, want acct-2 and acct-3 only", f)
	}
}
