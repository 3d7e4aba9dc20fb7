package accounts_test

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/producers/userdata"
)

var _ accounts.CredentialSource = (*accounts.Store)(nil)

// FuzzDecodeChange: no input panics; what decodes re-encodes to a record
// that decodes to the same change, under the same key, with no room for
// another field (a secret) to ride along.
func FuzzDecodeChange(f *testing.F) {
	for _, c := range []accounts.Change{
		{ID: "acct-0001", Exchange: "binance", Enabled: true, Version: 1, ChangedAt: 1764689000000},
		{ID: "acct-0002", Exchange: "binance", Enabled: false, Version: 7, ChangedAt: 0},
	} {
		v, err := c.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add([]byte(c.ID), v, false)
	}
	f.Add([]byte("acct-0001"), []byte(nil), true)
	f.Add([]byte("acct-0001"), []byte(`{"id":"acct-0001","exchange":"binance","enabled":true,"version":1,"changed_at":1,"api_secret":"x"}`), false)
	f.Add([]byte("acct-0001"), []byte(`{"id":"acct-0002","exchange":"binance","enabled":true,"version":1,"changed_at":1}`), false)
	f.Add([]byte(""), []byte(`{}`), false)
	f.Add([]byte("a"), []byte(`{"id":"a","exchange":"binance","enabled":true,"version":1,"changed_at":1} {}`), false)
	f.Add([]byte(strings.Repeat("k", 65)), []byte(`null`), false)
	f.Fuzz(func(t *testing.T, key, value []byte, tombstone bool) {
		if tombstone {
			value = nil
		}
		c, removed, err := accounts.DecodeChange(key, value)
		if err != nil {
			return
		}
		if len(key) == 0 || len(key) > accounts.MaxIDLen || !utf8.Valid(key) {
			t.Fatalf("key %q accepted", key)
		}
		if removed {
			if value != nil || c.ID != string(key) {
				t.Fatalf("tombstone %q %q -> %+v", key, value, c)
			}
			return
		}
		if c.ID != string(key) || c.Version <= 0 || c.Exchange == "" || c.ChangedAt < 0 {
			t.Fatalf("accepted %+v under key %q", c, key)
		}
		again, err := c.Encode()
		if err != nil {
			t.Fatalf("re-encoding %+v: %v", c, err)
		}
		c2, removed2, err := accounts.DecodeChange(key, again)
		if err != nil || removed2 || c2 != c {
			t.Fatalf("round trip %+v -> %s -> %+v %v", c, again, c2, err)
		}
		var fields map[string]any
		if err := json.Unmarshal(again, &fields); err != nil || len(fields) != 5 {
			t.Fatalf("record %s has fields beyond the five", again)
		}
	})
}

// FuzzParseFile (raw bytes): no input panics; an accepted file holds only
// valid, distinct accounts, and the producer's own parser
// (userdata.ParseAccounts) accepts the same file with the same accounts
// when it uses only the fields both know.
func FuzzParseFile(f *testing.F) {
	f.Add([]byte(`[{"id":"acct-0001","api_key":"vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A","api_secret":"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"}]`))
	f.Add([]byte(`[{"id":"a","api_key":"k1234567","api_secret":"s","exchange":"bybit","label":"desk","enabled":false}]`))
	f.Add([]byte(`[{"id":"a","api_key":"k","api_secret":"s"},{"id":"a","api_key":"k","api_secret":"s"}]`))
	f.Add([]byte(`[{"id":"a","api_key":"k","api_secret":"s","extra":1}]`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`[{"id":"a b","api_key":"k","api_secret":"s"}] trailing`))
	f.Add([]byte(`{"id":"a"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		accts, err := accounts.ParseFile(data, "binance")
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, a := range accts {
			if err := a.Validate(); err != nil {
				t.Fatalf("accepted an invalid account: %v", err)
			}
			if seen[a.ID] {
				t.Fatalf("accepted %q twice", a.ID)
			}
			seen[a.ID] = true
		}
		if strings.Contains(string(data), `"exchange"`) || strings.Contains(string(data), `"label"`) || strings.Contains(string(data), `"enabled"`) {
			return
		}
		theirs, err := userdata.ParseAccounts(data)
		if err != nil {
			t.Fatalf("ParseFile accepts what ParseAccounts refuses: %v", err)
		}
		if len(theirs) != len(accts) {
			t.Fatalf("%d accounts, ParseAccounts %d", len(accts), len(theirs))
		}
		for i := range theirs {
			if theirs[i].ID != accts[i].ID || theirs[i].APIKey != accts[i].APIKey || theirs[i].APISecret != accts[i].APISecret {
				t.Fatalf("account %d differs from ParseAccounts'", i)
			}
		}
	})
}

// FuzzParseFileNeverQuotesASecret: whatever the entry, an error never
// contains its API secret.
func FuzzParseFileNeverQuotesASecret(f *testing.F) {
	f.Add("acct-1", "KEY12345", "SECRET-abcdef", "binance")
	f.Add("", "KEY12345", "SECRET-abcdef", "binance")
	f.Add("acct-1", "", "SECRET-abcdef", "binance")
	f.Add("acct-1", "KEY12345", "SECRET abcdef", "binance")
	f.Add("acct-1", "KEY12345", strings.Repeat("S", 300), "binance")
	f.Add("acct-1", "KEY12345", "SECRET-abcdef", "BIN ANCE")
	f.Fuzz(func(t *testing.T, id, key, secret, exchange string) {
		if len(secret) < 6 || strings.Contains(id+key+exchange, secret) {
			return // too short to tell apart from the error text, or quoted as another field
		}
		data, err := json.Marshal([]map[string]string{{"id": id, "api_key": key, "api_secret": secret, "exchange": exchange}})
		if err != nil {
			return
		}
		_, err = accounts.ParseFile(data, "binance")
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Fatalf("the error quotes the secret: %v", err)
		}
	})
}
