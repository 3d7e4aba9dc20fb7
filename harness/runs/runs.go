// Package runs runs the harness's measurements and fault runs for the
// kraite bench and kraite chaos commands: each function takes what the
// command line asked for and the output, and returns the verdict as an
// error, so cmd/kraite only parses flags. It lives apart from internal/app
// because the harness packages build on internal/app.
package runs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/e2e"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/soak"
	"github.com/kraite/stream/harness/streambench"
	"github.com/kraite/stream/internal/kclient"
)

// GroupSessionTimeout is the consumer session timeout of the pipeline's
// groups: a killed member's partitions wait this long (chaos's help).
const GroupSessionTimeout = kclient.GroupSessionTimeout

// IngestRequest is a `kraite bench ingest` call.
type IngestRequest struct {
	Accounts                   int
	Processes                  int // 0: in-process, against franz-go's default linger
	Interval, Warmup, Duration time.Duration
	ChildArgs                  []string // the command line of a producer child (bench producer)
}

// Validate names the flags of a bad setting.
func (r IngestRequest) Validate() error {
	if r.Processes < 0 || r.Processes > 16 || r.Accounts < 1 {
		return errors.New("--processes must be 0..16 and --accounts positive")
	}
	return nil
}

// Ingest measures frame-to-Kafka-ack latency and throughput with many
// accounts streaming from the simulator over real sockets into the broker:
// with Processes, spread over that many producer processes of one group
// against one process of it; else in-process against the same pipeline with
// franz-go's default 10 ms linger instead of Kraite's tuning.
func Ingest(ctx context.Context, r IngestRequest, log *slog.Logger, w io.Writer) error {
	if r.Processes > 0 {
		self, err := os.Executable()
		if err != nil {
			return err
		}
		kclient.SetDefault(kclient.Security{}) // the embedded open broker
		fmt.Fprintf(w, "load average before: %s\n", proc.LoadAvg())
		_, err = streambench.Ingest(ctx, streambench.IngestOptions{Self: self, Args: r.ChildArgs,
			Accounts: r.Accounts, Processes: r.Processes, Interval: r.Interval, Warmup: r.Warmup, Duration: r.Duration, Out: w, Log: log})
		fmt.Fprintf(w, "load average after: %s\n", proc.LoadAvg())
		return err
	}
	kclient.SetDefault(kclient.Security{}) // the clients talk to the run's own open broker, whatever KRAITE_KAFKA_* says
	_, err := streambench.IngestLinger(ctx, streambench.LingerOptions{Accounts: r.Accounts, Interval: r.Interval,
		Warmup: r.Warmup, Duration: r.Duration, Out: w, Log: log})
	return err
}

// E2ERequest is a `kraite bench e2e` call: its flags bind straight into
// the harness's configuration.
type E2ERequest struct{ e2e.Config }

// Validate names the flag of the first bad setting; unlike the harness,
// which takes 0 for one run, the command line asks for at least one.
func (r E2ERequest) Validate() error {
	if r.Repeat < 1 {
		return fmt.Errorf("repeat: %d is not between 1 and %d", r.Repeat, e2e.MaxRepeat)
	}
	return r.Config.Validate()
}

// E2E runs harness/e2e with r (validated) against its own open broker,
// logging to log and reporting on w.
func E2E(ctx context.Context, r E2ERequest, log *slog.Logger, w io.Writer) error {
	kclient.SetDefault(kclient.Security{}) // the clients talk to the run's own open broker, whatever KRAITE_KAFKA_* says
	r.Log, r.Out = log, w
	_, err := e2e.Run(ctx, r.Config)
	return err
}

// FailoverRequest is a `kraite bench failover` call.
type FailoverRequest struct {
	Accounts                 int
	Session, Grace, Interval time.Duration
	DatabaseURL              string // the server of the scratch database ("" : e2e.DefaultServer)
	Database                 bool   // also write a scratch database and compare it with the ground truth
	WeightLimit              int    // the simulator's REST weight a minute (100 to 10,000,000; the flag defaults to Binance's 2,400)
	ChildArgs                []string
}

// Validate names the first bad setting.
func (r FailoverRequest) Validate() error {
	switch {
	case r.Accounts < 1 || r.Session < 6*time.Second:
		return errors.New("--accounts must be positive and --session at least 6s (the broker's minimum)")
	case r.WeightLimit < 100 || r.WeightLimit > 10_000_000:
		return fmt.Errorf("--weight-limit %d: want 100 to 10000000 weight a minute", r.WeightLimit)
	}
	return nil
}

// Failover kills -9 one of two producer processes holding the simulated
// accounts and adds a third (streambench.Failover); anything lost, doubled
// or a gap marker is an error naming it.
func Failover(ctx context.Context, r FailoverRequest, log *slog.Logger, w io.Writer) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	kclient.SetDefault(kclient.Security{}) // the embedded open broker
	fmt.Fprintf(w, "load average before: %s\n", proc.LoadAvg())
	var server string
	if r.Database {
		if server = r.DatabaseURL; server == "" {
			server = e2e.DefaultServer
		}
	}
	res, err := streambench.Failover(ctx, streambench.FailoverOptions{Self: self, Args: r.ChildArgs,
		Accounts: r.Accounts, Interval: r.Interval, Session: r.Session, Grace: r.Grace, WeightLimit: r.WeightLimit,
		DatabaseURL: server, Out: w, Log: log})
	fmt.Fprintf(w, "load average after: %s\n", proc.LoadAvg())
	if err != nil {
		return err
	}
	if !res.OK() {
		why := fmt.Sprintf("%d gap markers for %d moved accounts, %d gap markers in the scale-out, %d+%d frames missing from the topic",
			len(res.Recovery), res.Moved, res.ScaleOutGaps, res.MissingAfter, res.MissingScaleOut)
		if d := res.Database; d != nil {
			why += fmt.Sprintf("; database converged %t, %d lost, %d doubled, %d phantom rows, %d status regressions",
				d.Converged, d.LostTotal(), d.DuplicateTotal(), d.Phantom, d.Regressions)
		}
		return fmt.Errorf("failover: %s", why)
	}
	return nil
}

// Producer is the producer child of Ingest and Failover, driven over stdin
// and stdout by its parent.
func Producer(ctx context.Context, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	kclient.SetDefault(kclient.Security{}) // the parent's embedded open broker
	return streambench.RunWorker(ctx, stdin, stdout, log)
}

// Soak runs harness/soak with cfg (validated) and reports it on w (and as
// JSON to reportJSON unless empty); a failure of the soak is an error.
func Soak(ctx context.Context, cfg soak.Config, reportJSON string, w io.Writer) error {
	rep, err := soak.Run(ctx, cfg)
	if err != nil {
		return err
	}
	return report(w, rep, reportJSON, "soak")
}

// ChaosRequest is a `kraite chaos` call. Its flags bind straight into the
// embedded chaos.Config and the fields below; with Soak the same settings
// (accounts, seed, order interval, settle, admin URL, keep) are a soak of
// the whole pipeline instead, and the fault settings are not used.
type ChaosRequest struct {
	chaos.Config
	Faults     string // comma separated fault kinds ("": every kind)
	ReportJSON string // also write the report as JSON to this file ("": not)
	Soak       bool
	Simulated  time.Duration // Soak: the simulated span
	Speed      float64       // Soak: time compression factor
	PeerCmd    []string      // Soak: the peer's command line (bench peer); its environment adds ChildEnv
}

// Validate names every flag that cannot run.
func (r ChaosRequest) Validate() error {
	if r.Soak {
		return r.soakConfig().Validate()
	}
	_, err := r.chaosConfig()
	return err
}

// chaosConfig is r's fault run, validated.
func (r ChaosRequest) chaosConfig() (chaos.Config, error) {
	kinds, err := chaos.ParseKinds(r.Faults)
	if err != nil {
		return chaos.Config{}, fmt.Errorf("--faults: %w", err)
	}
	cfg := r.Config
	cfg.Kinds = kinds
	return cfg, cfg.Validate()
}

// soakConfig is r's soak of the whole pipeline.
func (r ChaosRequest) soakConfig() soak.Config {
	return soak.Config{Simulated: r.Simulated, Speed: r.Speed, Accounts: r.Accounts, Seed: r.Seed,
		OrderInterval: r.OrderInterval, Pipeline: true, AdminURL: r.AdminURL, Keep: r.Keep, Settle: r.Settle,
		App: r.App, Self: r.Self, PeerCmd: r.PeerCmd, PeerEnv: r.ChildEnv, Log: r.Log, Out: r.Out}
}

// Chaos runs the pipeline under r's faults (chaos.Execute), or its soak
// (Soak), and reports it on stdout (and as JSON to r.ReportJSON unless
// empty); a loss, a duplicate or an unrecovered fault is an error. A soak's
// peer logs on stderr.
func Chaos(ctx context.Context, r ChaosRequest, log *slog.Logger, stdout, stderr io.Writer) error {
	r.Log, r.Out = log, stdout
	if r.Soak {
		cfg := r.soakConfig()
		cfg.Stderr = stderr
		return Soak(ctx, cfg, r.ReportJSON, stdout)
	}
	cfg, err := r.chaosConfig()
	if err != nil {
		return err
	}
	rep, err := chaos.Execute(ctx, cfg)
	if err != nil {
		return err
	}
	return report(stdout, rep, r.ReportJSON, "chaos run failed")
}

// Peer is the peer process of a soak (bench soak, chaos --soak): the broker
// and the simulator in a process of their own, so the soak measures its own
// memory alone (soak.ServePeer).
func Peer(ctx context.Context, c soak.PeerConfig, w io.Writer) error {
	return soak.ServePeer(ctx, c, w)
}

// reporter is what the harness's runs return: a text for a person, the
// reasons it failed.
type reporter interface {
	WriteText(io.Writer)
	Failures() []string
}

// report prints rep on w, writes it as JSON to jsonPath (unless empty) and
// returns its failures as one error, prefixed by failed.
func report(w io.Writer, rep reporter, jsonPath, failed string) error {
	rep.WriteText(w)
	if err := writeJSONFile(jsonPath, rep); err != nil {
		return err
	}
	if fails := rep.Failures(); len(fails) > 0 {
		return fmt.Errorf("%s: %s", failed, strings.Join(fails, "; "))
	}
	return nil
}

func writeJSONFile(path string, v any) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}
