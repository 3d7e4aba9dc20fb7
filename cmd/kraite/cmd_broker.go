package main

import (
	"context"
	"flag"

	"github.com/kraite/stream/internal/app"
)

func cmdBroker(ctx context.Context, a *kraite, args []string) error {
	cfg := a.cfg.Broker
	fs := a.newFlags("broker", "broker [--addr HOST:PORT] [--data-dir DIR] [--sync] [--sasl-user U --sasl-password P]")
	fs.StringVar(&cfg.Addr, "addr", cfg.Addr, "listen address (env KRAITE_BROKER_ADDR)")
	fs.StringVar(&cfg.DataDir, "data-dir", cfg.DataDir, "where topics, records and committed offsets are kept; empty = memory only (env KRAITE_BROKER_DATA_DIR)")
	sync := fs.Bool("sync", false, "fsync every produce (durable across power loss, slower)")
	var sasl app.BrokerSASL
	registerBrokerSASL(fs, &sasl)
	c, err := a.start(fs, args)
	if err != nil {
		return err
	}
	return app.RunBroker(ctx, c, cfg, *sync, sasl, a.log, a.stdout)
}

// registerBrokerSASL adds the embedded broker's --sasl-* flags to fs.
func registerBrokerSASL(fs *flag.FlagSet, f *app.BrokerSASL) {
	fs.StringVar(&f.User, "sasl-user", "", "require SASL on the broker: the user name clients must authenticate as (empty = no authentication)")
	fs.StringVar(&f.Password, "sasl-password", "", "the SASL user's password (empty = KRAITE_KAFKA_SASL_PASSWORD or KRAITE_KAFKA_SASL_PASSWORD_FILE, which keeps it off the command line)")
	fs.StringVar(&f.Mechanisms, "sasl-mechanism", app.DefaultBrokerMechanisms, "the SASL mechanisms the broker accepts for the user, comma separated (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
}
