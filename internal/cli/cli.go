// Package cli is the command-line convention shared by every kraite command,
// so that each behaves the same for a person and for a script: -h, -help,
// --help (or a trailing "help") print the command's help to stdout and exit
// 0; a bad flag, a missing or unexpected argument or an unknown subcommand is
// a usage error, exit status 2 with a one-line hint to the help; any other
// failure exits 1. Nothing is printed twice: a failure is reported once, by
// ExitCode, never with the help after it.
//
// cmd/kraite holds the command table and each command's flags and help text;
// this package holds how they are parsed and dispatched.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
)

// Command is one `kraite <name>` subcommand; E is what the commands share
// (the process's streams and configuration).
type Command[E any] struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, e E, args []string) error
}

// Dispatch runs the command of cmds that args name, with e. No arguments,
// or help, -h, --help, print the top-level help (usage); "help <command>"
// and "<command> [<subcommand>] help" are the command's -h; --version is
// the version command. An unknown command is a usage error; a command's
// error is prefixed by its name, and its help (flag.ErrHelp) is no error.
func Dispatch[E any](ctx context.Context, cmds []Command[E], e E, args []string, usage func()) error {
	if len(args) == 0 || IsHelp(args[0]) {
		if len(args) > 1 { // kraite help <command> [<subcommand>], kraite -h <command>
			return Dispatch(ctx, cmds, e, append(append([]string{}, args[1:]...), "-h"), usage)
		}
		usage()
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	// kraite <command> [<subcommand>] help is the same as -h.
	if n := len(args); n >= 2 && n <= 3 && args[n-1] == "help" {
		args = append(args[:n-1:n-1], "-h")
	}
	for _, c := range cmds {
		if c.Name == args[0] {
			err := c.Run(ctx, e, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.Name, err)
			}
			return nil
		}
	}
	return UsageErr("", fmt.Errorf("unknown command %q", args[0]))
}

// WriteSummaries writes one line per command of cmds to w, its name
// padded to the longest and its summary: the list of the top-level help.
func WriteSummaries[E any](w io.Writer, cmds []Command[E]) {
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.Name))
	}
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
}

// IsHelp reports whether arg asks for the help.
func IsHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

// UsageError is a command line the command cannot run: a bad or unknown flag,
// a missing or unexpected argument, an unknown subcommand. The process exits
// with status 2 and a hint to the command's help (ExitCode), not 1 as for a
// failure of the work itself.
type UsageError struct {
	Cmd string // the command whose help explains it ("topics", "bench ingest"); "" = kraite
	Err error
}

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

// UsageErr marks err as a usage error of cmd.
func UsageErr(cmd string, err error) error { return &UsageError{Cmd: cmd, Err: err} }

// Usagef is a new usage error of the command fs parses.
func Usagef(fs *flag.FlagSet, format string, args ...any) error {
	return UsageErr(fs.Name(), fmt.Errorf(format, args...))
}

// ExitCode reports err (from Dispatch) on w the way the process does and
// returns the exit status: 0 without error, 2 for a usage error (with a
// one-line hint to the help), 1 otherwise.
func ExitCode(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(w, "kraite:", err)
	var ue *UsageError
	if errors.As(err, &ue) {
		cmd := "kraite -h"
		if ue.Cmd != "" {
			cmd = "kraite " + ue.Cmd + " -h"
		}
		fmt.Fprintf(w, "run '%s' for usage\n", cmd)
		return 2
	}
	return 1
}

// NewFlags builds a FlagSet for the command (or subcommand) name whose help
// goes to stdout. Parse it with Parse: -h, -help and --help print the help
// (synopsis, then the flags; a flag whose usage starts with "internal:" is
// not shown), a bad flag is a UsageError, and nothing is printed on a
// failure (the error is reported once, by ExitCode).
func NewFlags(stdout io.Writer, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: kraite %s\n", synopsis)
		shown := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.HasPrefix(f.Usage, "internal:") {
				shown.Var(f.Value, f.Name, f.Usage)
				shown.Lookup(f.Name).DefValue = f.DefValue
			}
		})
		if !hasFlags(shown) {
			return
		}
		fmt.Fprintln(stdout, "\nFlags:")
		shown.SetOutput(stdout)
		shown.PrintDefaults()
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// Parse parses args with fs, flags anywhere among the positional arguments
// (allowlist get -h, regime override allow --for 1h), until "--". After it,
// fs.Args() are the positional arguments. -h prints the help and returns
// flag.ErrHelp (Dispatch turns it into exit status 0); a bad flag is a
// UsageError.
func Parse(fs *flag.FlagSet, args []string) error {
	// flag prints the help on a bad flag too: not here, where the error is
	// reported once by ExitCode and the help only on request.
	help := fs.Usage
	fs.Usage = func() {}
	defer func() { fs.Usage = help }()
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				help()
				return flag.ErrHelp
			}
			return UsageErr(fs.Name(), err)
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		if used := len(args) - len(rest); used > 0 && args[used-1] == "--" {
			pos = append(pos, rest...)
			break
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
	// Leave the positional arguments in fs.Args().
	_ = fs.Parse(append([]string{"--"}, pos...))
	return nil
}

// NoArgs is a UsageError unless fs has no positional arguments left after
// the first skip.
func NoArgs(fs *flag.FlagSet, skip int) error {
	if fs.NArg() > skip {
		return Usagef(fs, "unexpected argument %q", fs.Arg(skip))
	}
	return nil
}

// ParseNoArgs is Parse for a command that takes flags only: a positional
// argument is a UsageError.
func ParseNoArgs(fs *flag.FlagSet, args []string) error {
	if err := Parse(fs, args); err != nil {
		return err
	}
	return NoArgs(fs, 0)
}

// SortedKeys returns the keys of m in order, for deterministic output.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
