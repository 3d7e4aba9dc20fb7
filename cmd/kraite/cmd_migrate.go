package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
)

// cmdMigrate creates or upgrades the schema of KRAITE_DATABASE_URL and prints
// every recorded version. Running it again changes nothing.
func cmdMigrate(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("migrate", "migrate\n\n  Creates or upgrades the schema of KRAITE_DATABASE_URL (versioned, idempotent)\n  and prints every applied version.")
	if _, err := a.start(fs, args); err != nil {
		return err
	}
	return app.Migrate(ctx, a.cfg.Exchange, a.log, a.stdout)
}
