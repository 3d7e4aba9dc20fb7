package app

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

// DecodeLine is one output line of `kraite decode`.
type DecodeLine struct {
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

// Decoder is `kraite decode`: it decodes user-data frames with the
// dispatch decoder and writes one JSON line per frame (or gap marker, or
// error) to its output.
type Decoder struct {
	account       string
	out           *json.Encoder
	Total, Failed int // frames seen, frames that did not decode
}

// NewDecoder writes to w; account names frames that come without a key.
func NewDecoder(w io.Writer, account string) *Decoder {
	return &Decoder{account: account, out: json.NewEncoder(w)}
}

// Lines decodes r, one frame per line, each optionally after its record
// key and a space; name prefixes the line numbers in the output.
func (d *Decoder) Lines(name string, r io.Reader) error {
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
func (d *Decoder) keyedFrame(source string, line []byte) {
	if line[0] == '{' || line[0] == '[' {
		d.decode(source, "", line)
		return
	}
	key, frame, _ := bytes.Cut(line, []byte(" "))
	d.decode(source, string(key), bytes.TrimSpace(frame))
}

// Frame decodes one frame read whole from source.
func (d *Decoder) Frame(source string, frame []byte) { d.decode(source, "", frame) }

// decode prints one frame; the account is the record key, else the one a
// gap marker names, else --account.
func (d *Decoder) decode(source, key string, frame []byte) {
	d.Total++
	account := key
	if g, ok := gapMarker(frame); ok {
		if account == "" {
			account = g.Account
		}
		if account == "" {
			account = d.account
		}
		_ = d.out.Encode(DecodeLine{Source: source, Event: "gap", Account: account, GapFromMs: g.FromMs, GapToMs: g.ToMs, Reason: g.Reason})
		return
	}
	if account == "" {
		account = d.account
	}
	ev, err := binance.Decode(frame)
	if err != nil {
		d.Failed++
		_ = d.out.Encode(decodeError{Source: source, Error: err.Error()})
		return
	}
	oe := ev.OrderEvent("binance", account, "stream")
	_ = d.out.Encode(DecodeLine{Source: source, Event: ev.Type, ExecutionType: oe.ExecutionType, Account: account,
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

// DecodeFiles decodes the frames of files (each one JSON document or one
// frame per line), or of stdin without files, onto stdout (NewDecoder). A
// frame that does not decode is an error, after every frame is printed.
func DecodeFiles(ctx context.Context, stdin io.Reader, stdout io.Writer, account string, files []string) error {
	d := NewDecoder(stdout, account)
	if len(files) == 0 {
		if err := d.Lines("stdin", stdin); err != nil {
			return err
		}
	}
	for _, name := range files {
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
