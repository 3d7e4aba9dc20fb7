package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// BenchmarkDispatchOverKafka measures records/s of the real dispatch
// processor on kfake over TCP against a bare goka processor on the same
// broker in the same run: one that forwards each record as it is (no
// decoding, no lookup), so x_vs_bare_goka (dispatch's rate over the bare
// one's; the target is at least 0.5) is what decoding, the
// allowlist lookup and the JSON order event cost on top of goka itself.
// Each round sends the same TRADE frames through both processors, already
// running and warmed up (group joins are not timed), one after the other
// in alternating order, and times from the first produce to the last
// output read.
// decoder_ratio is dispatch's time per record over binance.Decode's alone.
func BenchmarkDispatchOverKafka(b *testing.B) {
	const perRound = 5000
	trade := frame(b, "nautilus-ORDER_TRADE_UPDATE-6.json")
	c := ptest.StartCluster(b)

	bareIn, bareOut := topics.UserDataStream, topics.Orders
	bareIn.Suffix, bareOut.Suffix = "bench-bare-in", "bench-bare-out"
	adm, err := kgo.NewClient(kgo.SeedBrokers(c.Addr))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	_, err = topics.Apply(ctx, adm, ptest.Prefix, []topics.Spec{bareIn, bareOut}, 1)
	cancel()
	adm.Close()
	if err != nil {
		b.Fatal(err)
	}
	in, out := goka.Stream(bareIn.Name(ptest.Prefix)), goka.Stream(bareOut.Name(ptest.Prefix))
	bare, err := goka.NewProcessor(c.Brokers(), goka.DefineGroup(goka.Group(ptest.Prefix+"bench-bare"),
		goka.Input(in, topics.Raw{}, func(ctx goka.Context, msg any) { ctx.Emit(out, ctx.Key(), msg) }),
		goka.Output(out, topics.Raw{}),
	), ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	ptest.Run(b, lookups.New(bare))
	p, err := New(Config{Brokers: c.Brokers(), ViewOptions: ptest.ViewOptions(), Prefix: ptest.Prefix},
		ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	ptest.Run(b, p)
	bareRead, orders := c.NewReader(b, string(out)), c.NewReader(b, string(OrdersTopic(ptest.Prefix)))

	records := func(topic string) []*kgo.Record {
		recs := make([]*kgo.Record, perRound)
		for i := range recs {
			acct := fmt.Sprintf("acct-%d", i%100)
			recs[i] = &kgo.Record{Topic: topic, Key: []byte(acct), Value: trade, Headers: frameHeaders(acct)}
		}
		return recs
	}
	// round sends perRound records to topic and waits until r has read
	// want records in all; it returns the time that took.
	round := func(topic string, r *ptest.Reader, want int) time.Duration {
		recs := records(topic)
		start := time.Now()
		c.ProduceBatch(b, recs)
		if n := r.Count(want, 120*time.Second); n < want {
			b.Fatalf("%s: read %d of %d", topic, n, want)
		}
		return time.Since(start)
	}
	// One untimed round each warms up connections and batch buffers; the
	// timed rounds alternate which processor goes first.
	round(string(in), bareRead, perRound)
	round(string(InputTopic(ptest.Prefix)), orders, perRound)
	var tBare, tDispatch time.Duration
	rounds := 0
	for b.Loop() {
		for j := range 2 {
			rounds++
			if j == 0 {
				tBare += round(string(in), bareRead, (rounds+1)*perRound)
			}
			tDispatch += round(string(InputTopic(ptest.Prefix)), orders, (rounds+1)*perRound)
			if j == 1 {
				tBare += round(string(in), bareRead, (rounds+1)*perRound)
			}
		}
	}
	b.StopTimer()
	n := float64(rounds * perRound)
	rate, bareRate := n/tDispatch.Seconds(), n/tBare.Seconds()
	decodeRate := ptest.Rate(200*time.Millisecond, func() { _, _ = binance.Decode(trade) })
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(bareRate, "bare_goka_records/s")
	b.ReportMetric(rate/bareRate, "x_vs_bare_goka")
	b.ReportMetric(decodeRate, "decoder_records/s")
	b.ReportMetric(decodeRate/rate, "decoder_ratio")
}

// BenchmarkDecodeFrames is the decoder as dispatch calls it, on the frames
// it sees most, next to a plain json.Unmarshal of the same frame into a
// minimal struct (type and time only: it still validates the whole frame),
// measured in alternating rounds of the same run: x_vs_json_unmarshal is
// binance.Decode's time over that baseline (the target: at most
// 1.5). internal/binance has the same benchmarks against the reflection
// decoder it replaced; this one runs with the justfile's bench recipe.
func BenchmarkDecodeFrames(b *testing.B) {
	type minimal struct {
		Ev string `json:"e"`
		E  int64  `json:"E"`
	}
	type wrapped struct {
		Stream string  `json:"stream"`
		Data   minimal `json:"data"`
	}
	for _, c := range []struct {
		name, file string
		base       func() any
	}{
		{"ORDER_TRADE_UPDATE", "nautilus-ORDER_TRADE_UPDATE-6.json", func() any { return new(minimal) }},
		{"ALGO_UPDATE", "nautilus-ALGO_UPDATE-5.json", func() any { return new(minimal) }},
		{"ACCOUNT_UPDATE", "binance-docs-ACCOUNT_UPDATE-1.json", func() any { return new(minimal) }},
		{"wrapped", "binance-net-issue-combined-ACCOUNT_UPDATE-1.json", func() any { return new(wrapped) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			raw := frame(b, c.file)
			if _, err := binance.Decode(raw); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				_, _ = binance.Decode(raw)
			}
			b.StopTimer()
			var nDec, nJSON int
			var tDec, tJSON time.Duration
			for range 6 {
				start := time.Now()
				for time.Since(start) < 20*time.Millisecond {
					_, _ = binance.Decode(raw)
					nDec++
				}
				tDec += time.Since(start)
				start = time.Now()
				for time.Since(start) < 20*time.Millisecond {
					_ = json.Unmarshal(raw, c.base())
					nJSON++
				}
				tJSON += time.Since(start)
			}
			dec, base := float64(tDec.Nanoseconds())/float64(nDec), float64(tJSON.Nanoseconds())/float64(nJSON)
			b.ReportMetric(dec, "ns/decode")
			b.ReportMetric(base, "ns/json_unmarshal")
			b.ReportMetric(dec/base, "x_vs_json_unmarshal")
		})
	}
}
