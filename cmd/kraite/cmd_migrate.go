package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/db"
)

// openDatabase opens KRAITE_DATABASE_URL (required).
func (a *kraite) openDatabase(ctx context.Context) (*db.DB, error) {
	url := a.cfg.Exchange.DatabaseURL
	if url == "" {
		return nil, errors.New("KRAITE_DATABASE_URL: required (mysql://user:pass@host:3306/db, postgres://..., sqlite:///path)")
	}
	if _, err := db.ParseURL(url); err != nil {
		return nil, fmt.Errorf("KRAITE_DATABASE_URL: %w", err)
	}
	if a.log != nil {
		a.log.Info("opening database", "url", db.MaskURL(url))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return db.Open(ctx, url)
}

// cmdMigrate creates or upgrades the schema of KRAITE_DATABASE_URL and prints
// every recorded version. Running it again changes nothing.
func cmdMigrate(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("migrate", "migrate\n\n  Creates or upgrades the schema of KRAITE_DATABASE_URL (versioned, idempotent)\n  and prints every applied version.")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
		return err
	}
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	d, err := a.openDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Close()
	applied, err := d.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", d.Dialect, err)
	}
	for _, m := range applied {
		state := "already applied"
		if m.New {
			state = "applied now"
		}
		fmt.Fprintf(a.stdout, "version %d  %-24s %s (%s)\n", m.Version, m.Name, state, m.AppliedAt.Format(time.RFC3339))
	}
	return nil
}
