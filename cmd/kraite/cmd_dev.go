package main

import (
	"context"
	"errors"
)

// cmdDev is not built yet.
func cmdDev(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
