package main

import (
	"context"
	"errors"
)

// cmdRun is not built yet.
func cmdRun(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
