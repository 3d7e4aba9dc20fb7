package main

import (
	"context"
	"errors"
)

// cmdSymbols is not built yet.
func cmdSymbols(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
