package accounts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"unicode"
	"unicode/utf8"
)

// Limits of the fields of an account (the columns are wider).
const (
	MaxExchangeLen = 32
	MaxLabelLen    = 128
	MaxAPIKeyLen   = 256
	MaxSecretLen   = 256
	// MaxImportFile bounds an accounts file (5,000 accounts take ~1 MiB).
	MaxImportFile = 16 << 20
)

// Account is the input of an add or an import: a new account with its
// credentials. APISecret is a credential: never log or print it.
type Account struct {
	ID        string
	Exchange  string
	Label     string
	APIKey    string
	APISecret string
	Enabled   bool
}

// fileAccount is today's accounts file entry (producers/userdata):
// [{"id":"acct-1","api_key":"...","api_secret":"..."}], with optional
// exchange, label and enabled.
type fileAccount struct {
	ID        string  `json:"id"`
	APIKey    string  `json:"api_key"`
	APISecret string  `json:"api_secret"`
	Exchange  *string `json:"exchange,omitempty"`
	Label     *string `json:"label,omitempty"`
	Enabled   *bool   `json:"enabled,omitempty"`
}

// ParseFile decodes an accounts file in today's format (the one
// KRAITE_ACCOUNTS_FILE takes, producers/userdata.ParseAccounts) into
// accounts of exchange (unless an entry names its own), enabled unless an
// entry says otherwise. Every entry is checked; every problem is reported
// (without ever quoting a secret), and any problem refuses the whole file.
func ParseFile(data []byte, exchange string) ([]Account, error) {
	if len(data) > MaxImportFile {
		return nil, fmt.Errorf("accounts file is %d bytes, more than the %d allowed", len(data), MaxImportFile)
	}
	var raw []fileAccount
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decoding accounts: %w", scrubJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("decoding accounts: trailing data after the list")
	}
	var (
		out  []Account
		errs []error
		seen = map[string]bool{}
	)
	for i, f := range raw {
		a := Account{ID: f.ID, Exchange: exchange, APIKey: f.APIKey, APISecret: f.APISecret, Enabled: true}
		if f.Exchange != nil {
			a.Exchange = *f.Exchange
		}
		if f.Label != nil {
			a.Label = *f.Label
		}
		if f.Enabled != nil {
			a.Enabled = *f.Enabled
		}
		if err := a.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("entry %d: %w", i, err))
			continue
		}
		if seen[a.ID] {
			errs = append(errs, fmt.Errorf("entry %d: account %q: listed twice", i, a.ID))
			continue
		}
		seen[a.ID] = true
		out = append(out, a)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// scrubJSONError keeps a decoding error from quoting the input (which may
// be a secret): json's syntax and type errors name an offset and a type,
// not the value; anything else is replaced by a generic message.
func scrubJSONError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	case errors.As(err, &te):
		return fmt.Errorf("field %q must be %s (not %s) at byte %d", te.Field, te.Type, te.Value, te.Offset)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("the file is empty or cut short (want a JSON list of accounts)")
	default:
		// "json: unknown field \"x\"" quotes a field name, not a value.
		if msg := err.Error(); len(msg) < 200 && bytes.HasPrefix([]byte(msg), []byte("json: unknown field")) {
			return err
		}
		return errors.New("not a JSON list of accounts")
	}
}

// ReadFile reads and parses an accounts file (see ParseFile).
func ReadFile(path, exchange string) ([]Account, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("accounts file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxImportFile+1))
	if err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	accts, err := ParseFile(data, exchange)
	if err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	return accts, nil
}

// Validate checks an account before it reaches the table. Errors name the
// account and the field, never a secret's value.
func (a Account) Validate() error {
	if err := ValidateID(a.ID); err != nil {
		return err
	}
	if err := ValidateExchange(a.Exchange); err != nil {
		return fmt.Errorf("account %q: %w", a.ID, err)
	}
	if err := validateLabel(a.Label); err != nil {
		return fmt.Errorf("account %q: %w", a.ID, err)
	}
	if err := ValidateCredentials(a.APIKey, a.APISecret); err != nil {
		return fmt.Errorf("account %q: %w", a.ID, err)
	}
	return nil
}

// ValidateID checks an account id: 1 to 64 visible ASCII characters (it is
// a Kafka key and appears in logs).
func ValidateID(id string) error {
	if id == "" {
		return errors.New("account id is empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("account id %q... is longer than %d characters", id[:16], MaxIDLen)
	}
	if !visibleASCII(id) {
		return fmt.Errorf("account id %q: only visible ASCII characters (no spaces)", id)
	}
	return nil
}

// ValidateExchange checks an exchange name: 1 to 32 of a-z, 0-9 and '-'.
func ValidateExchange(ex string) error {
	if ex == "" || len(ex) > MaxExchangeLen {
		return fmt.Errorf("exchange %q: 1 to %d characters", truncate(ex), MaxExchangeLen)
	}
	for _, r := range ex {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Errorf("exchange %q: only a-z, 0-9 and '-'", truncate(ex))
		}
	}
	return nil
}

func validateLabel(l string) error {
	if len(l) > MaxLabelLen || !utf8.ValidString(l) {
		return fmt.Errorf("label: at most %d bytes of UTF-8", MaxLabelLen)
	}
	for _, r := range l {
		if unicode.IsControl(r) {
			return errors.New("label: no control characters")
		}
	}
	return nil
}

// ValidateCredentials checks an API key and secret: both required, visible
// ASCII, bounded. The error never quotes the secret.
func ValidateCredentials(apiKey, secret string) error {
	switch {
	case apiKey == "":
		return errors.New("api_key is required")
	case len(apiKey) > MaxAPIKeyLen:
		return fmt.Errorf("api_key is longer than %d characters", MaxAPIKeyLen)
	case !visibleASCII(apiKey):
		return errors.New("api_key: only visible ASCII characters (no spaces)")
	}
	return ValidateSecret(secret)
}

// ValidateSecret checks an API secret without quoting it.
func ValidateSecret(secret string) error {
	switch {
	case secret == "":
		return errors.New("api_secret is required (and empty)")
	case len(secret) > MaxSecretLen:
		return fmt.Errorf("api_secret is longer than %d characters", MaxSecretLen)
	case !visibleASCII(secret):
		return errors.New("api_secret: only visible ASCII characters (no spaces or control characters)")
	}
	return nil
}

func visibleASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// MaskKey shows the first four characters of an API key (enough to tell
// keys apart in a listing), the rest masked.
func MaskKey(k string) string {
	if len(k) <= 8 {
		return "****"
	}
	return k[:4] + "****"
}
