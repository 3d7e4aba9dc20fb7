package main

import (
	"context"
	"errors"
)

// cmdSimulator is not built yet.
func cmdSimulator(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
