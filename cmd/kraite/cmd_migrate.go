package main

import (
	"context"
	"errors"
)

// cmdMigrate is not built yet.
func cmdMigrate(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
