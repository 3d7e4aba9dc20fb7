package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// rig is one database, one broker and the accounts topic on it.
type rig struct {
	d     *db.DB
	addr  string
	topic string
	pub   accounts.KafkaPublisher
	logs  *testkit.SyncBuffer
	log   *slog.Logger
}

func newRig(t *testing.T, d *db.DB) *rig {
	t.Helper()
	prefix := "acct."
	b := testkit.Broker(t, prefix)
	cl, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	logs := &testkit.SyncBuffer{}
	topic := topics.Accounts.Name(prefix)
	return &rig{d: d, addr: b.Addr(), topic: topic, pub: accounts.KafkaPublisher{Client: cl, Topic: topic}, logs: logs,
		log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
}

func (r *rig) open(t *testing.T, k accounts.Key, pub accounts.Publisher) *accounts.Store {
	t.Helper()
	s, err := accounts.Open(context.Background(), accounts.Config{DB: r.d, Key: k, Publisher: pub, Log: r.log})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// records reads every record of the topic, up to its end offsets now.
func (r *rig) records(t *testing.T) []*kgo.Record {
	t.Helper()
	return testkit.ReadAll(t, r.addr, r.topic)
}

// latest is the newest record value per key (nil = tombstone).
func latest(recs []*kgo.Record) map[string][]byte {
	m := map[string][]byte{}
	for _, r := range recs {
		m[string(r.Key)] = r.Value
	}
	return m
}

func mustKey(t *testing.T) accounts.Key {
	t.Helper()
	text, err := accounts.NewKeyText()
	if err != nil {
		t.Fatal(err)
	}
	k, err := accounts.ParseKey(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// failingPub fails every publication: the process "crashes" between the
// database commit and the acknowledgement.
type failingPub struct{}

func (failingPub) Publish(context.Context, []byte, []byte) error {
	return errors.New("broker unreachable")
}

func secretFor(id string) string { return "S3CRET-" + strings.Repeat(id, 2) + "-z9Qx" }

func TestStoreChangesArePublishedWithoutSecrets(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, f.New(t))
			k := mustKey(t)
			s := r.open(t, k, r.pub)
			var secrets []string
			for _, id := range []string{"acct-1", "acct-2", "acct-3"} {
				sec := secretFor(id)
				secrets = append(secrets, sec)
				if err := s.Add(ctx, "tester", accounts.Account{ID: id, Exchange: "binance", Label: "desk " + id, APIKey: "KEY" + id + "abcdef", APISecret: sec, Enabled: true}); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Add(ctx, "tester", accounts.Account{ID: "acct-1", Exchange: "binance", APIKey: "K1234567890", APISecret: "x", Enabled: true}); !errors.Is(err, accounts.ErrExists) {
				t.Fatalf("adding an existing account: %v", err)
			}
			if changed, err := s.SetEnabled(ctx, "tester", "acct-2", false); err != nil || !changed {
				t.Fatalf("disable: %v %v", changed, err)
			}
			if changed, err := s.SetEnabled(ctx, "tester", "acct-2", false); err != nil || changed {
				t.Fatalf("disabling twice changes something: %v %v", changed, err)
			}
			if _, err := s.SetEnabled(ctx, "tester", "nobody", true); !errors.Is(err, accounts.ErrNotFound) {
				t.Fatalf("enabling an unknown account: %v", err)
			}
			newSecret := "ROTATED-" + secretFor("acct-3")
			secrets = append(secrets, newSecret)
			if err := s.RotateSecret(ctx, "tester", "acct-3", "", newSecret); err != nil {
				t.Fatal(err)
			}
			if err := s.Remove(ctx, "tester", "acct-1"); err != nil {
				t.Fatal(err)
			}
			if err := s.Remove(ctx, "tester", "acct-1"); !errors.Is(err, accounts.ErrNotFound) {
				t.Fatalf("removing twice: %v", err)
			}

			// The table: acct-1 gone (its tombstone was acknowledged).
			list, err := s.List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != 2 || list[0].ID != "acct-2" || list[0].Enabled || list[0].Version != 2 || list[1].Version != 2 || list[1].Pending() {
				t.Fatalf("list: %+v", list)
			}
			c, err := s.Credentials(ctx, "acct-3")
			if err != nil || c.APISecret != newSecret || c.APIKey != "KEYacct-3abcdef" || c.Version != 2 || !c.Enabled {
				t.Fatalf("credentials of acct-3: %v (version %d)", err, c.Version)
			}
			c, err = s.Credentials(ctx, "acct-2")
			if err != nil || c.Enabled || c.APISecret != secretFor("acct-2") {
				t.Fatalf("credentials of the disabled acct-2: %v", err)
			}
			if _, err := s.Credentials(ctx, "acct-1"); !errors.Is(err, accounts.ErrNotFound) {
				t.Fatalf("credentials of a removed account: %v", err)
			}

			// The topic: every change, no secret, the newest per key as the table.
			recs := r.records(t)
			if len(recs) != 3+1+1+1 {
				t.Errorf("%d records, want 6 (3 adds, disable, rotate, remove)", len(recs))
			}
			for _, rec := range recs {
				for _, sec := range secrets {
					if bytes.Contains(rec.Value, []byte(sec)) || bytes.Contains(rec.Key, []byte(sec)) {
						t.Fatalf("a secret is on the topic: %s", rec.Value)
					}
				}
				if bytes.Contains(rec.Value, []byte("KEYacct")) {
					t.Fatalf("an API key is on the topic: %s", rec.Value)
				}
				if _, _, err := accounts.DecodeChange(rec.Key, rec.Value); err != nil {
					t.Fatalf("record %s does not decode: %v", rec.Key, err)
				}
			}
			last := latest(recs)
			if last["acct-1"] != nil {
				t.Errorf("acct-1 has no tombstone: %s", last["acct-1"])
			}
			ch, _, _ := accounts.DecodeChange([]byte("acct-2"), last["acct-2"])
			if ch.Enabled || ch.Version != 2 || ch.Exchange != "binance" {
				t.Errorf("acct-2 on the topic: %+v", ch)
			}
			ch, _, _ = accounts.DecodeChange([]byte("acct-3"), last["acct-3"])
			if !ch.Enabled || ch.Version != 2 {
				t.Errorf("acct-3 on the topic: %+v", ch)
			}

			// The audit: who, what, never a secret.
			audit, err := s.Audit(ctx, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(audit) != 6 || audit[0].Action != "remove" || audit[0].Actor != "tester" || audit[len(audit)-1].Action != "add" {
				t.Errorf("audit: %+v", audit)
			}
			dump := fmt.Sprint(dbtest.Dump(t, r.d, "SELECT * FROM account_audit"), dbtest.Dump(t, r.d, "SELECT * FROM accounts"))
			for _, sec := range secrets {
				if strings.Contains(dump, sec) {
					t.Fatalf("a secret is in the database in the clear")
				}
				if strings.Contains(r.logs.String(), sec) {
					t.Fatalf("a secret is in the logs:\n%s", r.logs)
				}
			}
			if !strings.Contains(r.logs.String(), "account added") {
				t.Errorf("no log of the changes:\n%s", r.logs)
			}
		})
	}
}

func TestStoreAPublicationInterruptedAfterTheCommitIsRepaired(t *testing.T) {
	for _, f := range dbtest.All()[:2] {
		t.Run(f.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, f.New(t))
			k := mustKey(t)
			good := r.open(t, k, r.pub)
			if err := good.Add(ctx, "t", accounts.Account{ID: "a1", Exchange: "binance", APIKey: "APIKEY-a1-xyz", APISecret: secretFor("a1"), Enabled: true}); err != nil {
				t.Fatal(err)
			}
			// The crash: the commit lands, the publication does not.
			crashed := r.open(t, k, failingPub{})
			_, err := crashed.SetEnabled(ctx, "t", "a1", false)
			if !errors.Is(err, accounts.ErrNotPublished) {
				t.Fatalf("disable without a broker: %v", err)
			}
			err = crashed.Remove(ctx, "t", "a1")
			if !errors.Is(err, accounts.ErrNotPublished) {
				t.Fatalf("remove without a broker: %v", err)
			}
			err = crashed.Add(ctx, "t", accounts.Account{ID: "a2", Exchange: "binance", APIKey: "APIKEY-a2-xyz", APISecret: secretFor("a2"), Enabled: true})
			if !errors.Is(err, accounts.ErrNotPublished) {
				t.Fatalf("add without a broker: %v", err)
			}
			list, _ := good.List(ctx)
			if len(list) != 2 || !list[0].Removed || !list[0].Pending() || !list[1].Pending() {
				t.Fatalf("the table after the crash: %+v", list)
			}
			if n := len(r.records(t)); n != 1 {
				t.Fatalf("%d records before the repair, want 1", n)
			}
			// The repair: what is ahead of the topic is published, once.
			n, err := good.PublishPending(ctx)
			if err != nil || n != 2 {
				t.Fatalf("publish pending: %d, %v", n, err)
			}
			if n, err := good.PublishPending(ctx); err != nil || n != 0 {
				t.Fatalf("publishing again: %d, %v", n, err)
			}
			last := latest(r.records(t))
			if v, ok := last["a1"]; !ok || v != nil {
				t.Errorf("a1 is not a tombstone on the topic: %q", v)
			}
			if ch, _, err := accounts.DecodeChange([]byte("a2"), last["a2"]); err != nil || ch.Version != 1 || !ch.Enabled {
				t.Errorf("a2 on the topic: %+v %v", ch, err)
			}
			if list, _ := good.List(ctx); len(list) != 1 || list[0].Pending() {
				t.Errorf("the table after the repair: %+v", list)
			}
			// A re-sync publishes everything again (a recreated topic).
			if n, err := good.Republish(ctx); err != nil || n != 1 {
				t.Fatalf("republish: %d %v", n, err)
			}
		})
	}
}

func TestStoreKeyIsCheckedRotatedAndBoundToTheAccount(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, f.New(t))
			oldKey, newKey := mustKey(t), mustKey(t)
			s := r.open(t, oldKey, r.pub)
			for _, id := range []string{"a1", "a2"} {
				if err := s.Add(ctx, "t", accounts.Account{ID: id, Exchange: "binance", APIKey: "APIKEY-" + id + "-xyz", APISecret: secretFor(id), Enabled: true}); err != nil {
					t.Fatal(err)
				}
			}
			// A wrong key is refused by fingerprint, before any decryption.
			if _, err := accounts.Open(ctx, accounts.Config{DB: r.d, Key: newKey}); !errors.Is(err, accounts.ErrWrongKey) ||
				!strings.Contains(err.Error(), oldKey.ID()) || !strings.Contains(err.Error(), newKey.ID()) {
				t.Fatalf("opening with a wrong key: %v", err)
			}
			if _, err := accounts.Open(ctx, accounts.Config{DB: r.d}); !errors.Is(err, accounts.ErrNoKey) {
				t.Fatalf("opening without a key: %v", err)
			}
			if _, err := s.RotateKey(ctx, "t", oldKey); err == nil {
				t.Fatal("rotating to the same key succeeded")
			}
			n, err := s.RotateKey(ctx, "ops", newKey)
			if err != nil || n != 2 {
				t.Fatalf("rotate key: %d %v", n, err)
			}
			if _, err := accounts.Open(ctx, accounts.Config{DB: r.d, Key: oldKey}); !errors.Is(err, accounts.ErrWrongKey) {
				t.Fatalf("the old key still opens the table: %v", err)
			}
			s2 := r.open(t, newKey, r.pub)
			for _, id := range []string{"a1", "a2"} {
				c, err := s2.Credentials(ctx, id)
				if err != nil || c.APISecret != secretFor(id) || c.Version != 1 {
					t.Fatalf("credentials of %s under the new key: %v", id, err)
				}
			}
			// The rotation published nothing (the secrets did not change).
			if n := len(r.records(t)); n != 2 {
				t.Errorf("%d records after the key rotation, want 2", n)
			}
			// Tamper: a1's ciphertext moved to a2 does not decrypt.
			var sealed string
			if err := r.d.QueryRowContext(ctx, r.d.Rebind("SELECT api_secret_enc FROM accounts WHERE account = ?"), "a1").Scan(&sealed); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(sealed, secretFor("a1")) {
				t.Fatal("the secret is stored in the clear")
			}
			if _, err := r.d.ExecContext(ctx, r.d.Rebind("UPDATE accounts SET api_secret_enc = ? WHERE account = ?"), sealed, "a2"); err != nil {
				t.Fatal(err)
			}
			if _, err := s2.Credentials(ctx, "a2"); !errors.Is(err, accounts.ErrUndecryptable) {
				t.Fatalf("a moved ciphertext: %v", err)
			}
			// A rotation with a tampered row fails as a whole: nothing changes.
			third := mustKey(t)
			if _, err := s2.RotateKey(ctx, "t", third); !errors.Is(err, accounts.ErrUndecryptable) {
				t.Fatalf("rotating over a tampered row: %v", err)
			}
			if c, err := s2.Credentials(ctx, "a1"); err != nil || c.APISecret != secretFor("a1") {
				t.Fatalf("a1 after the failed rotation: %v", err)
			}
			// A flipped bit fails too.
			b := []byte(sealed)
			b[len(b)-3] ^= 1
			if _, err := r.d.ExecContext(ctx, r.d.Rebind("UPDATE accounts SET api_secret_enc = ? WHERE account = ?"), string(b), "a1"); err != nil {
				t.Fatal(err)
			}
			if _, err := s2.Credentials(ctx, "a1"); !errors.Is(err, accounts.ErrUndecryptable) {
				t.Fatalf("a flipped bit: %v", err)
			}
			audit, _ := s2.Audit(ctx, "", 1)
			if len(audit) != 1 || audit[0].Action != "rotate-key" || audit[0].Actor != "ops" || !strings.Contains(audit[0].Detail, newKey.ID()) {
				t.Errorf("audit of the rotation: %+v", audit)
			}
		})
	}
}

func TestStoreImportIsIdempotentAndAllOrNothing(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, f.New(t))
			s := r.open(t, mustKey(t), r.pub)
			file := []byte(`[{"id":"acct-0001","api_key":"KEYAAAA1111","api_secret":"` + secretFor("1") + `"},
				{"id":"acct-0002","api_key":"KEYBBBB2222","api_secret":"` + secretFor("2") + `"}]`)
			accts, err := accounts.ParseFile(file, "binance")
			if err != nil {
				t.Fatal(err)
			}
			res, err := s.Import(ctx, "t", accts)
			if err != nil || len(res.Added) != 2 {
				t.Fatalf("import: %+v %v", res, err)
			}
			if _, err := s.SetEnabled(ctx, "t", "acct-0002", false); err != nil {
				t.Fatal(err)
			}
			res, err = s.Import(ctx, "t", accts)
			if err != nil || len(res.Unchanged) != 2 || len(res.Added)+len(res.Updated) != 0 {
				t.Fatalf("the same import again: %+v %v", res, err)
			}
			accts[0].APISecret = "NEW-" + secretFor("1")
			accts = append(accts, accounts.Account{ID: "acct-0003", Exchange: "binance", APIKey: "KEYCCCC3333", APISecret: secretFor("3"), Enabled: true})
			res, err = s.Import(ctx, "t", accts)
			if err != nil || len(res.Updated) != 1 || len(res.Added) != 1 || len(res.Unchanged) != 1 {
				t.Fatalf("import with a change: %+v %v", res, err)
			}
			if c, _ := s.Credentials(ctx, "acct-0001"); c.APISecret != "NEW-"+secretFor("1") || c.Version != 2 {
				t.Fatalf("acct-0001 after the import: version %d", c.Version)
			}
			if c, _ := s.Credentials(ctx, "acct-0002"); c.Enabled {
				t.Fatal("an import re-enabled a disabled account")
			}
			// One bad entry refuses the whole list.
			bad := append(accts[:1:1], accounts.Account{ID: "acct-0009", Exchange: "binance", APIKey: "KEY", APISecret: ""})
			if _, err := s.Import(ctx, "t", bad); err == nil {
				t.Fatal("an import with a bad entry succeeded")
			}
			if _, err := s.Import(ctx, "t", append(accts[:1:1], accts[0])); err == nil || !strings.Contains(err.Error(), "listed twice") {
				t.Fatalf("duplicate ids: %v", err)
			}
			if n := dbtest.Count(t, r.d, "FROM accounts"); n != 3 {
				t.Fatalf("%d accounts, want 3", n)
			}
			for _, rec := range r.records(t) {
				if bytes.Contains(rec.Value, []byte("S3CRET")) {
					t.Fatalf("a secret on the topic: %s", rec.Value)
				}
			}
		})
	}
}

// A row of the v1 table (no secret, unpublished) is published with its
// enabled flag, has no credentials until rotate-secret gives it a secret,
// and an id on two exchanges is refused rather than guessed.
func TestStoreTakesOverTheV1Rows(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, f.New(t))
			for _, q := range []string{
				"INSERT INTO accounts (exchange, account, name, active) VALUES ('binance', 'v1-off', 'desk', FALSE)",
				"INSERT INTO accounts (exchange, account, active) VALUES ('binance', 'v1-on', TRUE)",
				"INSERT INTO accounts (exchange, account, active) VALUES ('binance', 'twice', TRUE)",
				"INSERT INTO accounts (exchange, account, active) VALUES ('bybit', 'twice', TRUE)",
			} {
				if _, err := r.d.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			s := r.open(t, mustKey(t), r.pub)
			if _, err := s.Credentials(ctx, "v1-on"); !errors.Is(err, accounts.ErrNoSecret) {
				t.Fatalf("credentials of a v1 row: %v", err)
			}
			if _, err := s.Credentials(ctx, "twice"); err == nil || !strings.Contains(err.Error(), "several exchanges") {
				t.Fatalf("credentials of an id on two exchanges: %v", err)
			}
			// "twice" sorts first: the rows after it are published anyway.
			if n, err := s.PublishPending(ctx); err == nil || !strings.Contains(err.Error(), "several exchanges") || n != 2 {
				t.Fatalf("publishing an id on two exchanges: %d %v", n, err)
			}
			if _, err := r.d.ExecContext(ctx, "DELETE FROM accounts WHERE exchange = 'bybit'"); err != nil {
				t.Fatal(err)
			}
			if n, err := s.PublishPending(ctx); err != nil || n != 1 {
				t.Fatalf("publishing the v1 rows: %d %v", n, err)
			}
			if l, _ := s.List(ctx); len(l) != 3 || l[0].Pending() || l[1].Pending() || l[2].Pending() {
				t.Fatalf("the three v1 rows are not all published: %+v", l)
			}
			last := latest(r.records(t))
			if ch, _, err := accounts.DecodeChange([]byte("v1-off"), last["v1-off"]); err != nil || ch.Enabled || ch.Version != 1 || ch.ChangedAt != 0 {
				t.Fatalf("v1-off on the topic: %+v %v", ch, err)
			}
			if err := s.RotateSecret(ctx, "t", "v1-on", "APIKEY-v1on-xyz", secretFor("v1")); err != nil {
				t.Fatal(err)
			}
			if c, err := s.Credentials(ctx, "v1-on"); err != nil || c.APISecret != secretFor("v1") || c.Version != 2 {
				t.Fatalf("v1-on after rotate-secret: %v", err)
			}
			res, err := s.Import(ctx, "t", []accounts.Account{{ID: "v1-off", Exchange: "binance", APIKey: "APIKEY-v1off-xyz", APISecret: secretFor("v1off"), Enabled: true}})
			if err != nil || len(res.Updated) != 1 {
				t.Fatalf("importing over a v1 row: %+v %v", res, err)
			}
			if c, err := s.Credentials(ctx, "v1-off"); err != nil || c.Enabled || c.APISecret != secretFor("v1off") {
				t.Fatalf("v1-off after the import: enabled %t, %v", c.Enabled, err)
			}
			if l, _ := s.List(ctx); len(l) != 3 || l[2].Label != "desk" && l[1].Label != "desk" {
				t.Fatalf("list: %+v", l)
			}
		})
	}
}

// A row that can never be published (a v1 row without an exchange) stays
// pending and is named in the error, but stalls no other account: a change
// of another account after it is published, and a broker failure still
// stops the round at once.
func TestStoreAnUnpublishableRowStallsNoOtherAccount(t *testing.T) {
	for _, f := range dbtest.All() {
		t.Run(f.Name, func(t *testing.T) {
			ctx := context.Background()
			r := newRig(t, f.New(t))
			if _, err := r.d.ExecContext(ctx, "INSERT INTO accounts (exchange, account, active) VALUES ('', 'a-noexchange', TRUE)"); err != nil {
				t.Fatal(err)
			}
			k := mustKey(t)
			s := r.open(t, k, r.pub)
			err := s.Add(ctx, "t", accounts.Account{ID: "b-new", Exchange: "binance", APIKey: "APIKEY-bnew-xyz", APISecret: secretFor("bnew"), Enabled: true})
			if !errors.Is(err, accounts.ErrNotPublished) || !errors.Is(err, accounts.ErrBadChange) || !strings.Contains(err.Error(), "a-noexchange") {
				t.Fatalf("add with an unpublishable row pending: %v", err)
			}
			if strings.Contains(err.Error(), secretFor("bnew")) {
				t.Fatal("the error quotes the secret")
			}
			if l, err := s.List(ctx); err != nil || len(l) != 2 || !l[0].Pending() || l[1].Pending() {
				t.Fatalf("list: %+v %v", l, err)
			}
			if last := latest(r.records(t)); last["b-new"] == nil || len(last) != 1 {
				t.Fatalf("on the topic: %v", last)
			}
			if err := s.Remove(ctx, "t", "b-new"); !errors.Is(err, accounts.ErrNotPublished) {
				t.Fatalf("remove: %v", err)
			}
			if l, _ := s.List(ctx); len(l) != 1 || l[0].ID != "a-noexchange" {
				t.Fatalf("the tombstone of b-new was not acknowledged: %+v", l)
			}
			// The broker down: the round stops at the first account.
			if _, err := r.d.ExecContext(ctx, "INSERT INTO accounts (exchange, account, active) VALUES ('binance', 'c-v1', TRUE), ('binance', 'd-v1', TRUE)"); err != nil {
				t.Fatal(err)
			}
			var calls countingPub
			if n, err := r.open(t, k, &calls).PublishPending(ctx); n != 0 || err == nil || calls.n != 1 {
				t.Fatalf("broker down: %d published, %d attempts, %v", n, calls.n, err)
			}
		})
	}
}

// countingPub fails every publication and counts the attempts.
type countingPub struct{ n int }

func (p *countingPub) Publish(context.Context, []byte, []byte) error {
	p.n++
	return errors.New("broker unreachable")
}

// RunPublisher publishes a change whose publication was interrupted
// without anyone running a command, and stops with its context.
func TestStoreRunPublisherRepairsWithoutACommand(t *testing.T) {
	ctx := context.Background()
	r := newRig(t, dbtest.SQLite(t))
	k := mustKey(t)
	crashed := r.open(t, k, failingPub{})
	err := crashed.Add(ctx, "t", accounts.Account{ID: "a1", Exchange: "binance", APIKey: "APIKEY-a1-xyz", APISecret: secretFor("a1"), Enabled: true})
	if !errors.Is(err, accounts.ErrNotPublished) {
		t.Fatalf("add without a broker: %v", err)
	}
	s := r.open(t, k, r.pub)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.RunPublisher(rctx, 50*time.Millisecond) }()
	testkit.Eventually(t, 10*time.Second, "the pending change published", func() bool {
		l, err := s.List(ctx)
		return err == nil && len(l) == 1 && !l[0].Pending()
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if recs := r.records(t); len(recs) != 1 || string(recs[0].Key) != "a1" {
		t.Fatalf("records %v", recs)
	}
}
