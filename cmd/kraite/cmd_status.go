package main

import (
	"context"
	"errors"
)

// cmdStatus is not built yet.
func cmdStatus(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
