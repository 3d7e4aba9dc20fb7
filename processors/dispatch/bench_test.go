package dispatch

import (
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/processors/internal/ptest"
)

// BenchmarkDispatchOverKafka measures end-to-end records/s of the real
// dispatch processor on kfake over TCP: b.N TRADE frames are produced
// first, then the processor starts and the clock runs until every order
// event is read back. The baseline is the pure decoder on the same frame
// in the same run; "decoder_ratio" is how many times slower the processor
// is than decoding alone.
func BenchmarkDispatchOverKafka(b *testing.B) {
	trade := frame(b, "nautilus-ORDER_TRADE_UPDATE-6.json")
	baseRate := ptest.Rate(200*time.Millisecond, func() { _, _ = binance.Decode(trade) })

	c := ptest.StartCluster(b)
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		acct := fmt.Sprintf("acct-%d", i%100)
		recs[i] = &kgo.Record{Topic: string(InputTopic(ptest.Prefix)), Key: []byte(acct), Value: trade, Headers: frameHeaders(acct)}
	}
	c.ProduceBatch(b, recs)
	orders := c.NewReader(b, string(OrdersTopic(ptest.Prefix)))
	p, err := New(Config{Brokers: c.Brokers(), ViewOptions: ptest.ViewOptions(), Prefix: ptest.Prefix},
		ptest.ProcessorOptions(nil)...)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	ptest.Run(b, p)
	if n := orders.Count(b.N, 120*time.Second); n < b.N {
		b.Fatalf("read %d of %d order events", n, b.N)
	}
	rate := float64(b.N) / time.Since(start).Seconds()
	b.ReportMetric(rate, "records/s")
	b.ReportMetric(baseRate, "decoder_records/s")
	b.ReportMetric(baseRate/rate, "decoder_ratio")
}
