package userdata

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// accountJSON is the on-disk form of an account in an accounts file:
// [{"id":"acct-1","api_key":"...","api_secret":"..."}].
type accountJSON struct {
	ID        string `json:"id"`
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
}

// ParseAccounts decodes an accounts file and checks every entry.
func ParseAccounts(data []byte) ([]Account, error) {
	var raw []accountJSON
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return nil, fmt.Errorf("decoding accounts: %w", err)
	}
	var (
		out  []Account
		errs []error
		seen = map[string]bool{}
	)
	for i, a := range raw {
		switch {
		case a.ID == "":
			errs = append(errs, fmt.Errorf("account %d: id is empty", i))
		case a.APIKey == "" || a.APISecret == "":
			errs = append(errs, fmt.Errorf("account %q: api_key and api_secret are required", a.ID))
		case seen[a.ID]:
			errs = append(errs, fmt.Errorf("account %q: listed twice", a.ID))
		default:
			seen[a.ID] = true
			out = append(out, Account{ID: a.ID, APIKey: a.APIKey, APISecret: a.APISecret})
		}
	}
	return out, errors.Join(errs...)
}

// WatchFile reloads the accounts file every interval and applies changes to
// mg while running (adding or removing an account needs no restart). A file
// that does not parse is reported and the running set is kept.
func WatchFile(ctx context.Context, path string, interval time.Duration, mg *Manager, log *slog.Logger) error {
	var last []byte
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		data, err := os.ReadFile(path)
		switch {
		case err != nil:
			log.Error("reading accounts file; keeping the current accounts", "path", path, "err", err)
		case !bytes.Equal(data, last):
			accts, err := ParseAccounts(data)
			if err != nil {
				log.Error("accounts file is invalid; keeping the current accounts", "path", path, "err", err)
				break
			}
			last = data
			mg.SetAccounts(accts)
			log.Info("accounts loaded", "path", path, "accounts", len(accts))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
