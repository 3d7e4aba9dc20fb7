package main

import (
	"context"

	"github.com/kraite/stream/internal/cli"
)

// cmdConfig prints the effective configuration with secrets masked and
// checks it: exit 1 with every bad variable named when it would stop a
// command.
func cmdConfig(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("config", "config\n\n"+
		"  Prints the effective configuration: every variable kraite reads, as NAME=VALUE\n"+
		"  (the environment's value, else the default, marked # default), grouped by what\n"+
		"  reads it. Passwords, keys, tokens and secrets show as **** when set, and a URL's\n"+
		"  password as xxxxx. Then checks it as every command does at start: a bad variable\n"+
		"  (wrong type, unknown name, half-configured TLS or SASL, an unreadable password\n"+
		"  file) is reported by name and the exit status is 1.")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return a.cfg.PrintAndCheck(a.stdout, a.cfgErr)
}
