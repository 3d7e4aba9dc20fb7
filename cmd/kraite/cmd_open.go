package main

import (
	"context"
	"errors"
)

// cmdOpen is not built yet.
func cmdOpen(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
