package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"time"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
)

// PeerConfig is the other process of a soak: its broker and simulator.
type PeerConfig struct {
	Prefix        string  // topic prefix
	Speed         float64 // time compression of the simulator's protocol timers
	Seed          int64
	Accounts      int
	OrderInterval time.Duration
	// Paused starts the simulator with trading off; the soak resumes it
	// (POST /admin/fault {"fault":"resume"}) once the pipeline is attached.
	Paused bool
}

// Args are the flags of the peer command (kraite bench peer) for c.
func (c PeerConfig) Args() []string {
	a := []string{"--accounts", strconv.Itoa(c.Accounts), "--speed", strconv.FormatFloat(c.Speed, 'f', -1, 64),
		"--seed", strconv.FormatInt(c.Seed, 10), "--order-interval", c.OrderInterval.String()}
	if c.Paused {
		a = append(a, "--paused")
	}
	return a
}

// PeerInfo is what the peer prints, as one JSON line, once it serves.
type PeerInfo struct {
	Broker   string             `json:"broker"`
	Sim      string             `json:"sim"`
	Accounts []userdata.Account `json:"accounts"`
}

// Scale divides a protocol timer by speed.
func Scale(speed float64, d time.Duration) time.Duration {
	return time.Duration(float64(d) / speed)
}

// ServePeer runs a broker (the topic catalog under c.Prefix) and a
// simulator whose protocol timers are compressed by c.Speed (pings, pong
// deadline, the 24 h cut-off, listenKey TTL; its REST weight limit grows
// with the speed, as the order-sync sweeps do), prints their addresses and
// the accounts as one JSON line (PeerInfo) on out and serves until ctx
// ends: the other process of a soak, so the soak measures its own memory
// alone (the embedded broker keeps every record in memory).
func ServePeer(ctx context.Context, c PeerConfig, out io.Writer) error {
	sc := func(d time.Duration) time.Duration { return Scale(c.Speed, d) }
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		return err
	}
	defer b.Close()
	kclient.SetDefault(kclient.Security{}) // the clients talk to this open broker, whatever KRAITE_KAFKA_* says
	if _, err := app.EnsureTopics(ctx, app.Common{Brokers: []string{b.Addr()}, TopicPrefix: c.Prefix, Replication: 1}); err != nil {
		return fmt.Errorf("applying the topic catalog: %w", err)
	}
	sim, err := simulator.New(simulator.Config{Seed: c.Seed, Accounts: c.Accounts, OrderInterval: c.OrderInterval,
		WeightLimit: int(2400 * c.Speed), MarkPriceInterval: time.Second, PingInterval: sc(3 * time.Minute),
		PongTimeout: sc(10 * time.Minute), MaxConnAge: sc(24 * time.Hour), ListenKeyTTL: sc(60 * time.Minute)})
	if err != nil {
		return err
	}
	if c.Paused {
		sim.SetTrading(false)
	}
	simAddr, stop, err := chaos.ServeSim(ctx, sim)
	if err != nil {
		return err
	}
	defer stop()
	info := PeerInfo{Broker: b.Addr(), Sim: simAddr}
	for _, s := range sim.Accounts() {
		info.Accounts = append(info.Accounts, userdata.Account{ID: s.ID, APIKey: s.APIKey, APISecret: s.APISecret})
	}
	if err := json.NewEncoder(out).Encode(info); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// startPeer re-executes self with args (the peer command) and env added to
// the environment, reads its PeerInfo line and returns it with a stop that
// asks the peer to end and waits for it.
func startPeer(ctx context.Context, self string, args, env []string, stderr io.Writer) (PeerInfo, func(), error) {
	pctx, cancel := context.WithCancel(ctx)
	peer := exec.CommandContext(pctx, self, args...)
	peer.Env = append(append(os.Environ(), env...), "KRAITE_LOG_LEVEL=error")
	peer.SysProcAttr = proc.ChildAttr()
	peer.Cancel = func() error { return peer.Process.Signal(proc.Terminate) }
	peer.WaitDelay = 10 * time.Second
	peer.Stderr = stderr
	out, err := peer.StdoutPipe()
	if err != nil {
		cancel()
		return PeerInfo{}, nil, err
	}
	if err := peer.Start(); err != nil {
		cancel()
		return PeerInfo{}, nil, fmt.Errorf("starting the soak peer: %w", err)
	}
	stop := func() { cancel(); _ = peer.Wait() }
	var info PeerInfo
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		stop()
		return info, nil, fmt.Errorf("reading the soak peer's addresses: %w", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		stop()
		return info, nil, fmt.Errorf("decoding the soak peer's addresses: %w", err)
	}
	return info, stop, nil
}
