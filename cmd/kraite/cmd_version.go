package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/kraite/stream/internal/cli"
)

// cmdVersion prints what the binary was built from, as the Go toolchain
// recorded it (runtime/debug.ReadBuildInfo): the module version ("(devel)"
// for a build from a checkout), the VCS revision and commit time (with
// "+dirty" when the tree had uncommitted changes) and the Go version. It
// needs no configuration, broker or database.
func cmdVersion(_ context.Context, a *kraite, args []string) error {
	fs := a.newFlags("version", "version   (also: kraite --version)\n\n"+
		"Prints the module version, the VCS revision and time it was built from, and the Go version.")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
		return err
	}
	version, revision, when, dirty := "(unknown)", "(unknown)", "(unknown)", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty {
		revision += "+dirty"
	}
	fmt.Fprintf(a.stdout, "kraite %s\nrevision %s\ntime     %s\ngo       %s %s/%s\n",
		version, revision, when, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
