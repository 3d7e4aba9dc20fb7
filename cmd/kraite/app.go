package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"

	"github.com/kraite/stream/internal/app"
)

// command is one `kraite <name>` subcommand. Each lives in its own cmd_*.go
// file and parses its own flags (a flag.FlagSet) and environment.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, a *cli, args []string) error
}

// commands is the whole command table, in help order.
func commands() []command {
	return []command{
		{"dev", "run everything in one process: broker, simulator, producers, processors, sinks", cmdDev},
		{"run", "run the components of one box (--role) or an explicit set (--components)", cmdRun},
		{"broker", "run the embedded Kafka-protocol broker (kfake) with data on disk", cmdBroker},
		{"simulator", "run the Binance USD-M exchange simulator (REST + WebSocket)", cmdSimulator},
		{"acls", "print or apply the Kafka ACLs of least privilege for each role and the operator (acls plan|apply)", cmdACLs},
		{"topics", "list the topic catalog or apply it to a broker (topics list|apply)", cmdTopics},
		{"decode", "decode user-data frames (files or stdin, one JSON frame per line)", cmdDecode},
		{"allowlist", "get or set the dispatch allowlist of an exchange (allowlist get|set)", cmdAllowlist},
		{"regime", "show the regime status or override the gate (regime status|override)", cmdRegime},
		{"open", "publish an open intent to the gate", cmdOpen},
		{"replay", "reset (or plan) a consumer group's offsets to replay a topic from a time or offset", cmdReplay},
		{"status", "consumer groups: members, assignments and lag per partition", cmdStatus},
		{"rebuild", "fill an empty database from the retained topics (fresh groups, progress, ETA)", cmdRebuild},
		{"bench", "measure: ingest latency and throughput, time-compressed soak (bench ingest|soak)", cmdBench},
		{"chaos", "run the pipeline under injected faults and compare the database with the ground truth (--soak: memory)", cmdChaos},
		{"migrate", "create or upgrade the database schema (KRAITE_DATABASE_URL)", cmdMigrate},
		{"accounts", "the accounts the producers stream: add, list, enable, disable, remove, rotate, import, publish", cmdAccounts},
		{"symbols", "import the four venues' symbols into the database (symbols import)", cmdSymbols},
		{"config", "print the effective configuration (every variable, secrets masked) and check it", cmdConfig},
		{"healthcheck", "probe the local /readyz once: exit 0 ready, 1 not ready (reason on stderr); the compose healthcheck", cmdHealthcheck},
		{"version", "print the version, VCS revision and time, and Go version of this binary (also --version)", cmdVersion},
	}
}

// cli carries the process streams so commands are testable in-process.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	// cfg is the configuration, read from the environment once per main;
	// cfgErr names its bad variables (loadCommon returns it).
	cfg    *app.Config
	cfgErr error
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *cli {
	return &cli{stdin: stdin, stdout: stdout, stderr: stderr}
}

// loadCommon makes the configuration the process's (Kafka security,
// database TLS, logging) and returns its shared part, or the error naming
// every bad variable. Commands call it after parsing their flags.
func (a *cli) loadCommon() (app.Common, error) {
	if a.cfgErr != nil {
		return a.cfg.Common, a.cfgErr
	}
	log, err := a.cfg.Setup(a.stderr)
	if err != nil {
		return a.cfg.Common, err
	}
	a.log = log
	return a.cfg.Common, nil
}

func (a *cli) main(ctx context.Context, args []string) error {
	if a.cfg == nil {
		a.cfg, a.cfgErr = app.Load(os.Environ())
	}
	if len(args) == 0 || isHelp(args[0]) {
		if len(args) > 1 { // kraite help <command> [<subcommand>], kraite -h <command>
			return a.main(ctx, append(append([]string{}, args[1:]...), "-h"))
		}
		a.usage()
		return nil
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = append([]string{"version"}, args[1:]...)
	}
	// kraite <command> [<subcommand>] help is the same as -h.
	if n := len(args); n >= 2 && n <= 3 && args[n-1] == "help" {
		args = append(args[:n-1:n-1], "-h")
	}
	for _, c := range commands() {
		if c.name == args[0] {
			err := c.run(ctx, a, args[1:])
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		}
	}
	return usageErr("", fmt.Errorf("unknown command %q", args[0]))
}

func isHelp(arg string) bool {
	return arg == "help" || arg == "-h" || arg == "--help" || arg == "-help"
}

// usageError is a command line the command cannot run: a bad or unknown flag,
// a missing or unexpected argument, an unknown subcommand. The process exits
// with status 2 and a hint to the command's help (exitCode), not 1 as for a
// failure of the work itself.
type usageError struct {
	cmd string // the command whose help explains it ("topics", "bench ingest"); "" = kraite
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// usageErr marks err as a usage error of cmd.
func usageErr(cmd string, err error) error { return &usageError{cmd: cmd, err: err} }

// usagef is a new usage error of the command fs parses.
func usagef(fs *flag.FlagSet, format string, args ...any) error {
	return usageErr(fs.Name(), fmt.Errorf(format, args...))
}

// exitCode reports err (from app.main) on w the way the process does and
// returns the exit status: 0 without error, 2 for a usage error (with a
// one-line hint to the help), 1 otherwise.
func exitCode(w io.Writer, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintln(w, "kraite:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		cmd := "kraite -h"
		if ue.cmd != "" {
			cmd = "kraite " + ue.cmd + " -h"
		}
		fmt.Fprintf(w, "run '%s' for usage\n", cmd)
		return 2
	}
	return 1
}

func (a *cli) usage() {
	fmt.Fprint(a.stdout, `kraite: the real-time core of the Kraite trading back end.

Usage: kraite <command> [flags]   (kraite <command> -h for its flags)

Commands:
`)
	cmds := commands()
	width := 0
	for _, c := range cmds {
		width = max(width, len(c.name))
	}
	for _, c := range cmds {
		fmt.Fprintf(a.stdout, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprint(a.stdout, `
Shared environment:
  KRAITE_BROKERS       Kafka seed brokers, comma separated (default 127.0.0.1:9092)
  KRAITE_TOPIC_PREFIX  topic name prefix (default kraite.)
  KRAITE_LOG_LEVEL     debug|info|warn|error (default info)
  KRAITE_LOG_FORMAT    text|json (default text)
  KRAITE_REPLICATION   replication factor of created topics (default 1)
  KRAITE_KAFKA_SASL_MECHANISM  PLAIN|SCRAM-SHA-256|SCRAM-SHA-512 (empty = no SASL), with
                       KRAITE_KAFKA_SASL_USERNAME and KRAITE_KAFKA_SASL_PASSWORD (or _PASSWORD_FILE)
  KRAITE_KAFKA_TLS     true to connect with TLS; KRAITE_KAFKA_TLS_CA_FILE, _CERT_FILE, _KEY_FILE
  kraite config prints every variable (secrets masked) and checks them.

Start here:  go run ./cmd/kraite dev
`)
}

// newFlags builds a FlagSet for the command (or subcommand) name. Parse it
// with app.parse: -h, -help and --help print the help to stdout (synopsis,
// then the flags; a flag whose usage starts with "internal:" is not shown),
// a bad flag is a usageError, and nothing is printed on a failure (the error
// is reported once, by main).
func (a *cli) newFlags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {
		fmt.Fprintf(a.stdout, "Usage: kraite %s\n", synopsis)
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
		fmt.Fprintln(a.stdout, "\nFlags:")
		shown.SetOutput(a.stdout)
		shown.PrintDefaults()
	}
	return fs
}

func hasFlags(fs *flag.FlagSet) bool {
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

// parse parses args with fs, flags anywhere among the positional arguments
// (allowlist get -h, regime override allow --for 1h), until "--". After it,
// fs.Args() are the positional arguments. -h prints the help and returns
// flag.ErrHelp (app.main turns it into exit status 0); a bad flag is a
// usageError.
func (a *cli) parse(fs *flag.FlagSet, args []string) error {
	// flag prints the help on a bad flag too: not here, where the error is
	// reported once by main and the help only on request.
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
			return usageErr(fs.Name(), err)
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

// noArgs is a usageError unless fs has no positional arguments left after
// the first skip.
func noArgs(fs *flag.FlagSet, skip int) error {
	if fs.NArg() > skip {
		return usagef(fs, "unexpected argument %q", fs.Arg(skip))
	}
	return nil
}

// sortedKeys is a small helper for deterministic output.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// hostname names this process in logs and client ids.
func hostname() string { return app.Hostname() }
