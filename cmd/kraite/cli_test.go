package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/kraite/stream/internal/cli"
)

// cliRun runs the command line in-process the way main does: app.main, then
// exitCode reports the error on stderr and picks the exit status.
func cliRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := newApp(strings.NewReader(""), &out, &errOut).main(ctx, args)
	code = cli.ExitCode(&errOut, err)
	return code, out.String(), errOut.String()
}

// noBroker points every Kafka client and database at nothing: a command
// that tried to reach one would fail (or hang) instead of printing help.
func noBroker(t *testing.T) {
	t.Setenv("KRAITE_BROKERS", "127.0.0.1:1")
	t.Setenv("KRAITE_DATABASE_URL", "mysql://nobody@127.0.0.1:1/none")
	t.Setenv("KRAITE_LOG_LEVEL", "info")
	for _, k := range []string{"KRAITE_KAFKA_SASL_MECHANISM", "KRAITE_KAFKA_TLS", "KRAITE_KAFKA_TLS_CA_FILE",
		"KRAITE_KAFKA_TLS_CERT_FILE", "KRAITE_KAFKA_TLS_KEY_FILE"} {
		t.Setenv(k, "")
	}
}

// cliCommand is one command or subcommand of the table: its words, the
// arguments that make a complete call of it (without flags that would run
// it), the help name in the hint and whether extra arguments are refused.
type cliCommand struct {
	words []string // kraite <words...>
	whole []string // words plus the arguments it needs, to add a bogus one after
	hint  string   // the command named in "run 'kraite <hint> -h' for usage"
	extra bool     // an unexpected positional argument is a usage error
	// extraWant is the error of an extra argument (default "unexpected argument").
	extraWant string
}

// cliCommands is every command and subcommand of kraite. The test below
// fails if a command of the table (commands()) is missing here.
func cliCommands() []cliCommand {
	return []cliCommand{
		{words: []string{"dev"}, hint: "dev", extra: true},
		{words: []string{"run"}, hint: "run", extra: true},
		{words: []string{"broker"}, hint: "broker", extra: true},
		{words: []string{"simulator"}, hint: "simulator", extra: true},
		{words: []string{"topics"}, hint: "topics"},
		{words: []string{"acls"}, hint: "acls"},
		{words: []string{"acls", "plan"}, hint: "acls", extra: true},
		{words: []string{"acls", "apply"}, hint: "acls", extra: true},
		{words: []string{"topics", "list"}, hint: "topics", extra: true},
		{words: []string{"topics", "apply"}, hint: "topics", extra: true},
		{words: []string{"decode"}, hint: "decode"}, // its arguments are files
		{words: []string{"allowlist"}, hint: "allowlist"},
		{words: []string{"allowlist", "get"}, whole: []string{"allowlist", "get", "binance"}, hint: "allowlist", extra: true},
		{words: []string{"allowlist", "set"}, whole: []string{"allowlist", "set", "binance", "TRADE"}, hint: "allowlist", extra: true, extraWant: `unknown execution type "bogus-arg"`},
		{words: []string{"allowlist", "reset"}, whole: []string{"allowlist", "reset", "binance"}, hint: "allowlist", extra: true, extraWant: "takes only the exchange"},
		{words: []string{"regime"}, hint: "regime"},
		{words: []string{"regime", "status"}, hint: "regime", extra: true},
		{words: []string{"regime", "override"}, whole: []string{"regime", "override", "allow", "--for", "1m", "--reason", "x"}, hint: "regime", extra: true},
		{words: []string{"open"}, whole: []string{"open", "--account", "a", "--symbol", "BTCUSDT", "--side", "BUY", "--size", "1"}, hint: "open", extra: true},
		{words: []string{"replay"}, whole: []string{"replay", "--group", "g", "--topic", "orders", "--from", "earliest"}, hint: "replay", extra: true},
		{words: []string{"status"}, hint: "status", extra: true},
		{words: []string{"rebuild"}, whole: []string{"rebuild", "--into", "sqlite:///nonexistent/x.db"}, hint: "rebuild", extra: true},
		{words: []string{"bench"}, hint: "bench"},
		{words: []string{"bench", "ingest"}, hint: "bench ingest", extra: true},
		{words: []string{"bench", "e2e"}, hint: "bench e2e", extra: true},
		{words: []string{"bench", "soak"}, hint: "bench soak", extra: true},
		{words: []string{"bench", "peer"}, hint: "bench peer", extra: true},
		{words: []string{"chaos"}, hint: "chaos", extra: true},
		{words: []string{"migrate"}, hint: "migrate", extra: true},
		{words: []string{"symbols"}, hint: "symbols"},
		{words: []string{"symbols", "import"}, hint: "symbols", extra: true},
		{words: []string{"accounts"}, hint: "accounts"},
		{words: []string{"accounts", "add"}, whole: []string{"accounts", "add", "acct-1", "--api-key", "KEY12345678"}, hint: "accounts add", extra: true},
		{words: []string{"accounts", "list"}, hint: "accounts list", extra: true},
		{words: []string{"accounts", "enable"}, whole: []string{"accounts", "enable", "acct-1"}, hint: "accounts enable", extra: true},
		{words: []string{"accounts", "disable"}, whole: []string{"accounts", "disable", "acct-1"}, hint: "accounts disable", extra: true},
		{words: []string{"accounts", "remove"}, whole: []string{"accounts", "remove", "acct-1"}, hint: "accounts remove", extra: true},
		{words: []string{"accounts", "rotate-secret"}, whole: []string{"accounts", "rotate-secret", "acct-1"}, hint: "accounts rotate-secret", extra: true},
		{words: []string{"accounts", "rotate-key"}, whole: []string{"accounts", "rotate-key", "--new-key-file", "/nonexistent"}, hint: "accounts rotate-key", extra: true},
		{words: []string{"accounts", "import"}, whole: []string{"accounts", "import", "/nonexistent.json"}, hint: "accounts import", extra: true},
		{words: []string{"accounts", "publish"}, hint: "accounts publish", extra: true},
		{words: []string{"accounts", "audit"}, whole: []string{"accounts", "audit", "acct-1"}, hint: "accounts audit", extra: true},
		{words: []string{"accounts", "new-key"}, whole: []string{"accounts", "new-key", "/nonexistent/key"}, hint: "accounts new-key", extra: true},
		{words: []string{"config"}, hint: "config", extra: true},
		{words: []string{"healthcheck"}, hint: "healthcheck", extra: true},
		{words: []string{"version"}, hint: "version", extra: true},
	}
}

func TestCLIHelpOfEveryCommandAndSubcommand(t *testing.T) {
	noBroker(t)
	listed := map[string]bool{}
	for _, c := range cliCommands() {
		listed[c.words[0]] = true
	}
	for _, c := range commands() {
		if !listed[c.Name] {
			t.Errorf("command %q is not in cliCommands: add it and its subcommands", c.Name)
		}
	}
	for _, c := range cliCommands() {
		forms := [][]string{
			append(append([]string{}, c.words...), "-h"),
			append(append([]string{}, c.words...), "--help"),
			append(append([]string{}, c.words...), "help"),
			append([]string{"help"}, c.words...),
			append([]string{"--help"}, c.words...),
		}
		if c.whole != nil { // -h after the arguments too
			forms = append(forms, append(append([]string{}, c.whole...), "-h"))
		}
		for _, args := range forms {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				code, out, errOut := cliRun(t, args...)
				if code != 0 || errOut != "" {
					t.Fatalf("exit %d, stderr %q", code, errOut)
				}
				if !strings.HasPrefix(out, "Usage: kraite "+c.words[0]) {
					t.Fatalf("no help on stdout:\n%s", out)
				}
			})
		}
	}
}

func TestCLIBadFlagAndExtraArgumentAreUsageErrors(t *testing.T) {
	noBroker(t)
	check := func(t *testing.T, args []string, hint, want string) {
		t.Helper()
		code, out, errOut := cliRun(t, args...)
		if code != 2 {
			t.Fatalf("exit %d, want 2; stderr %q", code, errOut)
		}
		if out != "" {
			t.Errorf("stdout is not empty on a usage error:\n%s", out)
		}
		help := "kraite -h"
		if hint != "" {
			help = "kraite " + hint + " -h"
		}
		lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "kraite: ") || !strings.Contains(lines[0], want) ||
			lines[1] != "run '"+help+"' for usage" {
			t.Fatalf("stderr is not one error line naming %q and the hint to %q:\n%s", want, hint, errOut)
		}
	}
	for _, c := range cliCommands() {
		whole := c.whole
		if whole == nil {
			whole = c.words
		}
		t.Run(strings.Join(c.words, " ")+" --bogus-flag", func(t *testing.T) {
			check(t, append(append([]string{}, whole...), "--bogus-flag"), c.hint, "-bogus-flag")
		})
		if c.extra {
			t.Run(strings.Join(c.words, " ")+" bogus-arg", func(t *testing.T) {
				want := c.extraWant
				if want == "" {
					want = "unexpected argument"
				}
				check(t, append(append([]string{}, whole...), "bogus-arg"), c.hint, want)
			})
		}
	}
	for _, tt := range []struct {
		args       []string
		hint, want string
	}{
		{[]string{"nosuch"}, "", `unknown command "nosuch"`},
		{[]string{"topics", "nosuch"}, "topics", `unknown topics subcommand "nosuch"`},
		{[]string{"topics"}, "topics", "needs a subcommand"},
		{[]string{"allowlist", "nosuch", "binance"}, "allowlist", `unknown allowlist subcommand "nosuch"`},
		{[]string{"allowlist", "get"}, "allowlist", "needs a subcommand and an exchange"},
		{[]string{"allowlist", "get", "nosuchexchange"}, "allowlist", `unknown exchange "nosuchexchange"`},
		{[]string{"allowlist", "set", "binance", "TRAED"}, "allowlist", `unknown execution type "TRAED"`},
		{[]string{"regime"}, "regime", "needs a subcommand"},
		{[]string{"regime", "nosuch"}, "regime", `unknown regime subcommand "nosuch"`},
		{[]string{"regime", "override"}, "regime", "needs an action"},
		{[]string{"regime", "override", "maybe"}, "regime", `unknown override action "maybe"`},
		{[]string{"bench"}, "bench", "needs a subcommand"},
		{[]string{"bench", "nosuch"}, "bench", `unknown bench "nosuch"`},
		{[]string{"bench", "e2e", "--accounts", "0"}, "bench e2e", "accounts: 0 is not between 1 and 100000"},
		{[]string{"bench", "e2e", "--duration", "-1s"}, "bench e2e", "duration: must be positive"},
		{[]string{"bench", "e2e", "--repeat", "0"}, "bench e2e", "repeat: 0 is not between 1 and 100"},
		{[]string{"bench", "e2e", "--repeat", "101"}, "bench e2e", "repeat: 101 is not between 1 and 100"},
		{[]string{"accounts"}, "accounts", "needs a subcommand"},
		{[]string{"accounts", "nosuch"}, "accounts", `unknown accounts subcommand "nosuch"`},
		{[]string{"accounts", "add"}, "accounts add", "needs an account id"},
		{[]string{"accounts", "add", "acct-1"}, "accounts add", "--api-key is required"},
		{[]string{"accounts", "rotate-key"}, "accounts rotate-key", "--new-key-file is required"},
		{[]string{"accounts", "import"}, "accounts import", "needs an account id or file"},
		{[]string{"accounts", "audit", "--limit", "0"}, "accounts audit", "--limit must be at least 1"},
		{[]string{"symbols"}, "symbols", "needs a subcommand"},
		{[]string{"symbols", "export"}, "symbols", `unknown symbols subcommand "export"`},
		{[]string{"open"}, "open", "are required"},
		{[]string{"replay"}, "replay", "--group is required"},
		{[]string{"run"}, "run", "give --role or --components"},
		{[]string{"run", "--role", "nosuch"}, "run", `unknown role "nosuch"`},
		{[]string{"dev", "--for", "soon"}, "dev", `invalid value "soon" for flag -for`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) { check(t, tt.args, tt.hint, tt.want) })
	}
}

func TestCLIUsageListsEveryCommandAndVersionPrintsTheBuild(t *testing.T) {
	noBroker(t)
	for _, args := range [][]string{nil, {"help"}, {"-h"}, {"--help"}} {
		code, out, errOut := cliRun(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("kraite %v: exit %d, stderr %q", args, code, errOut)
		}
		for _, c := range commands() {
			if !strings.Contains(out, "\n  "+c.Name+" ") {
				t.Errorf("kraite %v does not list %s:\n%s", args, c.Name, out)
			}
		}
	}
	for _, args := range [][]string{{"version"}, {"--version"}} {
		code, out, errOut := cliRun(t, args...)
		if code != 0 || errOut != "" {
			t.Fatalf("kraite %v: exit %d, stderr %q", args, code, errOut)
		}
		for _, want := range []string{"kraite ", "\nrevision ", "\ntime ", "\ngo       go1."} {
			if !strings.Contains(out, want) {
				t.Errorf("kraite %v: no %q in\n%s", args, want, out)
			}
		}
	}
}

// chaos -h shows neither its internal re-exec flag nor a stale session
// timeout.
func TestCLIChaosHelpHidesInternalFlags(t *testing.T) {
	noBroker(t)
	_, out, _ := cliRun(t, "chaos", "-h")
	for _, bad := range []string{"soak-peer", "internal:", "45 s", "45s"} {
		if strings.Contains(out, bad) {
			t.Errorf("chaos -h shows %q", bad)
		}
	}
	if !strings.Contains(out, "consumer session timeout (10s)") {
		t.Errorf("chaos -h does not give the real session timeout:\n%s", out)
	}
	if !strings.Contains(out, "-report-json") {
		t.Errorf("chaos -h lost its ordinary flags:\n%s", out)
	}
}

// kraite config prints the configuration with secrets masked and exits 0;
// a bad variable is named on stderr and the exit status is 1 (the
// configuration is still printed); a half-configured SASL is refused.
func TestConfigPrintsMaskedAndChecks(t *testing.T) {
	noBroker(t)
	t.Setenv("KRAITE_KAFKA_SASL_PASSWORD", "hunter2-kafka")
	t.Setenv("KRAITE_ACCOUNTS_KEY", "hunter2-key")
	t.Setenv("KRAITE_DATABASE_URL", "mysql://kraite:hunter2-db@127.0.0.1:1/none")
	code, out, errOut := cliRun(t, "config")
	if code != 1 || !strings.Contains(errOut, "KRAITE_KAFKA_SASL_MECHANISM: required") || strings.Contains(out+errOut, "hunter2") ||
		!strings.Contains(out, "KRAITE_KAFKA_SASL_PASSWORD=****") || !strings.Contains(out, "KRAITE_DATABASE_URL=mysql://kraite:xxxxx@") {
		t.Fatalf("password without a mechanism: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("KRAITE_KAFKA_SASL_PASSWORD", "")
	if code, out, errOut = cliRun(t, "config"); code != 0 || !strings.Contains(out, "KRAITE_BROKERS=127.0.0.1:1\n") ||
		!strings.Contains(out, "KRAITE_TOPIC_PREFIX=kraite.  # default") || strings.Contains(out+errOut, "hunter2") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	t.Setenv("KRAITE_GAP_LOOKBACK", "a while")
	if code, out, errOut = cliRun(t, "config"); code != 1 || !strings.Contains(errOut, `KRAITE_GAP_LOOKBACK: "a while"`) ||
		!strings.Contains(out, "KRAITE_GAP_LOOKBACK=a while") {
		t.Fatalf("bad duration: exit %d\n%s\n%s", code, out, errOut)
	}
}

// sortedKeys is cli.SortedKeys, for the tests.
func sortedKeys[V any](m map[string]V) []string { return cli.SortedKeys(m) }
