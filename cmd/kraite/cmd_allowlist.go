package main

import (
	"context"
	"errors"
)

// cmdAllowlist is not built yet.
func cmdAllowlist(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
