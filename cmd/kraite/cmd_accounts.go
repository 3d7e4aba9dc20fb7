package main

import (
	"context"
	"flag"

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
// max), whether it needs a publisher and its flags.
type accountsSub struct {
	synopsis string
	minArgs  int
	maxArgs  int
	publish  bool
	flags    func(fs *flag.FlagSet, o *app.AccountsRequest)
}

func accountsSubs(user string) map[string]accountsSub {
	by := func(fs *flag.FlagSet, o *app.AccountsRequest) {
		fs.StringVar(&o.By, "by", user+"@"+app.Hostname(), "who makes the change (recorded in account_audit)")
	}
	secret := func(fs *flag.FlagSet, o *app.AccountsRequest) {
		by(fs, o)
		fs.StringVar(&o.SecretFile, "secret-file", "", "read the API secret from this file (default: stdin)")
	}
	return map[string]accountsSub{
		"add": {synopsis: "accounts add ID --api-key KEY [--exchange binance] [--label L] [--disabled] [--secret-file F]\n\n" +
			"  Adds an account; its API secret is read from stdin (or --secret-file), never from a flag.",
			minArgs: 1, maxArgs: 1, publish: true, flags: func(fs *flag.FlagSet, o *app.AccountsRequest) {
				secret(fs, o)
				fs.StringVar(&o.APIKey, "api-key", "", "the API key (required; not a secret, shown masked)")
				fs.StringVar(&o.Exchange, "exchange", topics.ExchangeBinance, "the account's exchange")
				fs.StringVar(&o.Label, "label", "", "a label for people")
				fs.BoolVar(&o.Disabled, "disabled", false, "add it disabled (not streamed until enabled)")
			}},
		"list": {synopsis: "accounts list\n\n  Lists the accounts (API keys masked, never a secret) and the changes not yet on kraite.accounts.",
			flags: func(*flag.FlagSet, *app.AccountsRequest) {}},
		"enable":  {synopsis: "accounts enable ID\n\n  Enables an account: its producer opens its stream.", minArgs: 1, maxArgs: 1, publish: true, flags: by},
		"disable": {synopsis: "accounts disable ID\n\n  Disables an account: its producer closes its stream.", minArgs: 1, maxArgs: 1, publish: true, flags: by},
		"remove": {synopsis: "accounts remove ID\n\n  Removes an account (its secret is wiped at once; a tombstone goes to kraite.accounts).",
			minArgs: 1, maxArgs: 1, publish: true, flags: by},
		"rotate-secret": {synopsis: "accounts rotate-secret ID [--api-key KEY] [--secret-file F]\n\n" +
			"  Replaces the account's API secret (read from stdin or --secret-file) and, with --api-key, its key.",
			minArgs: 1, maxArgs: 1, publish: true, flags: func(fs *flag.FlagSet, o *app.AccountsRequest) {
				secret(fs, o)
				fs.StringVar(&o.APIKey, "api-key", "", "the new API key (default: keep the current one)")
			}},
		"rotate-key": {synopsis: "accounts rotate-key --new-key-file F\n\n" +
			"  Re-encrypts every API secret under the key in F, in one transaction, then configure\n" +
			"  KRAITE_ACCOUNTS_KEY_FILE=F everywhere: the old key no longer opens the table.",
			flags: func(fs *flag.FlagSet, o *app.AccountsRequest) {
				by(fs, o)
				fs.StringVar(&o.NewKeyFile, "new-key-file", "", "the new key (kraite accounts new-key F makes one)")
			}},
		"import": {synopsis: "accounts import FILE [--exchange binance]\n\n" +
			"  Adds or updates the accounts of FILE (the KRAITE_ACCOUNTS_FILE format:\n" +
			"  [{\"id\":...,\"api_key\":...,\"api_secret\":...}], optional \"exchange\", \"label\", \"enabled\")\n" +
			"  in one transaction; an identical account is left alone, an existing account keeps its\n" +
			"  enabled flag, accounts not in FILE are not touched.",
			minArgs: 1, maxArgs: 1, publish: true, flags: func(fs *flag.FlagSet, o *app.AccountsRequest) {
				by(fs, o)
				fs.StringVar(&o.Exchange, "exchange", topics.ExchangeBinance, "the exchange of entries that name none")
			}},
		"publish": {synopsis: "accounts publish [--all]\n\n" +
			"  Publishes to kraite.accounts every change the topic has not acknowledged (after a crash\n" +
			"  or a broker outage during a change); --all publishes every account again (a re-sync).",
			publish: true, flags: func(fs *flag.FlagSet, o *app.AccountsRequest) {
				fs.BoolVar(&o.All, "all", false, "publish every account, not only the pending ones")
			}},
		"audit": {synopsis: "accounts audit [ID] [--limit N]\n\n  Shows who changed what and when (never a secret), newest first.",
			maxArgs: 1, flags: func(fs *flag.FlagSet, o *app.AccountsRequest) {
				fs.IntVar(&o.Limit, "limit", 50, "rows to show")
			}},
		"new-key": {synopsis: "accounts new-key FILE\n\n  Writes a fresh random accounts key to FILE (mode 0600; an existing file is never overwritten).",
			minArgs: 1, maxArgs: 1, flags: func(*flag.FlagSet, *app.AccountsRequest) {}},
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
	o := app.AccountsRequest{Sub: name, Publish: sub.publish}
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
	if err := o.Validate(); err != nil {
		return cli.UsageErr(fs.Name(), err)
	}
	if name != "new-key" { // new-key needs no configuration
		if _, err := a.loadCommon(); err != nil {
			return err
		}
	}
	o.Args = fs.Args()
	return app.Accounts(ctx, a.cfg, a.log, o, a.stdin, a.stdout)
}
