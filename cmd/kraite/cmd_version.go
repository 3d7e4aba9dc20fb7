package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

// cmdVersion prints what the binary was built from (app.WriteVersion). It
// needs no configuration, broker or database.
func cmdVersion(_ context.Context, a *kraite, args []string) error {
	fs := a.newFlags("version", "version   (also: kraite --version)\n\n"+
		"Prints the module version, the VCS revision and time it was built from, and the Go version.")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	app.WriteVersion(a.stdout)
	return nil
}
