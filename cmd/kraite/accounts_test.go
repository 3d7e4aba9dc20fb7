package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// TestAccountsCommandsNeverShowASecret runs every accounts subcommand the way
// an operator does, on MariaDB and PostgreSQL with a kfake broker, and greps
// everything they printed and logged, every record of kraite.accounts and
// every row of the database for the secrets.
func TestAccountsCommandsNeverShowASecret(t *testing.T) {
	for _, f := range dbtest.All()[:2] {
		t.Run(f.Name, func(t *testing.T) {
			d := f.New(t)
			b := testkit.Broker(t, "kraite.")
			dir := t.TempDir()
			t.Setenv("KRAITE_BROKERS", b.Addr())
			t.Setenv("KRAITE_TOPIC_PREFIX", "kraite.")
			t.Setenv("KRAITE_DATABASE_URL", dbtest.URL(d))
			t.Setenv("KRAITE_LOG_LEVEL", "debug")
			t.Setenv("KRAITE_ACCOUNTS_KEY", "")
			t.Setenv("KRAITE_ACCOUNTS_KEY_FILE", "")
			for _, k := range []string{"KRAITE_KAFKA_SASL_MECHANISM", "KRAITE_KAFKA_TLS", "KRAITE_KAFKA_TLS_CA_FILE"} {
				t.Setenv(k, "")
			}
			var all bytes.Buffer // every byte any command printed or logged
			run := func(stdin string, args ...string) (string, error) {
				t.Helper()
				var out, errOut bytes.Buffer
				err := newApp(strings.NewReader(stdin), &out, &errOut).main(context.Background(), append([]string{"accounts"}, args...))
				cli.ExitCode(&errOut, err)
				all.WriteString(out.String() + errOut.String())
				return out.String() + errOut.String(), err
			}
			ok := func(stdin string, args ...string) string {
				t.Helper()
				out, err := run(stdin, args...)
				if err != nil {
					t.Fatalf("kraite accounts %s: %v\n%s", strings.Join(args, " "), err, out)
				}
				return out
			}
			fails := func(want, stdin string, args ...string) {
				t.Helper()
				out, err := run(stdin, args...)
				if err == nil || !strings.Contains(out, want) {
					t.Fatalf("kraite accounts %s: %v, want an error with %q:\n%s", strings.Join(args, " "), err, want, out)
				}
			}
			secrets := []string{"Sec1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "Sec2-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
				"Sec3-cccccccccccccccccccccccccccccccccccc", "Sec4-dddddddddddddddddddddddddddddddddddd",
				"Sec5-eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee"}
			key1, key2 := filepath.Join(dir, "k1"), filepath.Join(dir, "k2")
			ok("", "new-key", key1)
			ok("", "new-key", key2)
			fails("creating key file", "", "new-key", key1) // never overwritten

			// No key, a malformed key, a world-readable key file: clear errors.
			fails("no accounts key", "", "list")
			t.Setenv("KRAITE_ACCOUNTS_KEY", "not base64 !!")
			fails("KRAITE_ACCOUNTS_KEY: the key is not base64", "", "list")
			t.Setenv("KRAITE_ACCOUNTS_KEY", "c2hvcnQ=")
			fails("decodes to 5 bytes, want 32", "", "list")
			t.Setenv("KRAITE_ACCOUNTS_KEY", "")
			loose := filepath.Join(dir, "loose")
			data, _ := os.ReadFile(key1)
			if err := os.WriteFile(loose, data, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Setenv("KRAITE_ACCOUNTS_KEY_FILE", loose)
			fails("chmod 600", "", "list")
			t.Setenv("KRAITE_ACCOUNTS_KEY_FILE", key1)

			out := ok(secrets[0]+"\n", "add", "acct-1", "--api-key", "AKEY1xxxxxxxx", "--label", "desk one")
			if !strings.Contains(out, "account acct-1 added") || !strings.Contains(out, "AKEY****") {
				t.Errorf("add printed:\n%s", out)
			}
			secFile := filepath.Join(dir, "secret")
			if err := os.WriteFile(secFile, []byte(secrets[1]+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			ok("", "add", "acct-2", "--api-key", "AKEY2xxxxxxxx", "--secret-file", secFile, "--disabled")
			fails("already exists", secrets[2], "add", "acct-1", "--api-key", "AKEY9xxxxxxxx")
			fails("no API secret on stdin", "", "add", "acct-9", "--api-key", "AKEY9xxxxxxxx")
			fails("more than one line", "a\nb\n", "add", "acct-9", "--api-key", "AKEY9xxxxxxxx")
			fails("longer than 256", strings.Repeat("x", 300), "add", "acct-9", "--api-key", "AKEY9xxxxxxxx")
			fails("flag provided but not defined: -secret", "", "add", "acct-9", "--api-key", "AKEY9xxxxxxxx", "--secret", secrets[2])
			fails("only visible ASCII", secrets[2], "add", "acct 9", "--api-key", "AKEY9xxxxxxxx")

			ok("", "enable", "acct-2")
			if out := ok("", "enable", "acct-2"); !strings.Contains(out, "already enabled") {
				t.Errorf("enable twice:\n%s", out)
			}
			ok("", "disable", "acct-1")
			ok("", "enable", "acct-1")
			fails("account not found", "", "disable", "nobody")
			ok(secrets[2]+"\n", "rotate-secret", "acct-1", "--api-key", "AKEY1yyyyyyyy")

			file := filepath.Join(dir, "accounts.json")
			if err := os.WriteFile(file, []byte(fmt.Sprintf(`[{"id":"acct-2","api_key":"AKEY2xxxxxxxx","api_secret":%q},
				{"id":"acct-3","api_key":"AKEY3xxxxxxxx","api_secret":%q},{"id":"acct-4","api_key":"AKEY4xxxxxxxx","api_secret":%q}]`,
				secrets[1], secrets[3], secrets[4])), 0o600); err != nil {
				t.Fatal(err)
			}
			if out := ok("", "import", file); !strings.Contains(out, "2 added, 0 updated, 1 unchanged") {
				t.Errorf("import printed:\n%s", out)
			}
			if out := ok("", "import", file); !strings.Contains(out, "0 added, 0 updated, 3 unchanged") {
				t.Errorf("import again printed:\n%s", out)
			}
			garbage := filepath.Join(dir, "garbage.json")
			if err := os.WriteFile(garbage, []byte(`[{"id":"acct-5","api_key":"K","api_secret":"`+secrets[0]+`"},{"id":"acct-5"}`), 0o600); err != nil {
				t.Fatal(err)
			}
			fails("cut short", "", "import", garbage)
			ok("", "remove", "acct-4")

			out = ok("", "list")
			for _, want := range []string{"acct-1", "acct-2", "acct-3", "AKEY****", "desk one", "enabled"} {
				if !strings.Contains(out, want) {
					t.Errorf("list has no %q:\n%s", want, out)
				}
			}
			if strings.Contains(out, "acct-4") || strings.Contains(out, "not yet on kraite.accounts") {
				t.Errorf("list after the remove:\n%s", out)
			}
			if out := ok("", "publish"); !strings.Contains(out, "0 record(s) published") {
				t.Errorf("publish with nothing pending:\n%s", out)
			}
			if out := ok("", "publish", "--all"); !strings.Contains(out, "3 record(s) published") {
				t.Errorf("publish --all:\n%s", out)
			}
			out = ok("", "audit")
			for _, want := range []string{"rotate-secret", "import-add", "remove", "acct-4", "disable"} {
				if !strings.Contains(out, want) {
					t.Errorf("audit has no %q:\n%s", want, out)
				}
			}

			// Key rotation: the old key no longer opens the table, the new one does.
			out = ok("", "rotate-key", "--new-key-file", key2)
			if !strings.Contains(out, "3 secrets re-encrypted") {
				t.Errorf("rotate-key printed:\n%s", out)
			}
			fails("wrong accounts key", "", "list")
			t.Setenv("KRAITE_ACCOUNTS_KEY_FILE", key2)
			ok("", "list")

			// The topic: the table's state, never a secret or an API key.
			recs := testkit.ReadAll(t, b.Addr(), topics.Accounts.Name("kraite."))
			last := map[string][]byte{}
			for _, r := range recs {
				last[string(r.Key)] = r.Value
				for _, s := range append(secrets, "AKEY") {
					if bytes.Contains(r.Value, []byte(s)) {
						t.Fatalf("kraite.accounts carries %q: %s", s, r.Value)
					}
				}
			}
			if v, ok := last["acct-4"]; !ok || v != nil {
				t.Errorf("acct-4 is not a tombstone: %q", v)
			}
			for id, want := range map[string]int64{"acct-1": 4, "acct-2": 2, "acct-3": 1} {
				c, _, err := accounts.DecodeChange([]byte(id), last[id])
				if err != nil || c.Version != want || !c.Enabled {
					t.Errorf("%s on the topic: %+v %v, want version %d enabled", id, c, err, want)
				}
			}
			dump := fmt.Sprint(dbtest.Dump(t, d, "SELECT * FROM accounts"), dbtest.Dump(t, d, "SELECT * FROM account_audit"))
			for _, s := range secrets {
				if strings.Contains(all.String(), s) {
					t.Fatalf("a secret was printed or logged:\n%s", all.String())
				}
				if strings.Contains(dump, s) {
					t.Fatal("a secret is in the database in the clear")
				}
			}
			if !strings.Contains(all.String(), "account added") {
				t.Errorf("the debug logs were not captured:\n%s", all.String())
			}
		})
	}
}

// kraite dev seeds the accounts table with the simulator's accounts and
// publishes them; a restart on the same data dir reuses its key and
// publishes nothing again.
func TestDevSeedsTheAccountsTableAndTopic(t *testing.T) {
	t.Setenv("KRAITE_DATABASE_URL", "")
	t.Setenv("KRAITE_ACCOUNTS_KEY", "")
	t.Setenv("KRAITE_ACCOUNTS_KEY_FILE", "")
	dir := t.TempDir()
	out := &syncBuffer{}
	addr, _, stop := startDevOpsOut(t, dir, out)
	topic := topics.Accounts.Name("kraite.")
	keyPath := filepath.Join(dir, "accounts.key")
	if !strings.Contains(out.String(), "accounts   3 in the accounts table and on kraite.accounts (key "+keyPath+")") {
		t.Errorf("the banner does not mention the accounts:\n%s", out)
	}
	if st, err := os.Stat(keyPath); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the dev key file: %v", err)
	}
	recs := testkit.ReadAll(t, addr, topic)
	if len(recs) != 3 {
		t.Fatalf("%d records on %s, want 3", len(recs), topic)
	}
	stop()

	key, err := accounts.ReadKeyFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.Open(context.Background(), "sqlite://"+filepath.Join(dir, "kraite.db"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := accounts.Open(context.Background(), accounts.Config{DB: d, Key: key})
	if err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, r := range recs {
		c, err := s.Credentials(context.Background(), string(r.Key))
		if err != nil || c.APISecret == "" || !c.Enabled || c.Exchange != "binance" {
			t.Fatalf("credentials of %s: %v", r.Key, err)
		}
		secrets = append(secrets, c.APISecret)
	}
	d.Close()

	out2 := &syncBuffer{}
	addr, _, stop = startDevOpsOut(t, dir, out2)
	if n := len(testkit.ReadAll(t, addr, topic)); n != 3 {
		t.Errorf("%d records after a restart, want the same 3", n)
	}
	stop()
	for _, sec := range secrets {
		for _, r := range recs {
			if bytes.Contains(r.Value, []byte(sec)) {
				t.Fatalf("a secret on %s", topic)
			}
		}
		if strings.Contains(out.String()+out2.String(), sec) {
			t.Fatalf("kraite dev printed a secret")
		}
	}
}
