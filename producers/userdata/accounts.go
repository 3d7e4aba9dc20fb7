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

// LoadFile reads and checks an accounts file: a missing, unreadable or
// invalid file is an error naming the path (a box must not start streaming
// nothing while looking healthy).
func LoadFile(path string) ([]Account, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	accts, err := ParseAccounts(data)
	if err != nil {
		return nil, fmt.Errorf("accounts file %s: %w", path, err)
	}
	return accts, nil
}

// WatchFile reloads the accounts file every interval and applies changes to
// mg while running (adding or removing an account needs no restart). A file
// that does not read or parse is reported and the running set is kept.
func WatchFile(ctx context.Context, path string, interval time.Duration, mg *Manager, log *slog.Logger) error {
	return WatchFileReport(ctx, path, interval, mg, log, nil)
}

// WatchFileReport is WatchFile that also tells report the outcome of every
// read (nil: the file is valid, whether or not it changed), so the box can
// be marked not ready while its file is broken. An empty list is applied
// (it is valid) and logged loudly.
func WatchFileReport(ctx context.Context, path string, interval time.Duration, mg *Manager, log *slog.Logger, report func(error)) error {
	if report == nil {
		report = func(error) {}
	}
	var (
		last    []byte
		lastErr string
	)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		data, err := os.ReadFile(path)
		switch {
		case err != nil:
			err = fmt.Errorf("reading accounts file %s; keeping the current accounts: %w", path, err)
		case !bytes.Equal(data, last):
			var accts []Account
			if accts, err = ParseAccounts(data); err != nil {
				err = fmt.Errorf("accounts file %s is invalid; keeping the current accounts: %w", path, err)
				break
			}
			last = data
			mg.SetAccounts(accts)
			if len(accts) == 0 {
				log.Warn("accounts file lists no accounts: this box streams no user data", "path", path)
			} else {
				log.Info("accounts loaded", "path", path, "accounts", len(accts))
			}
		}
		if err != nil && err.Error() != lastErr {
			log.Error("accounts file", "err", err)
		}
		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}
		report(err)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
