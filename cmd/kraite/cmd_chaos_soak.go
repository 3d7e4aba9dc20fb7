package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/producers/userdata"
)

// soakScale divides a protocol timer by the soak's speed.
func soakScale(speed float64, d time.Duration) time.Duration {
	return time.Duration(float64(d) / speed)
}

// soakPeer runs the broker and the simulator of a soak in their own
// process, so the soak measures the pipeline's memory alone (the embedded
// broker keeps every record in memory). It prints the addresses as one JSON
// line and serves until killed.
func soakPeer(ctx context.Context, a *cli, c app.Common, f chaosFlags) error {
	// The order-sync sweep runs speed times more often: so does the weight.
	// Trading starts paused; the soak resumes it once the pipeline is attached.
	return servePeer(ctx, a, c.TopicPrefix, f.speed, simulator.Config{Seed: f.seed, Accounts: f.accounts, OrderInterval: f.orderInterval,
		WeightLimit: int(2400 * f.speed)}, true)
}

// simAdmin talks to a simulator's /admin API.
type simAdmin struct{ base string }

func (s simAdmin) get(ctx context.Context, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: http %d", path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("GET %s: decoding: %w", path, err)
	}
	return nil
}

func (s simAdmin) fault(ctx context.Context, body map[string]any) error {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.base+"/admin/fault", bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("POST /admin/fault: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /admin/fault %s: http %d %s", b, resp.StatusCode, msg)
	}
	return nil
}

// snapshot reads the orders and algo orders of accounts (the frame log is
// not served: frames are not compared).
func (s simAdmin) snapshot(ctx context.Context, accounts []string) (chaos.Snapshot, error) {
	snap := chaos.Snapshot{Accounts: accounts, Orders: map[string][]simulator.Order{}, Algos: map[string][]simulator.AlgoOrder{}}
	for _, a := range accounts {
		var os []simulator.Order
		if err := s.get(ctx, "/admin/orders?account="+a, &os); err != nil {
			return snap, err
		}
		var gs []simulator.AlgoOrder
		if err := s.get(ctx, "/admin/algo-orders?account="+a, &gs); err != nil {
			return snap, err
		}
		snap.Orders[a], snap.Algos[a] = os, gs
	}
	return snap, nil
}

// runSoak runs the whole pipeline against a simulator and broker in a peer
// process, with every protocol timer compressed by --speed, for
// --simulated/--speed of real time, and samples this process's memory.
func runSoak(ctx context.Context, a *cli, c app.Common, f chaosFlags) (rep chaos.SoakReport, err error) {
	const samples = 12
	sc := func(d time.Duration) time.Duration { return soakScale(f.speed, d) }
	real := sc(f.simulated)
	rep = chaos.SoakReport{Simulated: chaos.Seconds(f.simulated), Real: chaos.Seconds(real), Speed: f.speed, Accounts: f.accounts}
	tmp, err := os.MkdirTemp("", "kraite-soak-")
	if err != nil {
		return rep, fmt.Errorf("creating a work directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	exe, err := os.Executable()
	if err != nil {
		return rep, fmt.Errorf("finding this executable: %w", err)
	}
	pctx, cancelPeer := context.WithCancel(ctx)
	defer cancelPeer()
	peer := exec.CommandContext(pctx, exe, "chaos", "--soak-peer", "--accounts", strconv.Itoa(f.accounts),
		"--speed", fmt.Sprint(f.speed), "--seed", strconv.FormatInt(f.seed, 10), "--order-interval", f.orderInterval.String())
	peer.Env = append(os.Environ(), reexecEnv+"=1", "KRAITE_LOG_LEVEL=error")
	peer.SysProcAttr = childProcAttr()
	peer.Cancel = func() error { return peer.Process.Signal(terminateSignal) }
	peer.WaitDelay = 10 * time.Second
	out, err := peer.StdoutPipe()
	if err != nil {
		return rep, err
	}
	peer.Stderr = a.stderr
	if err := peer.Start(); err != nil {
		return rep, fmt.Errorf("starting the soak peer: %w", err)
	}
	defer func() { cancelPeer(); _ = peer.Wait() }()
	var info peerInfo
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		return rep, fmt.Errorf("reading the soak peer's addresses: %w", err)
	}
	if err := json.Unmarshal(line, &info); err != nil {
		return rep, fmt.Errorf("decoding the soak peer's addresses: %w", err)
	}
	admin := simAdmin{base: "http://" + info.Sim}

	f.databaseURL = ""
	cdb, err := openChaosDB(ctx, f, false)
	if err != nil {
		return rep, err
	}
	defer func() {
		if cerr := cdb.close(ctx, f.keep); cerr != nil {
			err = errors.Join(err, cerr)
		}
	}()
	c.Brokers = []string{info.Broker}
	syncEvery := max(sc(5*time.Minute), time.Second)
	w := app.New(a.cfg, a.log)
	w.Common, w.Exchange = c, app.Exchange{RESTBase: "http://" + info.Sim, WSBase: "ws://" + info.Sim, DatabaseURL: cdb.pipelineURL,
		StateDir: filepath.Join(tmp, "state")}
	w.Accounts, w.Allowlist = info.Accounts, binance.OrderExecutionTypes()
	w.Jobs = w.Jobs.WithSweep(syncEvery, max(sc(30*time.Minute), time.Second))
	ud := userdata.Config{KeepAlive: sc(30 * time.Minute), RotateAfter: sc(23*time.Hour + 30*time.Minute),
		IdleTimeout: max(sc(4*time.Minute+30*time.Second), time.Second)}
	rep.Timers = fmt.Sprintf("pings every %s, listenKey TTL %s, keep-alive %s, connection rotation every %s, order sync every %s, order step every %s per account",
		sc(3*time.Minute), sc(time.Hour), ud.KeepAlive, ud.RotateAfter, syncEvery, f.orderInterval)
	comps, err := chaosPipeline(ctx, w, ud)
	if err != nil {
		return rep, err
	}
	stopPipeline := startPipeline(ctx, w, comps)
	defer func() {
		if perr := stopPipeline(); perr != nil {
			err = errors.Join(err, fmt.Errorf("the pipeline: %w", perr))
		}
	}()
	var ids []string
	for _, acct := range info.Accounts {
		ids = append(ids, acct.ID)
	}
	if err := waitAttached(ctx, cdb.direct, ids, 2*time.Minute); err != nil {
		return rep, err
	}
	if err := admin.fault(ctx, map[string]any{"fault": "resume"}); err != nil {
		return rep, err
	}
	fmt.Fprintf(a.stdout, "kraite chaos --soak: %s simulated in %s (x%.0f), %d accounts, database %s; a sample every %s\n",
		f.simulated, real.Round(time.Second), f.speed, f.accounts, cdb.masked, (real / samples).Round(time.Second))
	frames := func() int64 {
		var n int64
		_ = cdb.direct.QueryRowContext(ctx, "SELECT COUNT(*) FROM api_data_stream").Scan(&n)
		return n
	}
	mctx, mcancel := context.WithTimeout(ctx, real)
	defer mcancel()
	began := time.Now()
	for i := 0; i <= samples; i++ {
		m := chaos.SelfMemory()
		s := chaos.SoakSample{Real: chaos.Seconds(time.Since(began)), Simulated: chaos.Seconds(time.Duration(float64(time.Since(began)) * f.speed)),
			Memory: m, Frames: frames()}
		rep.Samples = append(rep.Samples, s)
		a.log.Info("soak sample", "real", time.Duration(s.Real).Round(time.Second), "simulated", time.Duration(s.Simulated).Round(time.Minute),
			"rss_mib", fmt.Sprintf("%.1f", m.RSSMiB), "heap_mib", fmt.Sprintf("%.1f", m.HeapMiB), "goroutines", m.Goroutines, "frames_stored", s.Frames)
		if i >= 1 { // the first sample is the warm-up
			if i == 1 {
				rep.Start = m
			}
			rep.Max = chaos.Memory{RSSMiB: max(rep.Max.RSSMiB, m.RSSMiB), HeapMiB: max(rep.Max.HeapMiB, m.HeapMiB),
				Goroutines: max(rep.Max.Goroutines, m.Goroutines)}
			rep.End = m
		}
		if i < samples {
			sleepCtx(mctx, real/samples)
		}
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
	}
	if err := admin.fault(ctx, map[string]any{"fault": "pause"}); err != nil {
		return rep, err
	}
	sctx, cancel := context.WithTimeout(ctx, f.settle)
	defer cancel()
	for {
		snap, err := admin.snapshot(sctx, ids)
		if err == nil {
			rep.Result, err = chaos.Compare(sctx, cdb.direct, snap, chaos.Options{})
		}
		if err == nil && rep.Result.LostTotal() == 0 && rep.Result.Phantom == 0 {
			rep.Converged = true
			break
		}
		if sctx.Err() != nil {
			break
		}
		sleepCtx(sctx, 2*time.Second)
	}
	return rep, nil
}
