package main

import (
	"context"
	"errors"
)

// cmdDecode is not built yet.
func cmdDecode(ctx context.Context, a *app, args []string) error {
	return errors.New("not implemented yet")
}
