package app

import (
	"bytes"
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
