package soak

import (
	"bytes"
	"context"
	"flag"
	"math"
	"os"
	"os/signal"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// peerEnv makes this test binary the soak's peer (the kraite binary's
// `bench peer`) when a soak re-executes it.
const peerEnv = "KRAITE_SOAK_TEST_PEER"

func TestMain(m *testing.M) {
	if os.Getenv(peerEnv) == "1" {
		os.Exit(servePeerFromArgs(os.Args[2:]))
	}
	os.Exit(m.Run())
}

// servePeerFromArgs parses what PeerConfig.Args prints, as kraite bench
// peer does, and serves.
func servePeerFromArgs(args []string) int {
	fs := flag.NewFlagSet("peer", flag.ContinueOnError)
	c := PeerConfig{Prefix: topics.DefaultPrefix}
	fs.IntVar(&c.Accounts, "accounts", 0, "")
	fs.Float64Var(&c.Speed, "speed", 0, "")
	fs.Int64Var(&c.Seed, "seed", 0, "")
	fs.DurationVar(&c.OrderInterval, "order-interval", 0, "")
	fs.BoolVar(&c.Paused, "paused", false, "")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, proc.Terminate)
	defer stop()
	if err := ServePeer(ctx, c, os.Stdout); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 1
	}
	return 0
}

func TestPeerArgsRoundTrip(t *testing.T) {
	c := PeerConfig{Speed: 360, Seed: 7, Accounts: 3, OrderInterval: 150 * time.Millisecond, Paused: true}
	got := strings.Join(c.Args(), " ")
	if want := "--accounts 3 --speed 360 --seed 7 --order-interval 150ms --paused"; got != want {
		t.Fatalf("args %q, want %q", got, want)
	}
	c.Paused = false
	if strings.Contains(strings.Join(c.Args(), " "), "paused") {
		t.Fatal("--paused without Paused")
	}
}

// TestConfigRefusesNonsense: each setting is refused on its own (the
// rest valid), naming its flag, and Run refuses it too; garbage speeds
// (NaN, infinite, huge) never reach the timers they divide.
func TestConfigRefusesNonsense(t *testing.T) {
	ok := Config{App: &app.Config{}, Simulated: time.Hour, Speed: 360, Accounts: 1, OrderInterval: time.Second, PeerCmd: []string{"p"}}
	if err := ok.Validate(); err != nil {
		t.Fatalf("a valid config refused: %v", err)
	}
	fastest := ok
	fastest.Speed = MaxSpeed
	if err := fastest.Validate(); err != nil {
		t.Fatalf("--speed MaxSpeed refused: %v", err)
	}
	for _, tc := range []struct {
		mod  func(*Config)
		want string
	}{
		{func(c *Config) { c.App = nil }, "no configuration"},
		{func(c *Config) { c.Speed = 0.5 }, "--speed"},
		{func(c *Config) { c.Speed = math.NaN() }, "--speed"},
		{func(c *Config) { c.Speed = math.Inf(1) }, "--speed"},
		{func(c *Config) { c.Speed = 1e18 }, "--speed"},
		{func(c *Config) { c.Speed = MaxSpeed + 1 }, "--speed"},
		{func(c *Config) { c.Accounts = 0 }, "--accounts"},
		{func(c *Config) { c.Accounts = 1001 }, "--accounts"},
		{func(c *Config) { c.Simulated = 0 }, "--simulated"},
		{func(c *Config) { c.Simulated = -time.Hour }, "--simulated"},
		{func(c *Config) { c.OrderInterval = 0 }, "--order-interval"},
		{func(c *Config) { c.OrderInterval = -time.Second }, "--order-interval"},
		{func(c *Config) { c.Pipeline = true }, "--settle"},
		{func(c *Config) { c.PeerCmd = nil }, "no peer command"},
	} {
		c := ok
		tc.mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
		if _, err := Run(context.Background(), c); err == nil {
			t.Errorf("%+v ran", c)
		}
	}
}

// TestProducerSoakSamplesMemoryAgainstAPeerProcess soaks the user-data
// producer for 20 simulated minutes against a peer process (this binary
// re-executed): every sample is there, memory is measured and frames
// reach the broker.
func TestProducerSoakSamplesMemoryAgainstAPeerProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a peer process")
	}
	var out, errOut bytes.Buffer
	rep, err := Run(context.Background(), Config{Simulated: 20 * time.Minute, Speed: 360, Accounts: 3, Seed: 5,
		OrderInterval: 50 * time.Millisecond, App: &app.Config{Common: app.Common{TopicPrefix: topics.DefaultPrefix}},
		Self: os.Args[0], PeerCmd: []string{"peer"}, PeerEnv: []string{peerEnv + "=1"},
		Log: testkit.Logger(t), Out: &out, Stderr: &errOut})
	if err != nil {
		t.Fatalf("soak: %v\npeer: %s", err, errOut.String())
	}
	var text bytes.Buffer
	rep.WriteText(&text)
	t.Log("\n" + out.String() + text.String())
	if rep.Subject != "producer" || len(rep.Samples) != samples+1 {
		t.Fatalf("subject %q, %d samples", rep.Subject, len(rep.Samples))
	}
	if rep.Start.RSSMiB <= 0 || rep.End.RSSMiB <= 0 || rep.Max.RSSMiB < rep.End.RSSMiB || rep.End.Goroutines == 0 {
		t.Fatalf("memory start %+v max %+v end %+v", rep.Start, rep.Max, rep.End)
	}
	if last := rep.Samples[len(rep.Samples)-1]; last.Frames == 0 {
		t.Fatalf("no frame acknowledged: %+v", last)
	}
	if rep.Failures() != nil {
		t.Fatalf("a producer soak has no failures: %v", rep.Failures())
	}
	if !strings.Contains(text.String(), "soak of the producer") || !strings.Contains(text.String(), "memory ") {
		t.Fatalf("report:\n%s", text.String())
	}
}
