package binance

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/kraite/stream/internal/universe"
)

// minimal is the least a consumer could decode from a frame: its type and
// time. A plain json.Unmarshal into it still validates the whole frame and
// skips the body, which makes it the baseline Decode is held against.
type minimal struct {
	Ev string `json:"e"`
	E  int64  `json:"E"`
}

type minimalWrapped struct {
	Stream string  `json:"stream"`
	Data   minimal `json:"data"`
}

// ratio times fn and base alternately in short rounds, so that the load of
// a shared machine falls on both alike, and returns their ns per call.
func ratio(fn, base func()) (nsFn, nsBase float64) {
	const rounds, window = 6, 20 * time.Millisecond
	var nf, nb int
	var tf, tb time.Duration
	run := func(f func(), n *int, total *time.Duration) {
		start := time.Now()
		for time.Since(start) < window {
			for range 20 {
				f()
			}
			*n += 20
		}
		*total += time.Since(start)
	}
	for range rounds {
		run(fn, &nf, &tf)
		run(base, &nb, &tb)
	}
	return float64(tf.Nanoseconds()) / float64(nf), float64(tb.Nanoseconds()) / float64(nb)
}

// benchDecode runs Decode b.N times on frame and reports, measured in the
// same run: x_vs_json_unmarshal, Decode's time over a plain json.Unmarshal
// of the frame into base (the target: at most 1.5), and
// x_vs_reflection_decoder, Decode's time over the decoder it replaced.
func benchDecode(b *testing.B, frame []byte, base any) {
	if _, err := Decode(frame); err != nil {
		b.Fatal(err)
	}
	if err := json.Unmarshal(frame, base); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	decode := func() { _, _ = Decode(frame) }
	nsDecode, nsJSON := ratio(decode, func() { _ = json.Unmarshal(frame, base) })
	_, nsRef := ratio(decode, func() { _, _ = refDecode(frame) })
	b.ReportMetric(nsDecode, "ns/decode")
	b.ReportMetric(nsJSON, "ns/json_unmarshal")
	b.ReportMetric(nsRef, "ns/reflection_decoder")
	b.ReportMetric(nsDecode/nsJSON, "x_vs_json_unmarshal")
	b.ReportMetric(nsDecode/nsRef, "x_vs_reflection_decoder")
}

func BenchmarkDecodeOrderTradeUpdate(b *testing.B) {
	benchDecode(b, loadFrames(b)["nautilus-ORDER_TRADE_UPDATE-6.json"], new(minimal))
}

func BenchmarkDecodeAlgoUpdate(b *testing.B) {
	benchDecode(b, loadFrames(b)["nautilus-ALGO_UPDATE-5.json"], new(minimal))
}

func BenchmarkDecodeAccountUpdate(b *testing.B) {
	benchDecode(b, loadFrames(b)["binance-docs-ACCOUNT_UPDATE-1.json"], new(minimal))
}

func BenchmarkDecodeWrapped(b *testing.B) {
	benchDecode(b, loadFrames(b)["binance-net-issue-combined-ACCOUNT_UPDATE-1.json"], new(minimalWrapped))
}

func BenchmarkDecodeMarkPriceArray(b *testing.B) {
	frame := markPriceArrayFrame(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
	b.Logf("%d symbols, %d bytes", universe.Size, len(frame))
	benchDecode(b, frame, &[]minimal{})
}

// markPriceArrayFrame is a !markPrice@arr frame of every symbol of the
// universe at now, in Binance's compact form; for benchmarks.
func markPriceArrayFrame(now time.Time) []byte {
	ms := strconv.FormatInt(now.UnixMilli(), 10)
	buf := []byte{'['}
	for i, in := range universe.Instruments() {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, `{"e":"markPriceUpdate","E":%s,"s":%q,"p":"%.8f","i":"%.8f","P":"%.8f","r":"0.00010000","T":%d}`,
			ms, in.Symbol, 1.5+float64(i), 1.49+float64(i), 1.49+float64(i), now.UnixMilli()+3_600_000)
	}
	return append(buf, ']')
}

// benchEnvelope is benchDecode for ParseEnvelope (what the producers and
// the audit sink run on every frame).
func benchEnvelope(b *testing.B, frame []byte, base any) {
	if _, err := ParseEnvelope(frame); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEnvelope(frame); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	parse := func() { _, _ = ParseEnvelope(frame) }
	ns, nsJSON := ratio(parse, func() { _ = json.Unmarshal(frame, base) })
	_, nsRef := ratio(parse, func() { _, _ = refParseEnvelope(frame) })
	b.ReportMetric(ns, "ns/parse")
	b.ReportMetric(nsJSON, "ns/json_unmarshal")
	b.ReportMetric(nsRef, "ns/reflection_parser")
	b.ReportMetric(ns/nsJSON, "x_vs_json_unmarshal")
	b.ReportMetric(ns/nsRef, "x_vs_reflection_parser")
}

func BenchmarkParseEnvelopeOrderTradeUpdate(b *testing.B) {
	benchEnvelope(b, loadFrames(b)["nautilus-ORDER_TRADE_UPDATE-6.json"], new(minimal))
}

func BenchmarkParseEnvelopeMarkPriceArray(b *testing.B) {
	benchEnvelope(b, markPriceArrayFrame(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)), &[]minimal{})
}
