package main

import (
	"context"
	"flag"
	"fmt"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/topics"
)

const accountsHelp = `accounts <subcommand> [flags]

The accounts table (KRAITE_DATABASE_URL) is the source of truth of the accounts
the user-data producers stream; every change is also published, without any
secret, to the compacted kraite.accounts topic. API secrets are encrypted at rest
with the key of KRAITE_ACCOUNTS_KEY (base64 of 32 bytes) or KRAITE_ACCOUNTS_KEY_FILE
(mode 0600); a missing or wrong key is an error. Secrets are read from stdin or
--secret-file, never from a flag, and never printed.

  add ID --api-key KEY [--exchange binance] [--label L] [--disabled] [--secret-file F]
  list                              accounts, API keys masked, and unpublished changes
  enable ID | disable ID            start or stop streaming the account
  remove ID                         delete it (a tombstone on kraite.accounts)
  rotate-secret ID [--api-key KEY] [--secret-file F]
  rotate-key --new-key-file F       re-encrypt every secret under a new key (one transaction)
  import FILE [--exchange binance]  add or update the accounts of a KRAITE_ACCOUNTS_FILE
  publish [--all]                   publish the changes not yet on kraite.accounts (--all: every account)
  audit [ID] [--limit N]            who changed what, and when
  new-key FILE                      write a fresh random key (mode 0600) for KRAITE_ACCOUNTS_KEY_FILE

kraite accounts <subcommand> -h shows its flags.`

// accountsSub is one subcommand: its synopsis, positional arguments (min,
// max) and whether it needs a publisher.
type accountsSub struct {
	synopsis string
	minArgs  int
	maxArgs  int
	publish  bool
	flags    func(fs *flag.FlagSet, o *accountsOpts)
}

type accountsOpts struct {
	by, exchange, label, apiKey, secretFile, newKeyFile string
	disabled, all                                       bool
	limit                                               int
}

func accountsSubs(user string) map[string]accountsSub {
	by := func(fs *flag.FlagSet, o *accountsOpts) {
		fs.StringVar(&o.by, "by", user+"@"+app.Hostname(), "who makes the change (recorded in account_audit)")
	}
	secret := func(fs *flag.FlagSet, o *accountsOpts) {
		by(fs, o)
		fs.StringVar(&o.secretFile, "secret-file", "", "read the API secret from this file (default: stdin)")
	}
	return map[string]accountsSub{
		"add": {synopsis: "accounts add ID --api-key KEY [--exchange binance] [--label L] [--disabled] [--secret-file F]\n\n" +
			"  Adds an account; its API secret is read from stdin (or --secret-file), never from a flag.",
			minArgs: 1, maxArgs: 1, publish: true, flags: func(fs *flag.FlagSet, o *accountsOpts) {
				secret(fs, o)
				fs.StringVar(&o.apiKey, "api-key", "", "the API key (required; not a secret, shown masked)")
				fs.StringVar(&o.exchange, "exchange", topics.ExchangeBinance, "the account's exchange")
				fs.StringVar(&o.label, "label", "", "a label for people")
				fs.BoolVar(&o.disabled, "disabled", false, "add it disabled (not streamed until enabled)")
			}},
		"list": {synopsis: "accounts list\n\n  Lists the accounts (API keys masked, never a secret) and the changes not yet on kraite.accounts.",
			flags: func(*flag.FlagSet, *accountsOpts) {}},
		"enable":  {synopsis: "accounts enable ID\n\n  Enables an account: its producer opens its stream.", minArgs: 1, maxArgs: 1, publish: true, flags: by},
		"disable": {synopsis: "accounts disable ID\n\n  Disables an account: its producer closes its stream.", minArgs: 1, maxArgs: 1, publish: true, flags: by},
		"remove": {synopsis: "accounts remove ID\n\n  Removes an account (its secret is wiped at once; a tombstone goes to kraite.accounts).",
			minArgs: 1, maxArgs: 1, publish: true, flags: by},
		"rotate-secret": {synopsis: "accounts rotate-secret ID [--api-key KEY] [--secret-file F]\n\n" +
			"  Replaces the account's API secret (read from stdin or --secret-file) and, with --api-key, its key.",
			minArgs: 1, maxArgs: 1, publish: true, flags: func(fs *flag.FlagSet, o *accountsOpts) {
				secret(fs, o)
				fs.StringVar(&o.apiKey, "api-key", "", "the new API key (default: keep the current one)")
			}},
		"rotate-key": {synopsis: "accounts rotate-key --new-key-file F\n\n" +
			"  Re-encrypts every API secret under the key in F, in one transaction, then configure\n" +
			"  KRAITE_ACCOUNTS_KEY_FILE=F everywhere: the old key no longer opens the table.",
			flags: func(fs *flag.FlagSet, o *accountsOpts) {
				by(fs, o)
				fs.StringVar(&o.newKeyFile, "new-key-file", "", "the new key (kraite accounts new-key F makes one)")
			}},
		"import": {synopsis: "accounts import FILE [--exchange binance]\n\n" +
			"  Adds or updates the accounts of FILE (the KRAITE_ACCOUNTS_FILE format:\n" +
			"  [{\"id\":...,\"api_key\":...,\"api_secret\":...}], optional \"exchange\", \"label\", \"enabled\")\n" +
			"  in one transaction; an identical account is left alone, an existing account keeps its\n" +
			"  enabled flag, accounts not in FILE are not touched.",
			minArgs: 1, maxArgs: 1, publish: true, flags: func(fs *flag.FlagSet, o *accountsOpts) {
				by(fs, o)
				fs.StringVar(&o.exchange, "exchange", topics.ExchangeBinance, "the exchange of entries that name none")
			}},
		"publish": {synopsis: "accounts publish [--all]\n\n" +
			"  Publishes to kraite.accounts every change the topic has not acknowledged (after a crash\n" +
			"  or a broker outage during a change); --all publishes every account again (a re-sync).",
			publish: true, flags: func(fs *flag.FlagSet, o *accountsOpts) {
				fs.BoolVar(&o.all, "all", false, "publish every account, not only the pending ones")
			}},
		"audit": {synopsis: "accounts audit [ID] [--limit N]\n\n  Shows who changed what and when (never a secret), newest first.",
			maxArgs: 1, flags: func(fs *flag.FlagSet, o *accountsOpts) {
				fs.IntVar(&o.limit, "limit", 50, "rows to show")
			}},
		"new-key": {synopsis: "accounts new-key FILE\n\n  Writes a fresh random accounts key to FILE (mode 0600; an existing file is never overwritten).",
			minArgs: 1, maxArgs: 1, flags: func(*flag.FlagSet, *accountsOpts) {}},
	}
}

func cmdAccounts(ctx context.Context, a *kraite, args []string) error {
	top := a.newFlags("accounts", accountsHelp)
	if len(args) == 0 {
		return cli.Usagef(top, "accounts needs a subcommand (kraite accounts -h)")
	}
	sub, ok := accountsSubs(a.cfg.Session.User)[args[0]]
	if !ok {
		if err := cli.Parse(top, args); err != nil {
			return err
		}
		return cli.Usagef(top, "unknown accounts subcommand %q", args[0])
	}
	name := args[0]
	fs := a.newFlags("accounts "+name, sub.synopsis)
	var o accountsOpts
	sub.flags(fs, &o)
	if err := cli.Parse(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() < sub.minArgs {
		return cli.Usagef(fs, "accounts %s needs an account id or file (kraite accounts %s -h)", name, name)
	}
	if err := cli.NoArgs(fs, sub.maxArgs); err != nil {
		return err
	}
	switch {
	case name == "add" && o.apiKey == "":
		return cli.Usagef(fs, "--api-key is required")
	case name == "rotate-key" && o.newKeyFile == "":
		return cli.Usagef(fs, "--new-key-file is required")
	case name == "audit" && o.limit < 1:
		return cli.Usagef(fs, "--limit must be at least 1")
	}
	if name == "new-key" {
		k, err := accounts.WriteNewKeyFile(fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "wrote a new accounts key to %s (fingerprint %s)\n", fs.Arg(0), k.ID())
		return nil
	}
	c, err := a.loadCommon()
	if err != nil {
		return err
	}
	s, closeStore, err := a.openAccounts(ctx, c, sub.publish)
	if err != nil {
		return err
	}
	defer closeStore()
	return runAccounts(ctx, a, s, name, fs.Args(), o)
}

func runAccounts(ctx context.Context, a *kraite, s *accounts.Store, name string, args []string, o accountsOpts) error {
	id := ""
	if len(args) > 0 {
		id = args[0]
	}
	secret := func() (string, error) {
		if o.secretFile != "" && o.secretFile != "-" {
			return accounts.ReadSecretFile(o.secretFile)
		}
		return accounts.ReadSecret(a.stdin, "stdin")
	}
	switch name {
	case "add":
		sec, err := secret()
		if err != nil {
			return err
		}
		if err := s.Add(ctx, o.by, accounts.Account{ID: id, Exchange: o.exchange, Label: o.label, APIKey: o.apiKey, APISecret: sec, Enabled: !o.disabled}); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "account %s added (%s, api key %s, enabled %t)\n", id, o.exchange, accounts.MaskKey(o.apiKey), !o.disabled)
	case "list":
		list, err := s.List(ctx)
		if err != nil {
			return err
		}
		return accounts.WriteList(a.stdout, list)
	case "enable", "disable":
		changed, err := s.SetEnabled(ctx, o.by, id, name == "enable")
		if err != nil {
			return err
		}
		if !changed {
			fmt.Fprintf(a.stdout, "account %s was already %sd\n", id, name)
			return nil
		}
		fmt.Fprintf(a.stdout, "account %s %sd\n", id, name)
	case "remove":
		if err := s.Remove(ctx, o.by, id); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "account %s removed\n", id)
	case "rotate-secret":
		sec, err := secret()
		if err != nil {
			return err
		}
		if err := s.RotateSecret(ctx, o.by, id, o.apiKey, sec); err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "account %s: secret rotated\n", id)
	case "rotate-key":
		nk, err := accounts.ReadKeyFile(o.newKeyFile)
		if err != nil {
			return fmt.Errorf("--new-key-file: %w", err)
		}
		from := s.KeyID()
		n, err := s.RotateKey(ctx, o.by, nk)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%d secrets re-encrypted from key %s to key %s\nnow set KRAITE_ACCOUNTS_KEY_FILE=%s (and unset KRAITE_ACCOUNTS_KEY) on every box: the old key no longer opens the table\n",
			n, from, nk.ID(), o.newKeyFile)
	case "import":
		accts, err := accounts.ReadFile(id, o.exchange)
		if err != nil {
			return err
		}
		res, err := s.Import(ctx, o.by, accts)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "imported %s: %d added, %d updated, %d unchanged\n", id, len(res.Added), len(res.Updated), len(res.Unchanged))
	case "publish":
		publish := s.PublishPending
		if o.all {
			publish = s.Republish
		}
		n, err := publish(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stdout, "%d record(s) published to kraite.accounts\n", n)
	case "audit":
		es, err := s.Audit(ctx, id, o.limit)
		if err != nil {
			return err
		}
		return accounts.WriteAudit(a.stdout, es)
	}
	return nil
}

// openAccounts opens the accounts store of KRAITE_DATABASE_URL (migrated)
// with the configured key and, when publish, a producer to kraite.accounts.
func (a *kraite) openAccounts(ctx context.Context, c app.Common, publish bool) (*accounts.Store, func(), error) {
	key, err := a.cfg.AccountsKey.Load()
	if err != nil {
		return nil, nil, err
	}
	d, err := a.openDatabase(ctx)
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
	cfg := accounts.Config{DB: d, Key: key, Log: a.log}
	if publish {
		cl, err := app.NewCLIProducer(c)
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		closers = append(closers, cl.Close)
		cfg.Publisher = accounts.KafkaPublisher{Client: cl, Topic: topics.Accounts.Name(c.TopicPrefix)}
	}
	s, err := accounts.Open(ctx, cfg)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	return s, closeAll, nil
}
