package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/kclient"
)

func cmdBroker(ctx context.Context, a *kraite, args []string) error {
	cfg := a.cfg.Broker
	fs := a.newFlags("broker", "broker [--addr HOST:PORT] [--data-dir DIR] [--sync] [--sasl-user U --sasl-password P]")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env KRAITE_BROKER_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "where topics, records and committed offsets are kept; empty = memory only (env KRAITE_BROKER_DATA_DIR)")
	sync := fs.Bool("sync", false, "fsync every produce (durable across power loss, slower)")
	var sasl app.BrokerSASL
	registerBrokerSASL(fs, &sasl)
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := cli.NoArgs(fs, 0); err != nil {
		return err
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	users, sec, err := sasl.Build(c)
	if err != nil {
		return err
	}
	b, err := broker.Start(broker.Config{Addr: cfg.Addr, DataDir: cfg.DataDir, SyncWrites: *sync, NoAutoCreate: true, Logger: a.log, SASL: users})
	if err != nil {
		return err
	}
	kclient.SetDefault(sec) // this process's own clients talk to this broker
	if _, err := app.EnsureTopics(ctx, app.Common{Brokers: []string{b.Addr()}, TopicPrefix: c.TopicPrefix, Replication: 1}); err != nil {
		b.Close()
		return fmt.Errorf("applying the topic catalog: %w", err)
	}
	a.log.Info("broker listening", "addr", b.Addr(), "data_dir", cfg.DataDir)
	fmt.Fprintf(a.stdout, "broker on %s; try: rpk -X brokers=%s topic list\n", b.Addr(), b.Addr())
	fmt.Fprint(a.stdout, app.SASLHint(users, sec))
	return b.Run(ctx)
}

// registerBrokerSASL adds the embedded broker's --sasl-* flags to fs.
func registerBrokerSASL(fs *flag.FlagSet, f *app.BrokerSASL) {
	fs.StringVar(&f.User, "sasl-user", "", "require SASL on the broker: the user name clients must authenticate as (empty = no authentication)")
	fs.StringVar(&f.Password, "sasl-password", "", "the SASL user's password (empty = KRAITE_KAFKA_SASL_PASSWORD or KRAITE_KAFKA_SASL_PASSWORD_FILE, which keeps it off the command line)")
	fs.StringVar(&f.Mechanisms, "sasl-mechanism", app.DefaultBrokerMechanisms, "the SASL mechanisms the broker accepts for the user, comma separated (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
}
