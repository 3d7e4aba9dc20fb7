package app

import (
	"context"
	"fmt"
	"time"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/producers/userdata"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/topics"
)

// WithSweep is j with the order-sync and keep-alive periods of a
// time-compressed run (dev, chaos) and a drift grace of three sweeps.
func (j Jobs) WithSweep(syncEvery, keepAlive time.Duration) Jobs {
	j.OrderSyncEvery, j.KeepAliveEvery, j.DriftGrace = syncEvery, keepAlive, 3*syncEvery
	return j
}

// SeedSimulatorDatabase migrates the database, seeds the four venues'
// symbols and stores the simulator's symbol rules (exchangeInfo filters),
// which the intent validator checks every open against (dev, chaos).
func (w *App) SeedSimulatorDatabase(ctx context.Context, exchangeInfo []byte) error {
	d, err := w.database(ctx)
	if err != nil {
		return err
	}
	if _, err := d.SeedUniverse(ctx); err != nil {
		return fmt.Errorf("seeding symbols: %w", err)
	}
	if _, err := marketjobs.ImportExchangeInfo(ctx, d, topics.ExchangeBinance, exchangeInfo, time.Now()); err != nil {
		return fmt.Errorf("importing the simulator's symbol rules: %w", err)
	}
	return nil
}

// SeedSimulatorAccounts imports the simulator's accounts into the accounts
// table (key: KRAITE_ACCOUNTS_KEY(_FILE), else accounts.key in dataDir),
// publishes them to kraite.accounts, and makes the table the user-data
// producer's credential source (dev). It returns where the key came from.
func (w *App) SeedSimulatorAccounts(ctx context.Context, dataDir string, sim []userdata.Account) (string, error) {
	key, from, err := accounts.DevKey(w.AccountsKey, dataDir)
	if err != nil {
		return "", err
	}
	d, err := w.database(ctx)
	if err != nil {
		return "", err
	}
	cl, err := w.Kafka().Unmetered().Producer()
	if err != nil {
		return "", fmt.Errorf("creating the accounts producer: %w", err)
	}
	defer cl.Close()
	accts := make([]accounts.Account, len(sim))
	for i, a := range sim {
		accts[i] = accounts.Account{ID: a.ID, Exchange: topics.ExchangeBinance, APIKey: a.APIKey, APISecret: a.APISecret, Enabled: true}
	}
	pub := accounts.KafkaPublisher{Client: cl, Topic: topics.Accounts.Name(w.Common.TopicPrefix)}
	if _, err := accounts.Seed(ctx, d, key, pub, w.Log, "kraite dev", accts); err != nil {
		return "", err
	}
	s, err := accounts.Open(ctx, accounts.Config{DB: d, Key: key, Log: w.Log.With("component", "accounts")})
	if err != nil {
		return "", err
	}
	w.Creds, w.devKey = s, key
	return from, nil
}
