package accounts_test

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kraite/stream/internal/accounts"
)

func TestKeyConfigRefusesEveryBadKeyClearly(t *testing.T) {
	dir := t.TempDir()
	good, err := accounts.NewKeyText()
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, text string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		cfg  accounts.KeyConfig
		want string
	}{
		{"nothing", accounts.KeyConfig{}, "no accounts key"},
		{"both", accounts.KeyConfig{Key: good, KeyFile: "x"}, "not both"},
		{"not base64", accounts.KeyConfig{Key: "%%%"}, "KRAITE_ACCOUNTS_KEY: the key is not base64"},
		{"short", accounts.KeyConfig{Key: base64.StdEncoding.EncodeToString(make([]byte, 16))}, "decodes to 16 bytes, want 32"},
		{"long", accounts.KeyConfig{Key: base64.StdEncoding.EncodeToString(make([]byte, 64))}, "decodes to 64 bytes"},
		{"missing file", accounts.KeyConfig{KeyFile: filepath.Join(dir, "nope")}, "no such file"},
		{"readable by others", accounts.KeyConfig{KeyFile: write("loose", good, 0o644)}, "chmod 600"},
		{"garbage file", accounts.KeyConfig{KeyFile: write("garbage", "hello world", 0o600)}, "not base64"},
		{"huge file", accounts.KeyConfig{KeyFile: write("huge", strings.Repeat("A", 10000), 0o600)}, "not a key file"},
		{"a directory", accounts.KeyConfig{KeyFile: dir}, "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.cfg.Load()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), good) {
				t.Fatalf("the error quotes the key: %v", err)
			}
		})
	}
	k1, err := accounts.KeyConfig{Key: good}.Load()
	if err != nil {
		t.Fatal(err)
	}
	k2, err := accounts.KeyConfig{KeyFile: write("good", "\n  "+good+"\n", 0o600)}.Load()
	if err != nil {
		t.Fatal(err)
	}
	if k1.ID() != k2.ID() || !strings.HasPrefix(k1.ID(), "k1-") || strings.Contains(k1.ID(), good) {
		t.Fatalf("fingerprints %s %s", k1.ID(), k2.ID())
	}
	if _, err := accounts.WriteNewKeyFile(filepath.Join(dir, "good")); err == nil {
		t.Fatal("WriteNewKeyFile overwrote a file")
	}
}

func TestSealedSecretsAreBoundToTheirAccountAndKey(t *testing.T) {
	k, other := mustKey(t), mustKey(t)
	sealed, err := k.Seal("binance", "acct-1", "the-secret")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := k.Seal("binance", "acct-1", "the-secret")
	if sealed == again || strings.Contains(sealed, "the-secret") {
		t.Fatal("two seals are equal (no random nonce) or the secret shows")
	}
	if got, err := k.Open("binance", "acct-1", sealed); err != nil || got != "the-secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	for _, c := range []struct {
		key            accounts.Key
		ex, id, sealed string
	}{
		{k, "binance", "acct-2", sealed},
		{k, "bybit", "acct-1", sealed},
		{other, "binance", "acct-1", sealed},
		{k, "binance", "acct-1", strings.TrimPrefix(sealed, "v1:")},
		{k, "binance", "acct-1", "v1:" + base64.StdEncoding.EncodeToString([]byte("short"))},
		{k, "binance", "acct-1", "v1:!!!"},
		{k, "binance", "acct-1", ""},
	} {
		if _, err := c.key.Open(c.ex, c.id, c.sealed); !errors.Is(err, accounts.ErrUndecryptable) {
			t.Errorf("open %s/%s %q: %v", c.ex, c.id, c.sealed, err)
		}
	}
	var zero accounts.Key
	if _, err := zero.Seal("binance", "a", "s"); !errors.Is(err, accounts.ErrNoKey) {
		t.Fatalf("sealing with no key: %v", err)
	}
}

func TestReadSecretTakesOneLineAndNeverQuotesIt(t *testing.T) {
	for _, tt := range []struct{ in, want, err string }{
		{"abc123\n", "abc123", ""},
		{"abc123\r\n", "abc123", ""},
		{"abc123", "abc123", ""},
		{"", "", "no API secret"},
		{"\n", "", "no API secret"},
		{"abc\ndef\n", "", "more than one line"},
		{"ab c\n", "", "only visible ASCII"},
		{strings.Repeat("s", 257), "", "longer than 256"},
		{strings.Repeat("s", 100000), "", "more than one line"},
	} {
		got, err := accounts.ReadSecret(strings.NewReader(tt.in), "stdin")
		if tt.err == "" {
			if err != nil || got != tt.want {
				t.Errorf("%q: %q %v", tt.in, got, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) && !strings.Contains(err.Error(), "longer than") {
			t.Errorf("%q: %v, want %q", tt.in, err, tt.err)
		}
		if err != nil && len(tt.in) > 3 && strings.Contains(err.Error(), strings.TrimSpace(tt.in)) {
			t.Errorf("the error quotes the input: %v", err)
		}
	}
}

func TestParseFileRefusesGarbageHugeAndDuplicates(t *testing.T) {
	huge := make([]byte, accounts.MaxImportFile+1)
	for _, tt := range []struct{ in, want string }{
		{string(huge), "more than the"},
		{"", "empty or cut short"},
		{"[", "empty or cut short"},
		{`{"id":"a"}`, "must be"},
		{`[{"id":"a","api_key":"k","api_secret":"s"}] []`, "trailing data"},
		{`[{"id":"a","api_key":"k","api_secret":"s","api_secrets":"t"}]`, "unknown field"},
		{`[{"id":"a","api_key":"k","api_secret":"s"},{"id":"a","api_key":"k","api_secret":"s"}]`, `"a": listed twice`},
		{`[{"id":"a","api_key":"k","api_secret":""}]`, "api_secret is required"},
		{`[{"id":"","api_key":"k","api_secret":"s"}]`, "account id is empty"},
		{`[{"id":"a","api_key":"k","api_secret":"s","exchange":"Bin ance"}]`, "only a-z"},
		{`[{"id":"a","api_key":"k","api_secret":"s","label":"x\u0007"}]`, "no control characters"},
		{`[{"id":"` + strings.Repeat("i", 65) + `","api_key":"k","api_secret":"s"}]`, "longer than 64"},
	} {
		if _, err := accounts.ParseFile([]byte(tt.in), "binance"); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%.60q: %v, want %q", tt.in, err, tt.want)
		}
	}
	accts, err := accounts.ParseFile([]byte(`[{"id":"a","api_key":"k","api_secret":"s"},{"id":"b","api_key":"k","api_secret":"s","exchange":"bybit","label":"L","enabled":false}]`), "binance")
	if err != nil || len(accts) != 2 || accts[0].Exchange != "binance" || !accts[0].Enabled || accts[1].Exchange != "bybit" || accts[1].Enabled || accts[1].Label != "L" {
		t.Fatalf("%+v %v", accts, err)
	}
}
