package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"

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
	d := app.NewDecoder(a.stdout, *account)
	if fs.NArg() == 0 {
		if err := d.Lines("stdin", a.stdin); err != nil {
			return err
		}
	}
	for _, name := range fs.Args() {
		if err := ctx.Err(); err != nil {
			return err
		}
		b, err := os.ReadFile(name)
		if err != nil {
			return fmt.Errorf("reading %s: %w", name, err)
		}
		if json.Valid(b) {
			d.Frame(name, b)
			continue
		}
		if err := d.Lines(name, bytes.NewReader(b)); err != nil {
			return err
		}
	}
	if d.Failed > 0 {
		return fmt.Errorf("%d of %d frames could not be decoded", d.Failed, d.Total)
	}
	return nil
}
