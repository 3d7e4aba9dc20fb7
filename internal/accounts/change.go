// Package accounts is the accounts domain: the accounts table is the
// source of truth (id, exchange, label, enabled, API key, API secret
// encrypted at rest), and every change is also published, without any
// secret, to the compacted kraite.accounts topic so that consumers (the
// user-data producers of every box) see it without polling the database.
//
// This file is the contract between the two sides: the Change record on
// the topic and the Credentials a producer reads from the database for an
// account it owns.
package accounts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// MaxIDLen bounds an account id (the accounts table column is VARCHAR(64)).
const MaxIDLen = 64

// Change is the value of a kraite.accounts record (key = account id). It
// never carries a secret. A record with a nil value (a tombstone) means the
// account was removed.
type Change struct {
	ID       string `json:"id"`
	Exchange string `json:"exchange"`
	Enabled  bool   `json:"enabled"`
	// Version increases with every change of the account (including a
	// secret rotation, so a producer reconnects with the new secret).
	Version int64 `json:"version"`
	// ChangedAt is the change's time in Unix milliseconds.
	ChangedAt int64 `json:"changed_at"`
}

// Encode returns the record value of c.
func (c Change) Encode() ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	return json.Marshal(c)
}

// ErrBadChange marks a kraite.accounts record that can never be used: the
// consumer quarantines it and keeps the account's last good state.
var ErrBadChange = errors.New("bad account change record")

// DecodeChange decodes one kraite.accounts record. removed is true for a
// tombstone (nil value). The key must equal the value's id: a record whose
// key and id disagree is refused, so one record cannot move another account.
func DecodeChange(key, value []byte) (c Change, removed bool, err error) {
	id := string(key)
	if id == "" || len(id) > MaxIDLen || !utf8.ValidString(id) {
		return Change{}, false, fmt.Errorf("%w: key %q is not an account id", ErrBadChange, truncate(id))
	}
	if value == nil {
		return Change{ID: id}, true, nil
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Change{}, false, fmt.Errorf("%w: %v", ErrBadChange, err)
	}
	if dec.More() {
		return Change{}, false, fmt.Errorf("%w: trailing data after the value", ErrBadChange)
	}
	if c.ID != id {
		return Change{}, false, fmt.Errorf("%w: key %q and id %q differ", ErrBadChange, truncate(id), truncate(c.ID))
	}
	if err := c.validate(); err != nil {
		return Change{}, false, err
	}
	return c, false, nil
}

func (c Change) validate() error {
	switch {
	case c.ID == "" || len(c.ID) > MaxIDLen || !utf8.ValidString(c.ID):
		return fmt.Errorf("%w: id %q", ErrBadChange, truncate(c.ID))
	case c.Exchange == "" || len(c.Exchange) > 32:
		return fmt.Errorf("%w: account %s: exchange %q", ErrBadChange, c.ID, truncate(c.Exchange))
	case c.Version <= 0:
		return fmt.Errorf("%w: account %s: version %d is not positive", ErrBadChange, c.ID, c.Version)
	case c.ChangedAt < 0:
		return fmt.Errorf("%w: account %s: changed_at %d is negative", ErrBadChange, c.ID, c.ChangedAt)
	}
	return nil
}

func truncate(s string) string {
	if len(s) > MaxIDLen {
		return s[:MaxIDLen] + "..."
	}
	return s
}

// Credentials are what a user-data producer needs to stream an account. The
// APISecret is a credential: never log or print it.
type Credentials struct {
	ID        string
	Exchange  string
	APIKey    string
	APISecret string
	Enabled   bool
	Version   int64
}

// ErrNotFound is returned by a CredentialSource for an unknown account.
var ErrNotFound = errors.New("account not found")

// CredentialSource returns the decrypted credentials of one account. The
// database-backed Store implements it; a producer calls it for each account
// it comes to own (and again when the account's Version changes).
type CredentialSource interface {
	Credentials(ctx context.Context, id string) (Credentials, error)
}
