package accounts

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// KeySize is the size of an accounts key: AES-256.
const KeySize = 32

// Key is the key the API secrets are encrypted with at rest. Its ID (a
// fingerprint, not the key) is stored next to every ciphertext, so a wrong
// key is detected before anything is decrypted. Never log the key itself.
type Key struct {
	aead cipher.AEAD
	id   string
}

// ErrNoKey is returned when no accounts key is configured: there is no
// plaintext fallback.
var ErrNoKey = errors.New("no accounts key: set KRAITE_ACCOUNTS_KEY (base64 of 32 bytes) or KRAITE_ACCOUNTS_KEY_FILE (a file holding it, mode 0600); make one with 'kraite accounts new-key FILE'")

// ErrWrongKey is returned when the table's secrets were encrypted under
// another key than the configured one.
var ErrWrongKey = errors.New("wrong accounts key")

// KeyConfig is where the key comes from: exactly one of the two.
type KeyConfig struct {
	Key     string `env:"KRAITE_ACCOUNTS_KEY"`
	KeyFile string `env:"KRAITE_ACCOUNTS_KEY_FILE"`
}

// Load returns the configured key; a missing, malformed or unreadable key
// is an error naming the variable (and never quoting the key).
func (c KeyConfig) Load() (Key, error) {
	switch {
	case c.Key != "" && c.KeyFile != "":
		return Key{}, errors.New("accounts key: set KRAITE_ACCOUNTS_KEY or KRAITE_ACCOUNTS_KEY_FILE, not both")
	case c.Key != "":
		k, err := ParseKey(c.Key)
		if err != nil {
			return Key{}, fmt.Errorf("KRAITE_ACCOUNTS_KEY: %w", err)
		}
		return k, nil
	case c.KeyFile != "":
		k, err := ReadKeyFile(c.KeyFile)
		if err != nil {
			return Key{}, fmt.Errorf("KRAITE_ACCOUNTS_KEY_FILE: %w", err)
		}
		return k, nil
	default:
		return Key{}, ErrNoKey
	}
}

// ParseKey decodes a base64 (standard or URL alphabet, padded or not) key
// of exactly 32 bytes.
func ParseKey(s string) (Key, error) {
	s = strings.TrimSpace(s)
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil {
		return Key{}, errors.New("the key is not base64 (it must be base64 of 32 random bytes)")
	}
	if len(raw) != KeySize {
		return Key{}, fmt.Errorf("the key decodes to %d bytes, want %d", len(raw), KeySize)
	}
	return newKey(raw)
}

// maxKeyFile bounds what ReadKeyFile reads: a key file is one line.
const maxKeyFile = 4096

// ReadKeyFile reads a key file: the base64 key, surrounding whitespace
// ignored. A file others can read or write (mode & 0o077) is refused, as
// ssh refuses such a private key.
func ReadKeyFile(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("reading key file: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("reading key file: %w", err)
	}
	if !st.Mode().IsRegular() {
		return Key{}, fmt.Errorf("key file %s is not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("key file %s has mode %04o: others may read it; chmod 600 it", path, perm)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return Key{}, fmt.Errorf("reading key file %s: %w", path, err)
	}
	if len(data) > maxKeyFile {
		return Key{}, fmt.Errorf("key file %s is larger than %d bytes: not a key file", path, maxKeyFile)
	}
	k, err := ParseKey(string(data))
	if err != nil {
		return Key{}, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// NewKeyText returns a fresh random key, base64 encoded, for a key file.
func NewKeyText() (string, error) {
	raw := make([]byte, KeySize)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generating a key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// WriteNewKeyFile writes a fresh key to path (mode 0600); an existing file
// is never overwritten.
func WriteNewKeyFile(path string) (Key, error) {
	text, err := NewKeyText()
	if err != nil {
		return Key{}, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return Key{}, fmt.Errorf("creating key file: %w", err)
	}
	if _, err := f.WriteString(text + "\n"); err != nil {
		f.Close()
		return Key{}, fmt.Errorf("writing key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return Key{}, fmt.Errorf("writing key file %s: %w", path, err)
	}
	return ParseKey(text)
}

func newKey(raw []byte) (Key, error) {
	block, err := aes.NewCipher(raw)
	if err != nil {
		return Key{}, fmt.Errorf("accounts key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return Key{}, fmt.Errorf("accounts key: %w", err)
	}
	// The fingerprint is an HMAC of a fixed label under the key: it names
	// the key without revealing anything about it.
	mac := hmac.New(sha256.New, raw)
	mac.Write([]byte("kraite accounts key fingerprint v1"))
	return Key{aead: aead, id: "k1-" + hex.EncodeToString(mac.Sum(nil)[:12])}, nil
}

// ID is the key's fingerprint, stored with every ciphertext (safe to log).
func (k Key) ID() string { return k.id }

// Valid reports whether k was loaded (the zero Key is not a key).
func (k Key) Valid() bool { return k.aead != nil }

// ciphertextPrefix versions the stored format.
const ciphertextPrefix = "v1:"

// additionalData binds a ciphertext to its account: moved to another
// account (or exchange) it no longer decrypts.
func additionalData(exchange, id string) []byte {
	return []byte("kraite accounts v1\x00" + exchange + "\x00" + id)
}

// Seal encrypts secret for the account (exchange, id) with a random nonce.
func (k Key) Seal(exchange, id, secret string) (string, error) {
	if !k.Valid() {
		return "", ErrNoKey
	}
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", fmt.Errorf("generating a nonce: %w", err)
	}
	out := k.aead.Seal(nonce, nonce, []byte(secret), additionalData(exchange, id))
	return ciphertextPrefix + base64.StdEncoding.EncodeToString(out), nil
}

// ErrUndecryptable marks a stored secret that does not decrypt under the
// key for its account: tampered with, or moved from another account.
var ErrUndecryptable = errors.New("the stored API secret does not decrypt for this account (tampered with or moved from another account)")

// Open decrypts a secret sealed for (exchange, id).
func (k Key) Open(exchange, id, sealed string) (string, error) {
	if !k.Valid() {
		return "", ErrNoKey
	}
	b64, ok := strings.CutPrefix(sealed, ciphertextPrefix)
	if !ok {
		return "", fmt.Errorf("account %s: %w", id, ErrUndecryptable)
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil || len(raw) < k.aead.NonceSize()+k.aead.Overhead() {
		return "", fmt.Errorf("account %s: %w", id, ErrUndecryptable)
	}
	n := k.aead.NonceSize()
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], additionalData(exchange, id))
	if err != nil {
		return "", fmt.Errorf("account %s: %w", id, ErrUndecryptable)
	}
	return string(plain), nil
}
