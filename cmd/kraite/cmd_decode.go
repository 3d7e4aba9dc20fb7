package main

import (
	"context"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/cli"
)

func cmdDecode(ctx context.Context, a *kraite, args []string) error {
	fs := a.newFlags("decode", "decode [--account ID] [FILE...]\n\n"+
		"Decodes Binance user-data frames with the dispatch decoder and prints one JSON\n"+
		"line per frame (event, execution_type, account, symbol, order_id, event_time).\n"+
		"Input: stdin, one JSON frame per line, optionally after the record key and a space\n"+
		"(as `rpk topic consume -f '%k %v\\n'` or `kcat -f '%k %s\\n'` print them: the key is\n"+
		"the account); or FILEs, each either one JSON document or one such line per frame.\n"+
		"Gap markers (kind=gap records) print as event \"gap\" with their account and window.\n"+
		"A frame that does not decode prints an error line; the exit status is then 1.")
	account := fs.String("account", "", "account id to put in the output when a line has no key (frames do not carry it)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	return app.DecodeFiles(ctx, a.stdin, a.stdout, *account, fs.Args())
}
