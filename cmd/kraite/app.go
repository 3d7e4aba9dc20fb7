package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

// command is one `kraite <name>` subcommand. Each lives in its own cmd_*.go
// file, parses its own flags (a flag.FlagSet) and calls into internal/app.
type command = cli.Command[*kraite]

// commands is the whole command table, in help order.
func commands() []command {
	return []command{
		{Name: "dev", Summary: "run everything in one process: broker, simulator, producers, processors, sinks", Run: cmdDev},
		{Name: "run", Summary: "run the components of one box (--role) or an explicit set (--components)", Run: cmdRun},
		{Name: "broker", Summary: "run the embedded Kafka-protocol broker (kfake) with data on disk", Run: cmdBroker},
		{Name: "simulator", Summary: "run the Binance USD-M exchange simulator (REST + WebSocket)", Run: cmdSimulator},
		{Name: "acls", Summary: "print or apply the Kafka ACLs of least privilege for each role and the operator (acls plan|apply)", Run: cmdACLs},
		{Name: "topics", Summary: "list the topic catalog or apply it to a broker (topics list|apply)", Run: cmdTopics},
		{Name: "decode", Summary: "decode user-data frames (files or stdin, one JSON frame per line)", Run: cmdDecode},
		{Name: "allowlist", Summary: "get or set the dispatch allowlist of an exchange (allowlist get|set)", Run: cmdAllowlist},
		{Name: "regime", Summary: "show the regime status or override the gate (regime status|override)", Run: cmdRegime},
		{Name: "open", Summary: "publish an open intent to the gate", Run: cmdOpen},
		{Name: "replay", Summary: "reset (or plan) a consumer group's offsets to replay a topic from a time or offset", Run: cmdReplay},
		{Name: "status", Summary: "consumer groups: members, assignments and lag per partition", Run: cmdStatus},
		{Name: "rebuild", Summary: "fill an empty database from the retained topics (fresh groups, progress, ETA)", Run: cmdRebuild},
		{Name: "bench", Summary: "measure: ingest latency and throughput, time-compressed soak (bench ingest|soak)", Run: cmdBench},
		{Name: "chaos", Summary: "run the pipeline under injected faults and compare the database with the ground truth (--soak: memory)", Run: cmdChaos},
		{Name: "migrate", Summary: "create or upgrade the database schema (KRAITE_DATABASE_URL)", Run: cmdMigrate},
		{Name: "accounts", Summary: "the accounts the producers stream: add, list, enable, disable, remove, rotate, import, publish", Run: cmdAccounts},
		{Name: "symbols", Summary: "import the four venues' symbols into the database (symbols import)", Run: cmdSymbols},
		{Name: "config", Summary: "print the effective configuration (every variable, secrets masked) and check it", Run: cmdConfig},
		{Name: "healthcheck", Summary: "probe the local /readyz once: exit 0 ready, 1 not ready (reason on stderr); the compose healthcheck", Run: cmdHealthcheck},
		{Name: "version", Summary: "print the version, VCS revision and time, and Go version of this binary (also --version)", Run: cmdVersion},
	}
}

// kraite carries the process streams so commands are testable in-process.
type kraite struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	log            *slog.Logger
	// cfg is the configuration, read from the environment once per main;
	// cfgErr names its bad variables (loadCommon returns it).
	cfg    *app.Config
	cfgErr error
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *kraite {
	return &kraite{stdin: stdin, stdout: stdout, stderr: stderr}
}

// loadCommon makes the configuration the process's (Kafka security,
// database TLS, logging) and returns its shared part, or the error naming
// every bad variable. Commands call it after parsing their flags.
func (a *kraite) loadCommon() (app.Common, error) {
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

func (a *kraite) main(ctx context.Context, args []string) error {
	if a.cfg == nil {
		a.cfg, a.cfgErr = app.Load(os.Environ())
	}
	return cli.Dispatch(ctx, commands(), a, args, a.usage)
}

func (a *kraite) usage() {
	fmt.Fprint(a.stdout, `kraite: the real-time core of the Kraite trading back end.

Usage: kraite <command> [flags]   (kraite <command> -h for its flags)

Commands:
`)
	cli.WriteSummaries(a.stdout, commands())
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

// newFlags builds the FlagSet of the command (or subcommand) name, its help
// on stdout (cli.NewFlags).
func (a *kraite) newFlags(name, synopsis string) *flag.FlagSet {
	return cli.NewFlags(a.stdout, name, synopsis)
}

// start parses the flags of a command that takes no positional argument,
// then loads the configuration (loadCommon).
func (a *kraite) start(fs *flag.FlagSet, args []string) (app.Common, error) {
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return app.Common{}, err
	}
	return a.loadCommon()
}
