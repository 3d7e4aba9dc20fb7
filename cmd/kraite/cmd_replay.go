package main

import (
	"context"
	"errors"
)

// cmdReplay is not built yet.
func cmdReplay(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
