package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/topics"
)

// runCmd runs one kraite command in-process and returns stdout.
func runCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	a := newApp(strings.NewReader(stdin), &out, &errOut)
	err := a.main(context.Background(), args)
	return out.String(), err
}

func TestDecodeCommandPrintsOneLinePerFrameAndFailsOnBadOnes(t *testing.T) {
	paths := testkit.SharedFiles(t, "binance-frames/*.json")
	out, err := runCmd(t, "", append([]string{"decode", "--account", "a1"}, paths...)...)
	if err != nil {
		t.Fatalf("decode of the real frames failed: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != len(paths) {
		t.Fatalf("%d lines for %d frames", len(lines), len(paths))
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"event", "execution_type", "account", "symbol", "order_id", "event_time"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("line lacks %s: %s", k, l)
			}
		}
	}
	b, _ := os.ReadFile(paths[0])
	var compact bytes.Buffer
	_ = json.Compact(&compact, b)
	out, err = runCmd(t, compact.String()+"\n{broken\n", "decode")
	if err == nil || !strings.Contains(out, `"error"`) || strings.Count(out, "\n") != 2 {
		t.Fatalf("bad stdin line: err=%v out=%s", err, out)
	}
}

func startCmdBroker(t *testing.T) string {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	t.Setenv("KRAITE_BROKERS", b.Addr())
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	if _, err := runCmd(t, "", "topics", "apply"); err != nil {
		t.Fatal(err)
	}
	return b.Addr()
}

func TestAllowlistRegimeAndOpenCommandsAgainstABroker(t *testing.T) {
	addr := startCmdBroker(t)

	out, err := runCmd(t, "", "allowlist", "get", "binance")
	if err != nil || !strings.Contains(out, "configured default") || !strings.Contains(out, "ALGO_FILLED") {
		t.Fatalf("get before set: %v %s", err, out)
	}
	if _, err := runCmd(t, "", "allowlist", "set", "binance", "trade", "CANCELED"); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, "", "allowlist", "get", "binance")
	if err != nil || !strings.HasPrefix(out, "binance: TRADE CANCELED ") {
		t.Fatalf("get after set: %v %q", err, out)
	}
	if _, err := runCmd(t, "", "allowlist", "set", "binance", "TRAID"); err == nil {
		t.Fatal("a typo was accepted")
	}
	if _, err := runCmd(t, "", "allowlist", "set", "binance"); err != nil {
		t.Fatal(err)
	}
	if out, _ := runCmd(t, "", "allowlist", "get", "binance"); !strings.Contains(out, "shadow mode") {
		t.Fatalf("shadow mode not shown: %q", out)
	}
	if _, err := runCmd(t, "", "allowlist", "reset", "binance"); err != nil {
		t.Fatal(err)
	}
	if out, _ := runCmd(t, "", "allowlist", "get", "binance"); !strings.HasPrefix(out, "binance: "+strings.Join(dispatch.DefaultAllowlists()["binance"], " ")+" (set ") {
		t.Fatalf("reset did not set the default back: %q", out)
	}

	if _, err := runCmd(t, "", "regime", "override", "allow", "--for", "1h", "--reason", "drill"); err != nil {
		t.Fatal(err)
	}
	out, err = runCmd(t, "", "regime", "status")
	if err != nil || !strings.Contains(out, "override_allow") || !strings.Contains(out, "drill") {
		t.Fatalf("status: %v\n%s", err, out)
	}

	if _, err := runCmd(t, "", "open", "--account", "acct-9", "--symbol", "BTCUSDT", "--side", "buy", "--size", "0.01", "--client-id", "cli-1"); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topics.OpenIntents.Name("kraite.")),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs := cl.PollFetches(ctx)
	var in topics.OpenIntent
	if recs := fs.Records(); len(recs) != 1 || string(recs[0].Key) != "acct-9" || json.Unmarshal(recs[0].Value, &in) != nil ||
		in.ClientID != "cli-1" || in.Side != "BUY" {
		t.Fatalf("intent on the topic: %+v", fs.Records())
	}
}
