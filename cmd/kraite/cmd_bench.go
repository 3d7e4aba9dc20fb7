package main

import (
	"context"
	"time"

	"github.com/kraite/stream/harness/e2e"
	"github.com/kraite/stream/harness/runs"
	"github.com/kraite/stream/harness/soak"
	"github.com/kraite/stream/internal/cli"
)

func cmdBench(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench", "bench ingest|e2e|soak|failover [flags]\n\n"+
		"  ingest    frame-to-Kafka-ack latency and throughput of the user-data producer with many\n"+
		"            simulated accounts (its own embedded broker and simulator), against a baseline;\n"+
		"            --processes N spreads them over N producer processes (the producer.user-data group)\n"+
		"  e2e       frame-to-database latency of the whole pipeline in one process (simulator, producers,\n"+
		"            broker, dispatch, sinks on a scratch MariaDB database), against the previous sink cycle\n"+
		"  soak      the producer's memory over a time-compressed span of hours\n"+
		"  failover  kill -9 one of two producer processes, then add a third: time to stream again, gaps\n\n"+
		"kraite bench ingest -h, kraite bench e2e -h, kraite bench soak -h and kraite bench failover -h show their flags.")
	if len(args) == 0 {
		return cli.Usagef(fs, "bench needs a subcommand: ingest, e2e, soak or failover (kraite bench ingest -h)")
	}
	sub, ok := map[string]func(context.Context, *kraite, []string) error{"ingest": benchIngest, "e2e": benchE2E,
		"soak": benchSoak, "peer": benchPeer, "failover": benchFailover, "producer": benchProducer}[args[0]]
	if !ok { // bench -h, or a flag or word that is not a subcommand.
		if err := cli.Parse(fs, args); err != nil {
			return err
		}
		return cli.Usagef(fs, "unknown bench %q: ingest, e2e, soak or failover", args[0])
	}
	if _, err := a.loadCommon(); err != nil {
		return err
	}
	return sub(ctx, a, args[1:])
}

// benchIngest measures frame-to-Kafka-ack latency and throughput with many
// accounts streaming from the simulator over real sockets into the broker.
// The baseline, measured in the same run on the same simulator, is the same
// pipeline with franz-go's default 10 ms linger instead of Kraite's tuning.
func benchIngest(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench ingest", "bench ingest [--accounts 1000] [--duration 20s] [--order-interval 1s] [--processes N]")
	r := runs.IngestRequest{ChildArgs: benchProducerCmd}
	fs.IntVar(&r.Accounts, "accounts", 1000, "simulated accounts, one WebSocket each")
	fs.DurationVar(&r.Duration, "duration", 20*time.Second, "measured time per phase")
	fs.DurationVar(&r.Warmup, "warmup", 5*time.Second, "unmeasured time before each phase")
	fs.DurationVar(&r.Interval, "order-interval", time.Second, "mean time between order lifecycle steps per account")
	fs.IntVar(&r.Processes, "processes", 0, "spread the accounts over this many producer processes (the producer.user-data\n"+
		"group), measured next to one process of the same group in the same run; 0: in-process, against the linger baseline")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return runs.Ingest(ctx, r, a.log, a.stdout)
}

// benchE2E parses the flags of bench e2e; harness/e2e runs it.
func benchE2E(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench e2e", "bench e2e [--accounts 200] [--duration 20s] [--order-interval 2s] [--baseline=true] [--repeat 1]\n\n"+
		"The user-data path in one process: the simulator's accounts -> user-data and mark-price producers ->\n"+
		"embedded broker -> dispatch -> audit, orders and mark-price sinks on a scratch database created on the\n"+
		"server of KRAITE_DATABASE_URL (default "+e2e.DefaultServer+"; the database it names is not\n"+
		"touched) and dropped afterwards. Reports p50/p90/p99/max from each frame's exchange time (T, else E)\n"+
		"to its api_data_stream row and orders row (their written_at) and its transition on the positions\n"+
		"topic, each stage, frames/s, the frames missing (must be 0) and the load average; then the same for\n"+
		"the sinks' previous cycle (SyncCycle) on a fresh broker and database, and the ratio. --repeat N measures\n"+
		"both N times, alternating them, and ends with the median and range of the per-run p99s and p50s.")
	r := runs.E2ERequest{Config: e2e.Config{DatabaseURL: a.cfg.Exchange.DatabaseURL}}
	fs.IntVar(&r.Accounts, "accounts", 200, "simulated accounts, one WebSocket each")
	fs.DurationVar(&r.Duration, "duration", 20*time.Second, "measured window per phase")
	fs.DurationVar(&r.Warmup, "warmup", 5*time.Second, "unmeasured time before each window (after every stream is up)")
	fs.DurationVar(&r.OrderInterval, "order-interval", 2*time.Second, "mean time between order lifecycle steps per account (the rate)")
	fs.BoolVar(&r.Baseline, "baseline", true, "also measure the sinks' previous cycle and print the ratio")
	fs.Int64Var(&r.Seed, "seed", 17, "simulator seed")
	fs.IntVar(&r.Repeat, "repeat", 1, "runs of every phase, alternating them; more than 1 reports the spread of the per-run figures")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return runs.E2E(ctx, r, a.log, a.stdout)
}

// benchFailover kills -9 one of two producer processes holding the
// simulated accounts and adds a third (see runs.Failover).
func benchFailover(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench failover", "bench failover [--accounts 1000] [--session 10s] [--grace 15s] [--order-interval 1s] [--weight-limit 60000] [--database=false]\n\n"+
		"Also writes a scratch database on the server of KRAITE_DATABASE_URL (default "+e2e.DefaultServer+"; the database\n"+
		"it names is not touched, a fresh one is created and dropped): dispatch, the audit and orders sinks and the gap\n"+
		"backfill run in this process, and at the end the tables are compared with the simulator's ground truth\n"+
		"(nothing lost, nothing doubled). --database=false: the topic only.")
	r := runs.FailoverRequest{DatabaseURL: a.cfg.Exchange.DatabaseURL, ChildArgs: benchProducerCmd}
	fs.IntVar(&r.Accounts, "accounts", 1000, "simulated accounts, one WebSocket each")
	fs.DurationVar(&r.Session, "session", 10*time.Second, "group session timeout of the producers (a killed one is noticed after it)")
	fs.DurationVar(&r.Grace, "grace", 15*time.Second, "hand-over grace (KRAITE_HANDOVER_GRACE)")
	fs.DurationVar(&r.Interval, "order-interval", time.Second, "mean time between order lifecycle steps per account")
	fs.BoolVar(&r.Database, "database", true, "also write a scratch database and compare it with the ground truth")
	fs.IntVar(&r.WeightLimit, "weight-limit", 60000, "the simulator's REST weight per minute, shared by the producers' listenKey calls (95% share)\n"+
		"and the gap backfill (50%); N x 2400 stands for N IPs (the default, 25). 2400 is one IP: the backfill\n"+
		"then paces about 8 accounts a minute, and the database side of 1,000 accounts takes hours")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := r.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return runs.Failover(ctx, r, a.log, a.stdout)
}

// benchProducer is a producer child of bench ingest --processes and bench
// failover, driven over stdin and stdout by its parent.
func benchProducer(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench producer", "bench producer (internal: started by bench ingest --processes and bench failover)")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return runs.Producer(ctx, a.stdin, a.stdout, a.log)
}

// benchPeerCmd is the command a soak re-executes as its peer, and
// benchProducerCmd a producer child of bench ingest and failover.
var benchPeerCmd, benchProducerCmd = []string{"bench", "peer"}, []string{"bench", "producer"}

// benchPeer runs the broker and the simulator of a soak (bench soak,
// chaos --soak) in a process of their own (runs.Peer).
func benchPeer(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench peer", "bench peer (internal: started by bench soak and chaos --soak)")
	c := soak.PeerConfig{Prefix: a.cfg.TopicPrefix}
	fs.IntVar(&c.Accounts, "accounts", 50, "internal: simulated accounts")
	fs.Float64Var(&c.Speed, "speed", 360, "internal: time compression factor")
	fs.Int64Var(&c.Seed, "seed", 5, "internal: simulator seed")
	fs.DurationVar(&c.OrderInterval, "order-interval", 200*time.Millisecond, "internal: mean time between order steps per account")
	fs.BoolVar(&c.Paused, "paused", false, "internal: start with trading paused")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	return runs.Peer(ctx, c, a.stdout)
}

// benchSoak runs the user-data producer alone for a simulated span of
// hours with every protocol timer compressed by --speed and reports its
// process's RSS and Go heap over time (harness/soak; chaos --soak is the
// same soak of the whole pipeline).
func benchSoak(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("bench soak", "bench soak [--simulated 6h] [--speed 360] [--accounts 50] [--report-json FILE]\n\n"+
		"The user-data producer alone for --simulated, every protocol timer divided by --speed, against a broker\n"+
		"and simulator in a peer process; reports this process's RSS, Go heap and goroutines over the run.\n"+
		"The same soak as kraite chaos --soak, which soaks the whole pipeline and compares its database.")
	// The kraite binary ignores reexecEnv; a test binary standing in for it
	// needs it to run the command line.
	cfg := soak.Config{App: a.cfg, Log: a.log, PeerCmd: benchPeerCmd, PeerEnv: []string{reexecEnv + "=1"}, Out: a.stdout, Stderr: a.stderr}
	fs.DurationVar(&cfg.Simulated, "simulated", 6*time.Hour, "simulated time span")
	fs.Float64Var(&cfg.Speed, "speed", 360, "time compression factor")
	fs.IntVar(&cfg.Accounts, "accounts", 50, "simulated accounts")
	fs.Int64Var(&cfg.Seed, "seed", 5, "simulator seed")
	fs.DurationVar(&cfg.OrderInterval, "order-interval", 200*time.Millisecond, "mean time between order lifecycle steps per account")
	reportJSON := fs.String("report-json", "", "also write the report as JSON to this file")
	if err := cli.ParseNoArgs(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	return runs.Soak(ctx, cfg, *reportJSON, a.stdout)
}
