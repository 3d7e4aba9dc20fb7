package main

import (
	"context"
	"time"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/runs"
	"github.com/kraite/stream/internal/cli"
)

// reexecEnv makes a test binary that re-executes itself (os.Executable)
// run the kraite command line instead of its tests; see TestMain. The kraite
// binary itself ignores it.
const reexecEnv = "KRAITE_REEXEC_APP"

func cmdChaos(ctx context.Context, a *kraite, args []string) error {
	r := runs.ChaosRequest{Config: chaos.Config{App: a.cfg, ChildEnv: []string{reexecEnv + "=1"}}, PeerCmd: benchPeerCmd}
	fs := a.newFlags("chaos", `chaos [--for 60s] [--accounts 3] [--seed 1] [--database-url URL] [--keep] [--report-json FILE]
       kraite chaos --soak [--simulated 72h] [--speed 360] [--accounts 3]

Runs the whole pipeline (its own embedded broker, the Binance simulator, producers, processors,
sinks, scheduler and workers; orders-sink and trading-worker also as a child process) for --for
while injecting faults, then pauses trading, waits for the order-sync sweep to converge and
compares the database with the simulator's ground truth. It prints frames pushed and stored,
events lost and duplicates applied (both must be 0), the time to recover from each fault and
the memory at start and end, and exits non-zero on any loss, duplicate or unrecovered fault.

Faults, every kind once per cycle (a cycle per 90 s of the fault window; infrastructure first):
  kill-worker       kill -9 of the child process (orders-sink + trading-worker), restarted 2 s
                    later; its partitions wait for the consumer session timeout (`+runs.GroupSessionTimeout.String()+`)
  rebalance         an extra audit-sink member joins its group for 6 s, then leaves
  coordinator-loss  NOT_COORDINATOR on OffsetCommit/Heartbeat and COORDINATOR_NOT_AVAILABLE on
                    FindCoordinator for the three sink groups, 4 s (kfake fault injection)
  produce-errors    NOT_LEADER_FOR_PARTITION on 5 Produce requests to user-data-stream
  database-outage   the pipeline reaches the database through a TCP proxy; every connection is
                    cut and new ones refused for 4 s. The shared server is NOT restarted (other
                    tests use it); --restart-mariadb-cmd restarts a dedicated server instead
  socket-drop       the account's sockets closed abruptly (no close frame)
  socket-silence    the account's sockets stay open but silent for 5 s, longer than the
                    producer's watchdog (3 s in a chaos run)
  listenkey-expiry  the account's listenKey expires (listenKeyExpired frame, then nothing)
  lost-frames       the account's next 2-4 order changes happen without a frame (REST only)
  malformed-frame   a truncated JSON frame pushed on the account's sockets

The database is a fresh MariaDB database kraite_chaos_<unix>_<hex> on --mysql-admin-url, dropped
at the end unless --keep; --database-url uses an existing database instead (mysql://,
postgres:// or sqlite://; SQLite has no server to cut, so database-outage is left out).

--soak runs the same pipeline without faults for --simulated time compressed by --speed (every
protocol timer divided by it: pings, listenKey TTL and keep-alive, the 24 h connection cut-off,
the order-sync period) and reports memory sampled over the run: the soak of kraite bench soak, of
the whole pipeline, its database compared with the ground truth at the end.`)
	fs.DurationVar(&r.For, "for", 60*time.Second, "how long to run with faults (the CI short form is 60s; long form e.g. 30m)")
	fs.IntVar(&r.Accounts, "accounts", 3, "simulated accounts")
	fs.Int64Var(&r.Seed, "seed", 1, "seed of the simulator and the fault schedule")
	fs.StringVar(&r.DatabaseURL, "database-url", "", "use this database instead of creating one (mysql://, postgres://, sqlite://)")
	fs.StringVar(&r.AdminURL, "mysql-admin-url", "mysql://root@127.0.0.1:3306/mysql", "MariaDB server on which the fresh database is created")
	fs.BoolVar(&r.Keep, "keep", false, "keep the created database at the end")
	fs.StringVar(&r.ReportJSON, "report-json", "", "also write the report as JSON to this file")
	fs.DurationVar(&r.OrderInterval, "order-interval", 100*time.Millisecond, "mean time between order events per account")
	fs.DurationVar(&r.Settle, "settle", 3*time.Minute, "after --for: how long to wait for every recovery and the database to converge")
	fs.StringVar(&r.Faults, "faults", "", "comma separated fault kinds to inject (default all: "+chaos.KindList(chaos.AllKinds())+")")
	fs.StringVar(&r.RestartCmd, "restart-mariadb-cmd", "", "database-outage runs this shell command (e.g. 'systemctl restart mariadb') instead of cutting the proxy; only on a dedicated server")
	fs.BoolVar(&r.Soak, "soak", false, "time-compressed soak without faults: report memory over --simulated")
	fs.DurationVar(&r.Simulated, "simulated", 72*time.Hour, "--soak: simulated time span")
	fs.Float64Var(&r.Speed, "speed", 360, "--soak: time compression factor")
	if _, err := a.start(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return runs.Chaos(ctx, r, a.log, a.stdout, a.stderr)
}
