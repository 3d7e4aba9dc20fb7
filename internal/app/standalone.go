package app

// kraite broker and kraite simulator: the embedded broker and the exchange
// simulator as processes of their own.

import (
	"context"
	"fmt"
	"io"
	"log/slog"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/kclient"
)

// RunBroker runs the embedded Kafka-protocol broker of b (fsync on every
// produce with sync; SASL users of sasl) with the topic catalog applied,
// until ctx ends. Where to reach it goes to w.
func RunBroker(ctx context.Context, c Common, b Broker, sync bool, sasl BrokerSASL, log *slog.Logger, w io.Writer) error {
	users, sec, err := sasl.Build(c)
	if err != nil {
		return err
	}
	br, err := broker.Start(broker.Config{Addr: b.Addr, DataDir: b.DataDir, SyncWrites: sync, NoAutoCreate: true, Logger: log, SASL: users})
	if err != nil {
		return err
	}
	kclient.SetDefault(sec) // this process's own clients talk to this broker
	if _, err := EnsureTopics(ctx, Common{Brokers: []string{br.Addr()}, TopicPrefix: c.TopicPrefix, Replication: 1}); err != nil {
		br.Close()
		return fmt.Errorf("applying the topic catalog: %w", err)
	}
	log.Info("broker listening", "addr", br.Addr(), "data_dir", b.DataDir)
	fmt.Fprintf(w, "broker on %s; try: rpk -X brokers=%s topic list\n", br.Addr(), br.Addr())
	fmt.Fprint(w, SASLHint(users, sec))
	return br.Run(ctx)
}

// RunSimulator serves the Binance USD-M exchange simulator of e until ctx
// ends; its addresses, admin recipes and accounts go to w.
func RunSimulator(ctx context.Context, e Simulator, log *slog.Logger, w io.Writer) error {
	sim, err := simulator.Listen(simulator.StandaloneConfig{Addr: e.Addr, Seed: e.Seed, Accounts: e.Accounts,
		OrderInterval: e.OrderInterval, MarkInterval: e.MarkInterval, DataDir: e.DataDir, AdminToken: e.AdminToken,
		AllowRemote: e.AllowRemote, Logger: log.With("component", "simulator")})
	if err != nil {
		return err
	}
	writeSimulatorBanner(w, e, sim)
	return sim.Serve(ctx)
}

func writeSimulatorBanner(w io.Writer, e Simulator, sim *simulator.Standalone) {
	state := "none kept (--data-dir '')"
	if f := sim.StateFile; f != "" {
		state = f
	}
	fmt.Fprintf(w, `kraite simulator is running (Ctrl-C to stop): seed %d, %d accounts, state %s.

  REST base      http://%[4]s
  WS base        ws://%[4]s
  user data      ws://%[4]s/private/ws?listenKey=<key from POST /fapi/v1/listenKey>
  mark price     ws://%[4]s/market/ws/!markPrice@arr@1s
  faults         curl -H "Authorization: Bearer %[5]s" -X POST http://%[4]s/admin/fault -d '{"fault":"drop","account":"acct-0001"}'
  accounts file  curl -H "Authorization: Bearer %[5]s" http://%[4]s/admin/accounts > accounts.json   (KRAITE_ACCOUNTS_FILE; with secrets)

`, e.Seed, len(sim.Accounts()), state, sim.Addr, sim.TokenHint)
	for _, acct := range sim.Accounts() {
		fmt.Fprintf(w, "  %s  api key %s\n", acct.ID, binanceapi.Mask(acct.APIKey))
	}
	fmt.Fprintln(w)
}
