package main

import (
	"context"
	"errors"
)

// cmdRegime is not built yet.
func cmdRegime(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
