package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/topics"
)

// decodeLine is one output line of `kraite decode`.
type decodeLine struct {
	Source        string `json:"source"` // file:line or stdin:line
	Event         string `json:"event"`
	ExecutionType string `json:"execution_type"`
	Account       string `json:"account"`
	Symbol        string `json:"symbol"`
	OrderID       int64  `json:"order_id"`
	AlgoID        int64  `json:"algo_id,omitempty"`
	ClientOrderID string `json:"client_order_id,omitempty"`
	Status        string `json:"status,omitempty"`
	EventTime     int64  `json:"event_time"`
	Unknown       bool   `json:"unknown,omitempty"`
	MarkPrices    int    `json:"mark_prices,omitempty"`
	// A gap marker (header kind=gap): the window its account's socket
	// was not attached, and why.
	GapFromMs int64  `json:"gap_from,omitempty"`
	GapToMs   int64  `json:"gap_to,omitempty"`
	Reason    string `json:"reason,omitempty"`
}

type decodeError struct {
	Source string `json:"source"`
	Error  string `json:"error"`
}

func cmdDecode(ctx context.Context, a *cli, args []string) error {
	fs := a.newFlags("decode", "decode [--account ID] [FILE...]\n\n"+
		"Decodes Binance user-data frames with the dispatch decoder and prints one JSON\n"+
		"line per frame (event, execution_type, account, symbol, order_id, event_time).\n"+
		"Input: stdin, one JSON frame per line, optionally after the record key and a space\n"+
		"(as `rpk topic consume -f '%k %v\\n'` or `kcat -f '%k %s\\n'` print them: the key is\n"+
		"the account); or FILEs, each either one JSON document or one such line per frame.\n"+
		"Gap markers (kind=gap records) print as event \"gap\" with their account and window.\n"+
		"A frame that does not decode prints an error line; the exit status is then 1.")
	account := fs.String("account", "", "account id to put in the output when a line has no key (frames do not carry it)")
	if err := a.parse(fs, args); err != nil {
		return err
	}
	d := &decoder{a: a, account: *account, out: json.NewEncoder(a.stdout)}
	if fs.NArg() == 0 {
		if err := d.lines("stdin", a.stdin); err != nil {
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
			d.frame(name, b)
			continue
		}
		if err := d.lines(name, bytes.NewReader(b)); err != nil {
			return err
		}
	}
	if d.failed > 0 {
		return fmt.Errorf("%d of %d frames could not be decoded", d.failed, d.total)
	}
	return nil
}

type decoder struct {
	a             *cli
	account       string
	out           *json.Encoder
	total, failed int
}

func (d *decoder) lines(name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	n := 0
	for sc.Scan() {
		n++
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
			d.keyedFrame(fmt.Sprintf("%s:%d", name, n), line)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", name, err)
	}
	return nil
}

// keyedFrame decodes "KEY FRAME" (the key is the account) or a bare frame.
func (d *decoder) keyedFrame(source string, line []byte) {
	if line[0] == '{' || line[0] == '[' {
		d.decode(source, "", line)
		return
	}
	key, frame, _ := bytes.Cut(line, []byte(" "))
	d.decode(source, string(key), bytes.TrimSpace(frame))
}

func (d *decoder) frame(source string, frame []byte) { d.decode(source, "", frame) }

// decode prints one frame; the account is the record key, else the one a
// gap marker names, else --account.
func (d *decoder) decode(source, key string, frame []byte) {
	d.total++
	account := key
	if g, ok := gapMarker(frame); ok {
		if account == "" {
			account = g.Account
		}
		if account == "" {
			account = d.account
		}
		_ = d.out.Encode(decodeLine{Source: source, Event: "gap", Account: account, GapFromMs: g.FromMs, GapToMs: g.ToMs, Reason: g.Reason})
		return
	}
	if account == "" {
		account = d.account
	}
	ev, err := binance.Decode(frame)
	if err != nil {
		d.failed++
		_ = d.out.Encode(decodeError{Source: source, Error: err.Error()})
		return
	}
	oe := ev.OrderEvent("binance", account, "stream")
	_ = d.out.Encode(decodeLine{Source: source, Event: ev.Type, ExecutionType: oe.ExecutionType, Account: account,
		Symbol: oe.Symbol, OrderID: oe.OrderID, AlgoID: oe.AlgoID, ClientOrderID: oe.ClientOrderID, Status: oe.Status,
		EventTime: ev.EventTime, Unknown: ev.Unknown, MarkPrices: len(ev.MarkPrices)})
}

// gapMarker recognises a gap marker record's value.
func gapMarker(frame []byte) (topics.GapMarker, bool) {
	var g topics.GapMarker
	if !bytes.Contains(frame, []byte(`"kind"`)) || json.Unmarshal(frame, &g) != nil || g.Kind != "gap" {
		return g, false
	}
	return g, true
}
