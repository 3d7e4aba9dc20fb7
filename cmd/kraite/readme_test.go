package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/app"
	rolereg "github.com/kraite/stream/internal/roles"
	"github.com/kraite/stream/internal/testkit"
)

const readmePath = "../../README.md"

// readmeShellLines are the lines of the README's fenced ```sh blocks, in
// order, without blank and comment-only lines.
func readmeShellLines(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var (
		out []string
		in  bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```sh"):
			in = true
		case strings.HasPrefix(line, "```"):
			in = false
		case in:
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// readmeNotRun are the README commands TestReadmeCommands cannot run
// against a `kraite dev` it started, each with the reason and, where there
// is one, the test that runs it instead. A README line that is neither run
// nor listed here fails the test.
var readmeNotRun = map[string]string{
	"go run ./cmd/kraite dev":      "runs until Ctrl-C: the test runs kraite dev itself (in-process) to run the other commands against",
	"go test -race -count=1 ./...": "the test suite",
	"go test -v -run TestChaos ./cmd/kraite/                     # the short form and a 1-hour soak as tests": "the test suite",
	"go run ./cmd/kraite chaos                                   # the short form CI runs: 60 s of faults":    "starts its own broker, simulator and MariaDB database for 60 s: run by TestChaos",
	"go run ./cmd/kraite chaos --for 10m --report-json chaos.json  # long form":                               "10 minutes",
	"go run ./cmd/kraite chaos --soak --simulated 72h --speed 360  # 3 simulated days in 12 minutes":          "12 minutes; the 1-hour soak is in TestChaos",
	"kraite replay --group kraite.sink.orders    --topic orders           --from 2026-11-22T01:55:00Z --wait": "--wait waits for the live orders sink to be stopped: run with an operator stopping it by TestRecoveryRecipesThroughTheCLI",
	"kraite replay --group kraite.sink.audit     --topic user-data-stream --from 2026-11-22T01:55:00Z --wait": "--wait waits for the live audit sink to be stopped (same mechanics as the orders recipe)",
	"kraite replay --group kraite.sink.markprice --topic mark-price       --from -5m --wait":                  "--wait waits for the live mark-price sink to be stopped (same mechanics as the orders recipe)",
	"kraite replay --group kraite.sink.orders --topic orders --account acct-0010 --from earliest --wait":      "--wait waits for the live orders sink to be stopped: run by TestRecoveryRecipesThroughTheCLI (10 accounts)",
	"kraite rebuild --into mysql://kraite:secret@db2:3306/kraite":                                             "needs the server db2: run against a scratch MariaDB database by TestRecoveryRecipesThroughTheCLI",
}

// readmeCommand is a README line made runnable: the binary for kraite,
// the running system's addresses and values for the placeholders.
func readmeCommand(line, bin string, vals map[string]string) string {
	cmd := strings.ReplaceAll(line, "go run ./cmd/kraite", bin)
	if strings.HasPrefix(cmd, "kraite ") {
		cmd = bin + strings.TrimPrefix(cmd, "kraite")
	}
	cmd = strings.ReplaceAll(cmd, "| kraite ", "| "+bin+" ")
	for k, v := range vals {
		cmd = strings.ReplaceAll(cmd, k, v)
	}
	return cmd
}

// TestReadmeCommands runs every fenced rpk, kcat and kraite command of the
// README against a running `kraite dev` (free ports, a scratch SQLite
// database) with the built binary, and checks that each exits 0. rpk lines
// run only when rpk is on the PATH (users install it; this machine may
// not have it), kcat lines when kcat is: otherwise they are logged as not
// run. Commands that cannot
// run here are in readmeNotRun, with the reason.
func TestReadmeCommands(t *testing.T) {
	lines := readmeShellLines(t)
	bin := filepath.Join(t.TempDir(), "kraite")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Setenv("KRAITE_DATABASE_URL", "") // kraite dev: SQLite in its data dir
	dir := t.TempDir()
	banner := &syncBuffer{}
	brokerAddr, opsAddr, stop := startDevOpsOut(t, dir, banner, "--accounts", "2")
	defer stop()
	simAddr := simAddrOf(t, banner.String())
	testkit.Eventually(t, 60*time.Second, "20 user-data records and a mark price", func() bool {
		return endOffsets(t, brokerAddr, "kraite.user-data-stream") >= 20 && endOffsets(t, brokerAddr, "kraite.mark-price") >= 1
	})
	// The accounts recipe's files and values: the accounts file is the
	// running simulator's (GET /admin/accounts), the secrets scratch files;
	// its commands run in the scratch directory on a scratch database and
	// under their own topic prefix, so they do not change the dev system.
	scratch := t.TempDir()
	token, err := os.ReadFile(filepath.Join(dir, "simulator", "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	status, accounts := httpGet(t, "http://"+simAddr+"/admin/accounts", strings.TrimSpace(string(token)))
	if status != 200 {
		t.Fatalf("/admin/accounts: %d", status)
	}
	for name, data := range map[string]string{"accounts.json": accounts, "secret.txt": "readme-secret-1\n", "new-secret.txt": "readme-secret-2\n"} {
		if err := os.WriteFile(filepath.Join(scratch, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	vals := map[string]string{
		"127.0.0.1:9092": brokerAddr,
		"127.0.0.1:8090": simAddr,
		"127.0.0.1:8080": opsAddr,
		"<group>":        "kraite.sink.orders",
		"/etc/kraite/":   scratch + "/",
		"AbCd...":        "readmeApiKey0007",
		"NeW...":         "readmeApiKey0007b",
		"mysql://...":    "sqlite://" + filepath.Join(scratch, "accounts.db"),
	}
	env := append(os.Environ(), "KRAITE_BROKERS="+brokerAddr, "KRAITE_HTTP_ADDR=127.0.0.1:0", "KRAITE_LOG_LEVEL=warn",
		"KRAITE_DATABASE_URL=sqlite://"+filepath.Join(dir, "kraite.db"))
	const accountsPrefix = "readme-accounts."
	apply := exec.Command(bin, "topics", "apply")
	apply.Env = append(env, "KRAITE_TOPIC_PREFIX="+accountsPrefix)
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("topics apply for the accounts recipe: %v\n%s", err, out)
	}
	_, rpkErr := exec.LookPath("rpk")
	_, kcatErr := exec.LookPath("kcat")
	var ran, notRun, other []string
	for _, line := range lines {
		if why, ok := readmeNotRun[line]; ok {
			notRun = append(notRun, line+"\n      not run: "+why)
			continue
		}
		words := strings.Fields(line)
		if words[0] == "export" { // the recipe's environment, for the lines after it
			for _, kv := range strings.Fields(readmeCommand(line, bin, vals))[1:] {
				env = append(env, kv)
			}
			ran = append(ran, line)
			continue
		}
		switch {
		case words[0] == "rpk" && rpkErr != nil:
			notRun = append(notRun, line+"\n      not run: rpk is not on the PATH")
			continue
		case words[0] == "kcat" && kcatErr != nil:
			notRun = append(notRun, line+"\n      NOT RUN: kcat is not on the PATH (apt-get install kcat; .ci/run installs it)")
			continue
		case words[0] == "rpk", words[0] == "kcat", words[0] == "kraite", strings.HasPrefix(line, "go run ./cmd/kraite "):
		case strings.Contains(line, "kraite ") && !strings.Contains(line, "docker compose"):
			t.Errorf("README command %q runs kraite but is neither run by this test nor in readmeNotRun", line)
			continue
		default: // not an rpk, kcat or kraite command (cp, docker compose, ...)
			other = append(other, line)
			continue
		}
		cmdLine := readmeCommand(line, bin, vals)
		ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-o", "pipefail", "-c", cmdLine) // a pipe fails when any part does
		cmd.Env, cmd.Dir = env, scratch
		if strings.HasPrefix(line, "kraite accounts ") {
			cmd.Env = append(env, "KRAITE_TOPIC_PREFIX="+accountsPrefix)
		}
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		cancel()
		if err != nil {
			t.Errorf("README command failed: %s\n  ran: %s\n  %v\n%s%s", line, cmdLine, err, stdout.String(), stderr.String())
			continue
		}
		if strings.Contains(line, "decode") {
			checkDecodeOutput(t, line, stdout.String())
		}
		ran = append(ran, line)
	}
	t.Logf("ran %d README commands (exit 0):\n  %s", len(ran), strings.Join(ran, "\n  "))
	t.Logf("%d README commands not run:\n  %s", len(notRun), strings.Join(notRun, "\n  "))
	t.Logf("%d README commands are not rpk, kcat or kraite commands (not this test's):\n  %s", len(other), strings.Join(other, "\n  "))
	if len(ran) < 5 {
		t.Fatalf("only %d README commands ran", len(ran))
	}
}

// checkDecodeOutput: every line of a decode recipe names the account and
// none is an error.
func checkDecodeOutput(t *testing.T, line, out string) {
	t.Helper()
	n := 0
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d struct {
			Account, Event, Error string
		}
		if err := json.Unmarshal([]byte(l), &d); err != nil || d.Error != "" || !strings.HasPrefix(d.Account, "acct-") || d.Event == "" {
			t.Errorf("%s: output line %q (%v)", line, l, err)
		}
		n++
	}
	if n == 0 {
		t.Errorf("%s: no output", line)
	}
}

// TestDecodeReadsKeysAndGapMarkers: `kraite decode` takes `KEY FRAME`
// lines (the account from the key), prints gap markers as gaps, and fails
// only on frames that do not decode.
func TestDecodeReadsKeysAndGapMarkers(t *testing.T) {
	frame := `{"e":"ORDER_TRADE_UPDATE","E":1,"T":1,"o":{"s":"BTCUSDT","c":"x","S":"BUY","o":"LIMIT","f":"GTC","q":"1","p":"1","ap":"0","sp":"0","x":"NEW","X":"NEW","i":8389765000000000001,"l":"0","z":"0","L":"0","T":1,"t":0,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}`
	gap := `{"kind":"gap","exchange":"binance","account":"acct-0002","from":100,"to":200,"reason":"startup"}`
	in := "acct-0001 " + frame + "\n" + gap + "\nacct-0003 " + gap + "\n" + frame + "\n"
	out, err := runCmd(t, in, "decode", "--account", "acct-9")
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, out)
	}
	var got []app.DecodeLine
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		var d app.DecodeLine
		if err := json.Unmarshal([]byte(l), &d); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		got = append(got, d)
	}
	want := []app.DecodeLine{
		{Source: "stdin:1", Event: "ORDER_TRADE_UPDATE", ExecutionType: "NEW", Account: "acct-0001", Symbol: "BTCUSDT", OrderID: 8389765000000000001, ClientOrderID: "x", Status: "NEW", EventTime: 1},
		{Source: "stdin:2", Event: "gap", Account: "acct-0002", GapFromMs: 100, GapToMs: 200, Reason: "startup"},
		{Source: "stdin:3", Event: "gap", Account: "acct-0003", GapFromMs: 100, GapToMs: 200, Reason: "startup"},
		{Source: "stdin:4", Event: "ORDER_TRADE_UPDATE", ExecutionType: "NEW", Account: "acct-9", Symbol: "BTCUSDT", OrderID: 8389765000000000001, ClientOrderID: "x", Status: "NEW", EventTime: 1},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got\n%+v\nwant\n%+v", got, want)
	}
	for _, bad := range []string{"acct-0001 {broken", "acct-0001", `{"kind":"gapx"}`, "acct-0001 " + strings.Repeat("[", 100000)} {
		if out, err := runCmd(t, bad+"\n", "decode"); err == nil {
			t.Errorf("decode %.40q: no error\n%s", bad, out)
		}
	}
}

// TestReadmeListsEveryCommandVariableAndRole compares the README with the
// code: every command of `kraite help`, every KRAITE_* variable of an env
// struct tag, and the components of every role.
func TestReadmeListsEveryCommandVariableAndRole(t *testing.T) {
	b, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	lines := strings.Split(readme, "\n")
	for _, c := range commands() {
		if !slices.ContainsFunc(lines, func(l string) bool {
			return strings.HasPrefix(l, "| `kraite ") && strings.Contains(l, "`kraite "+c.Name)
		}) {
			t.Errorf("the README's commands table has no row for `kraite %s`", c.Name)
		}
	}
	tag := regexp.MustCompile(`env:"(KRAITE_[A-Z0-9_]+)"`)
	vars := map[string]string{}
	err = filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range tag.FindAllStringSubmatch(string(src), -1) {
			vars[m[1]] = path
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(vars) < 30 {
		t.Fatalf("only %d variables found in env tags", len(vars))
	}
	documented := func(v string) bool {
		if strings.Contains(readme, "`"+v+"`") {
			return true
		}
		// A row may abbreviate: `KRAITE_DATABASE_TLS_CA_FILE` / `_CERT_FILE`.
		for i := strings.IndexByte(v, '_'); i > 0; i = nextUnderscore(v, i) {
			prefix, suffix := v[:i], v[i:]
			for _, l := range lines {
				if strings.HasPrefix(l, "| `KRAITE_") && strings.Contains(l, "`"+prefix) && strings.Contains(l, "`"+suffix+"`") {
					return true
				}
			}
		}
		return false
	}
	for v, path := range vars {
		if !documented(v) {
			t.Errorf("%s (%s) is not in the README", v, path)
		}
	}
	for role, comps := range rolereg.Components {
		want := strings.Join(comps, ", ")
		found := false
		for _, l := range lines {
			cells := strings.Split(l, "|")
			if len(cells) == 4 && slices.Contains(strings.Split(strings.TrimSpace(cells[1]), ", "), role) && strings.TrimSpace(cells[2]) == want {
				found = true
			}
		}
		if !found {
			t.Errorf("the README's roles table has no row for %s with %s", role, want)
		}
	}
}

func nextUnderscore(s string, i int) int {
	j := strings.IndexByte(s[i+1:], '_')
	if j < 0 {
		return -1
	}
	return i + 1 + j
}
