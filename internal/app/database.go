package app

// kraite migrate, symbols and accounts: the commands that work on the
// database of KRAITE_DATABASE_URL.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/queues/marketjobs"
	"github.com/kraite/stream/topics"
)

// OpenDatabase opens ex.DatabaseURL (KRAITE_DATABASE_URL, required) for a
// command, within 30 s.
func OpenDatabase(ctx context.Context, ex Exchange, log *slog.Logger) (*db.DB, error) {
	url := ex.DatabaseURL
	if url == "" {
		return nil, errors.New("KRAITE_DATABASE_URL: required (mysql://user:pass@host:3306/db, postgres://..., sqlite:///path)")
	}
	if _, err := db.ParseURL(url); err != nil {
		return nil, fmt.Errorf("KRAITE_DATABASE_URL: %w", err)
	}
	if log != nil {
		log.Info("opening database", "url", db.MaskURL(url))
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return db.Open(ctx, url)
}

// Migrate creates or upgrades the schema of ex.DatabaseURL and writes every
// recorded version to w. Running it again changes nothing.
func Migrate(ctx context.Context, ex Exchange, log *slog.Logger, w io.Writer) error {
	d, err := OpenDatabase(ctx, ex, log)
	if err != nil {
		return err
	}
	defer d.Close()
	applied, err := d.Migrate(ctx)
	if err != nil {
		return fmt.Errorf("migrating %s: %w", d.Dialect, err)
	}
	for _, m := range applied {
		state := "already applied"
		if m.New {
			state = "applied now"
		}
		fmt.Fprintf(w, "version %d  %-24s %s (%s)\n", m.Version, m.Name, state, m.AppliedAt.Format(time.RFC3339))
	}
	return nil
}

// SymbolsRequest is what `kraite symbols import` is asked to do.
type SymbolsRequest struct {
	RulesFrom string // REST base URL to read Binance's exchangeInfo from
	NoRules   bool   // do not import symbol rules
}

// ImportSymbols imports the four venues' symbols and token mappers of the
// simulator's universe into ex.DatabaseURL (idempotent upsert by exchange
// and symbol), then Binance's symbol rules (order filters and status from
// GET /fapi/v1/exchangeInfo), without which every open intent is refused.
// The schema must exist (Migrate).
func ImportSymbols(ctx context.Context, ex Exchange, log *slog.Logger, r SymbolsRequest, w io.Writer) error {
	d, err := OpenDatabase(ctx, ex, log)
	if err != nil {
		return err
	}
	defer d.Close()
	counts, err := d.SeedUniverse(ctx)
	if err != nil {
		return fmt.Errorf("importing symbols: %w", err)
	}
	for _, ex := range slices.Sorted(maps.Keys(counts.Symbols)) {
		fmt.Fprintf(w, "%-8s %d symbols\n", ex, counts.Symbols[ex])
	}
	fmt.Fprintf(w, "token mappers: %d\n", counts.Mappers)
	if r.NoRules {
		fmt.Fprintln(w, "symbol rules: not imported (--no-rules): open intents are refused without them")
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n, err := marketjobs.RefreshSymbols(rctx, binanceapi.New(r.RulesFrom), d, topics.ExchangeBinance)
	if err != nil {
		return fmt.Errorf("symbols imported, but not Binance's symbol rules from %s (open intents are refused without them): %w", r.RulesFrom, err)
	}
	fmt.Fprintf(w, "symbol rules: %d trading binance symbols from %s\n", n, r.RulesFrom)
	return nil
}

// AccountsRequest is one `kraite accounts <Sub>` call.
type AccountsRequest struct {
	Sub  string   // add, list, enable, disable, remove, rotate-secret, rotate-key, import, publish, audit, new-key
	Args []string // its positional arguments: the account id, or a file

	By, Exchange, Label, APIKey, SecretFile, NewKeyFile string
	Disabled, All                                       bool
	Limit                                               int
	Publish                                             bool // the change is published to kraite.accounts
}

// Validate names the flag a subcommand requires, or its bad value.
func (r AccountsRequest) Validate() error {
	switch {
	case r.Sub == "add" && r.APIKey == "":
		return errors.New("--api-key is required")
	case r.Sub == "rotate-key" && r.NewKeyFile == "":
		return errors.New("--new-key-file is required")
	case r.Sub == "audit" && r.Limit < 1:
		return errors.New("--limit must be at least 1")
	}
	return nil
}

// Accounts runs r on the accounts table of cfg's database (migrated) with
// cfg's accounts key, publishing changes when r.Publish. A secret is read
// from stdin unless r.SecretFile; what was done is written to stdout.
// new-key needs neither database nor key.
func Accounts(ctx context.Context, cfg *Config, log *slog.Logger, r AccountsRequest, stdin io.Reader, stdout io.Writer) error {
	id := ""
	if len(r.Args) > 0 {
		id = r.Args[0]
	}
	if r.Sub == "new-key" {
		k, err := accounts.WriteNewKeyFile(id)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote a new accounts key to %s (fingerprint %s)\n", id, k.ID())
		return nil
	}
	s, closeStore, err := openAccounts(ctx, cfg, log, r.Publish)
	if err != nil {
		return err
	}
	defer closeStore()
	secret := func() (string, error) {
		if r.SecretFile != "" && r.SecretFile != "-" {
			return accounts.ReadSecretFile(r.SecretFile)
		}
		return accounts.ReadSecret(stdin, "stdin")
	}
	switch r.Sub {
	case "add":
		sec, err := secret()
		if err != nil {
			return err
		}
		if err := s.Add(ctx, r.By, accounts.Account{ID: id, Exchange: r.Exchange, Label: r.Label, APIKey: r.APIKey, APISecret: sec, Enabled: !r.Disabled}); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s added (%s, api key %s, enabled %t)\n", id, r.Exchange, accounts.MaskKey(r.APIKey), !r.Disabled)
	case "list":
		list, err := s.List(ctx)
		if err != nil {
			return err
		}
		return accounts.WriteList(stdout, list)
	case "enable", "disable":
		changed, err := s.SetEnabled(ctx, r.By, id, r.Sub == "enable")
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(stdout, "account %s was already %sd\n", id, r.Sub)
			return nil
		}
		fmt.Fprintf(stdout, "account %s %sd\n", id, r.Sub)
	case "remove":
		if err := s.Remove(ctx, r.By, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s removed\n", id)
	case "rotate-secret":
		sec, err := secret()
		if err != nil {
			return err
		}
		if err := s.RotateSecret(ctx, r.By, id, r.APIKey, sec); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %s: secret rotated\n", id)
	case "rotate-key":
		nk, err := accounts.ReadKeyFile(r.NewKeyFile)
		if err != nil {
			return fmt.Errorf("--new-key-file: %w", err)
		}
		from := s.KeyID()
		n, err := s.RotateKey(ctx, r.By, nk)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d secrets re-encrypted from key %s to key %s\nnow set KRAITE_ACCOUNTS_KEY_FILE=%s (and unset KRAITE_ACCOUNTS_KEY) on every box: the old key no longer opens the table\n",
			n, from, nk.ID(), r.NewKeyFile)
	case "import":
		accts, err := accounts.ReadFile(id, r.Exchange)
		if err != nil {
			return err
		}
		res, err := s.Import(ctx, r.By, accts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "imported %s: %d added, %d updated, %d unchanged\n", id, len(res.Added), len(res.Updated), len(res.Unchanged))
	case "publish":
		publish := s.PublishPending
		if r.All {
			publish = s.Republish
		}
		n, err := publish(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d record(s) published to kraite.accounts\n", n)
	case "audit":
		es, err := s.Audit(ctx, id, r.Limit)
		if err != nil {
			return err
		}
		return accounts.WriteAudit(stdout, es)
	default:
		return fmt.Errorf("unknown accounts subcommand %q", r.Sub)
	}
	return nil
}

// openAccounts opens the accounts store of cfg's database (migrated) with
// the configured key and, when publish, a producer to kraite.accounts.
func openAccounts(ctx context.Context, cfg *Config, log *slog.Logger, publish bool) (*accounts.Store, func(), error) {
	key, err := cfg.AccountsKey.Load()
	if err != nil {
		return nil, nil, err
	}
	d, err := OpenDatabase(ctx, cfg.Exchange, log)
	if err != nil {
		return nil, nil, err
	}
	closers := []func(){func() { d.Close() }}
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	if _, err := d.Migrate(ctx); err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("migrating %s: %w", d.Dialect, err)
	}
	acfg := accounts.Config{DB: d, Key: key, Log: log}
	if publish {
		cl, err := NewCLIProducer(cfg.Common)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, cl.Close)
		acfg.Publisher = accounts.KafkaPublisher{Client: cl, Topic: topics.Accounts.Name(cfg.TopicPrefix)}
	}
	s, err := accounts.Open(ctx, acfg)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return s, closeAll, nil
}
