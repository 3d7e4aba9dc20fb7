package app

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// Load reads every part of the configuration from one environment and
// names each bad variable (not the Go field), with its value.
func TestLoadNamesEveryBadVariable(t *testing.T) {
	c, err := Load([]string{"KRAITE_BROKERS=b1:9092,b2:9092", "KRAITE_ORDER_SYNC_EVERY=90s", "KRAITE_SIM_SEED=7",
		"KRAITE_DATABASE_TLS_CA_FILE=/ca.pem", "USER=ops", "KRAITE_HTTP_ADDR=0.0.0.0:1", "KRAITE_HTTP_ADDR=127.0.0.1:2"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.Brokers, " ") != "b1:9092 b2:9092" || c.Jobs.OrderSyncEvery.String() != "1m30s" || c.Simulator.Seed != 7 ||
		c.DatabaseTLS.CA != "/ca.pem" || c.Session.User != "ops" || c.Exchange.HTTPAddr != "127.0.0.1:2" ||
		c.Exchange.StallAfter.String() != "2m0s" || c.Intents.MaxOrderNotional != "10000" {
		t.Fatalf("parsed %+v", c)
	}
	_, err = Load([]string{"KRAITE_ACCOUNTS_POLL=10 parsecs", "KRAITE_SIM_ACCOUNTS=many", "KRAITE_KAFKA_TLS=perhaps"})
	for _, want := range []string{`KRAITE_ACCOUNTS_POLL: "10 parsecs" is not a valid time.Duration`, `KRAITE_SIM_ACCOUNTS: "many"`,
		`KRAITE_KAFKA_TLS: "perhaps"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	if err != nil && (strings.Contains(err.Error(), "AccountsPoll") || strings.Contains(err.Error(), "Accounts:")) {
		t.Errorf("names a Go field: %v", err)
	}
	for env, want := range map[string]string{
		"KRAITE_LOG_LEVEL=loud":            "KRAITE_LOG_LEVEL",
		"KRAITE_REPLICATION=0":             "KRAITE_REPLICATION",
		"KRAITE_MAX_ORDER_NOTIONAL=lots":   "KRAITE_MAX_ORDER_NOTIONAL",
		"KRAITE_INTENT_REFRESH=1h":         "KRAITE_INTENT_REFRESH",
		"KRAITE_POSITION_DRIFT_GRACE=soon": "KRAITE_POSITION_DRIFT_GRACE",
		"KRAITE_ACCOUNTS_SOURCE=Database":  "KRAITE_ACCOUNTS_SOURCE",
		"KRAITE_ACCOUNTS_SOURCE=table":     "KRAITE_ACCOUNTS_SOURCE",
	} {
		if _, err := Load([]string{env}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", env, err, want)
		}
	}
}

// Print shows every variable once, the default when unset, and never a
// secret: passwords, keys and tokens as ****, a URL's password as xxxxx,
// and a control character escaped.
func TestPrintMasksSecrets(t *testing.T) {
	c, err := Load([]string{"KRAITE_KAFKA_SASL_MECHANISM=PLAIN", "KRAITE_KAFKA_SASL_USERNAME=ops",
		"KRAITE_KAFKA_SASL_PASSWORD=hunter2-kafka", "KRAITE_ACCOUNTS_KEY=hunter2-key", "KRAITE_SIM_ADMIN_TOKEN=hunter2-token",
		"KRAITE_DATABASE_URL=mysql://kraite:hunter2-db@db:3306/kraite?tls=true", "KRAITE_BINANCE_REST_URL=https://u:hunter2-rest@x",
		"KRAITE_STATE_DIR=/s\x1b[2J", "KRAITE_TOPIC_PREFIX=t."})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := c.Print(&out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.Contains(got, "hunter2") || strings.Contains(got, "\x1b") {
		t.Fatalf("a secret or an escape in the output:\n%s", got)
	}
	for _, want := range []string{"KRAITE_KAFKA_SASL_PASSWORD=****\n", "KRAITE_ACCOUNTS_KEY=****\n", "KRAITE_SIM_ADMIN_TOKEN=****\n",
		"KRAITE_ACCOUNTS_KEY_FILE=\n", "KRAITE_KAFKA_SASL_USERNAME=ops\n", "KRAITE_DATABASE_URL=mysql://kraite:xxxxx@db:3306/kraite?tls=true\n",
		"KRAITE_BINANCE_REST_URL=https://u:xxxxx@x\n", `KRAITE_STATE_DIR="/s\x1b[2J"` + "\n", "KRAITE_TOPIC_PREFIX=t.\n",
		"KRAITE_BROKERS=127.0.0.1:9092  # default\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	seen := map[string]bool{}
	for _, l := range strings.Split(got, "\n") {
		name, _, ok := strings.Cut(l, "=")
		if !ok || strings.HasPrefix(l, "#") {
			continue
		}
		if seen[name] {
			t.Errorf("%s printed twice", name)
		}
		seen[name] = true
	}
	if len(seen) < 50 || seen["USER"] || seen["TERM"] {
		t.Errorf("printed %d variables (USER/TERM are not Kraite's): %v", len(seen), seen)
	}
}

// TestNoEnvironmentReadOutsideTheConfig: production code reads the
// environment only through Load (test support packages read their own
// switches: KRAITE_TEST_*, the test databases, CI).
func TestNoEnvironmentReadOutsideTheConfig(t *testing.T) {
	testSupport := []string{"internal/testkit/", "internal/db/dbtest/", "sinks/internal/sinktest/", "processors/internal/ptest/"}
	read := regexp.MustCompile(`os\.(Getenv|LookupEnv)\(|env\.Parse`)
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && rel != "." || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") || rel == "internal/app/config.go" ||
			slices.ContainsFunc(testSupport, func(p string) bool { return strings.HasPrefix(rel, p) }) {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(src), "\n") {
			if read.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d reads the environment outside app.Load: %s", rel, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A period or grace of zero, below zero or past what a duration holds, and
// a replication factor an int16 cannot carry, are refused naming the
// variable (KRAITE_ACCOUNTS_POLL=0 used to reach time.NewTicker and panic
// the box; KRAITE_REPLICATION=65535 to wrap to -1, the broker's default).
func TestLoadRefusesNonPositivePeriodsAndAHugeReplication(t *testing.T) {
	for env, want := range map[string]string{
		"KRAITE_ACCOUNTS_POLL=0":               "KRAITE_ACCOUNTS_POLL: 0s must be positive",
		"KRAITE_ORDER_SYNC_EVERY=-5m":          "KRAITE_ORDER_SYNC_EVERY: -5m0s must be positive",
		"KRAITE_KLINE_EVERY=0s":                "KRAITE_KLINE_EVERY",
		"KRAITE_GAP_LOOKBACK=-1h":              "KRAITE_GAP_LOOKBACK",
		"KRAITE_POSITION_DRIFT_GRACE=-1s":      "KRAITE_POSITION_DRIFT_GRACE",
		"KRAITE_HANDOVER_GRACE=-15s":           "KRAITE_HANDOVER_GRACE",
		"KRAITE_HANDOVER_GRACE=5m1s":           "KRAITE_HANDOVER_GRACE",
		"KRAITE_HANDOVER_GRACE=2562047h":       "KRAITE_HANDOVER_GRACE",
		"KRAITE_STALL_AFTER=0":                 "KRAITE_STALL_AFTER",
		"KRAITE_KEEPALIVE_EVERY=9999999999h":   `KRAITE_KEEPALIVE_EVERY: "9999999999h" is not a valid time.Duration`,
		"KRAITE_REPLICATION=65535":             "KRAITE_REPLICATION: 65535 must be between 1 and 32767",
		"KRAITE_REPLICATION=-1":                "KRAITE_REPLICATION",
		"KRAITE_REPLICATION=99999999999999999": `KRAITE_REPLICATION: "99999999999999999" is not a valid int`,
	} {
		if _, err := Load([]string{env}); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error with %q", env, err, want)
		}
	}
	// Every default passes, and the largest duration is a valid period.
	if _, err := Load([]string{"KRAITE_SYMBOL_REFRESH_EVERY=2562047h", "KRAITE_REPLICATION=32767"}); err != nil {
		t.Fatal(err)
	}
}
