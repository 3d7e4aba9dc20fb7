package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/kraite/stream/internal/db"
)

// DevKey is the key of a development setup: the configured one when cfg
// names one, else the key file in dataDir (created on the first run, mode
// 0600). It returns where the key came from, for the banner.
func DevKey(cfg KeyConfig, dataDir string) (Key, string, error) {
	if cfg.Key != "" || cfg.KeyFile != "" {
		k, err := cfg.Load()
		if cfg.KeyFile != "" {
			return k, cfg.KeyFile, err
		}
		return k, "KRAITE_ACCOUNTS_KEY", err
	}
	path := filepath.Join(dataDir, "accounts.key")
	k, err := ReadKeyFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return Key{}, "", fmt.Errorf("creating the data dir: %w", err)
		}
		k, err = WriteNewKeyFile(path)
	}
	if err != nil {
		return Key{}, "", fmt.Errorf("the development accounts key: %w", err)
	}
	return k, path, nil
}

// Seed imports accts into the accounts table of d (see Store.Import: an
// account already there with the same credentials is left alone, its
// enabled flag is kept) and publishes every pending change, so the table
// and kraite.accounts describe them. kraite dev seeds the simulator's
// accounts with it.
func Seed(ctx context.Context, d *db.DB, key Key, pub Publisher, log *slog.Logger, actor string, accts []Account) (ImportResult, error) {
	s, err := Open(ctx, Config{DB: d, Key: key, Publisher: pub, Log: log})
	if err != nil {
		return ImportResult{}, err
	}
	res, err := s.Import(ctx, actor, accts)
	if err != nil {
		return res, fmt.Errorf("seeding the accounts table: %w", err)
	}
	return res, nil
}
