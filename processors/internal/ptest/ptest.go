// Package ptest holds what the processor tests add to internal/testkit (the
// broker, the polling helper, the fixtures): a producer and reader on the
// catalog under Prefix, goka options with in-memory storage, and a processor
// runner that always waits for Run to return.
package ptest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/storage"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/lookups"
)

// Prefix is the topic prefix every processor test uses.
const Prefix = "kraite."

// Cluster is a kfake broker with the catalog applied and a producer.
type Cluster struct {
	Addr string
	B    *broker.Broker
	prod *kgo.Client
}

// StartCluster starts a broker on a free port, applies the topic catalog
// and registers cleanup.
func StartCluster(t testing.TB) *Cluster {
	t.Helper()
	b := testkit.BrokerWith(t, broker.Config{}, Prefix)
	prod, err := kclient.ForBrokers(b.Addr()).Producer()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	return &Cluster{Addr: b.Addr(), B: b, prod: prod}
}

// Brokers returns the seed broker list.
func (c *Cluster) Brokers() []string { return []string{c.Addr} }

// Produce writes one record synchronously and returns it with its offset.
func (c *Cluster) Produce(t testing.TB, topic, key string, value []byte, headers ...kgo.RecordHeader) *kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Headers: headers}
	if err := c.prod.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatalf("producing to %s: %v", topic, err)
	}
	return r
}

// Reader consumes one topic from the start, across all partitions.
type Reader struct {
	cl   *kgo.Client
	seen []*kgo.Record
}

// NewReader starts reading topic from the earliest offset.
func (c *Cluster) NewReader(t testing.TB, topic string) *Reader {
	t.Helper()
	cl, err := kclient.ForBrokers(c.Addr).Client(kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Reader{cl: cl}
}

// Poll fetches what is available within d and returns every record read so far.
func (r *Reader) Poll(d time.Duration) []*kgo.Record {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	fs := r.cl.PollFetches(ctx)
	fs.EachRecord(func(rec *kgo.Record) { r.seen = append(r.seen, rec) })
	return r.seen
}

// WaitFor polls until at least n records were read or timeout; it returns
// what was read.
func (r *Reader) WaitFor(t testing.TB, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	testkit.Eventually(t, timeout, fmt.Sprintf("%d records", n), func() error {
		if len(r.seen) >= n {
			return nil
		}
		r.Poll(100 * time.Millisecond)
		return fmt.Errorf("read %d records", len(r.seen))
	})
	return r.seen
}

// Quiet polls for d more and returns everything read (to assert nothing
// else arrives).
func (r *Reader) Quiet(d time.Duration) []*kgo.Record {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		r.Poll(100 * time.Millisecond)
	}
	return r.seen
}

// ViewOptions are the kfake options of a test processor's Views: real
// broker, in-memory storage (instances in one process must not share a
// LevelDB directory).
func ViewOptions() []goka.ViewOption {
	return append(kclient.GokaViewOptions(1), goka.WithViewStorageBuilder(storage.MemoryBuilder()))
}

// ProcessorOptions are the kfake options of a test processor: real
// broker, in-memory storage (two instances in one process must not share
// a LevelDB directory) and a quiet logger.
func ProcessorOptions(log *slog.Logger) []goka.ProcessorOption {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return append(kclient.GokaProcessorOptions(1, log), goka.WithStorageBuilder(storage.MemoryBuilder()))
}

// Running is a processor (with its Views) started by Run.
type Running struct {
	R      *lookups.Runner
	P      *goka.Processor // R.Processor()
	cancel context.CancelFunc
	done   chan error
}

// Run starts r and registers a cleanup that stops it and waits for Run to
// return. Stop stops it earlier (a member leaving the group).
func Run(t testing.TB, r *lookups.Runner) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rn := &Running{R: r, P: r.Processor(), cancel: cancel, done: make(chan error, 1)}
	go func() { rn.done <- r.Run(ctx) }()
	t.Cleanup(func() {
		if err := rn.Stop(); err != nil {
			t.Errorf("processor run: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if err := r.WaitForReady(wctx); err != nil {
		t.Fatalf("waiting for processor: %v", err)
	}
	return rn
}

// Stop cancels the processor and waits for Run to return; idempotent.
func (r *Running) Stop() error {
	r.cancel()
	err, ok := <-r.done
	if !ok {
		return nil
	}
	close(r.done)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// Partitions returns the input partitions p currently owns.
func Partitions(p *goka.Processor) []int32 {
	var ps []int32
	for id := range p.Stats().Group {
		ps = append(ps, id)
	}
	return ps
}

// LookupOffset is the last offset r's View of table has applied in
// partition 0 (-1 when nothing yet or r has no such View).
func LookupOffset(r *lookups.Runner, table string) int64 {
	v := viewStats(r, table)
	if v == nil {
		return -1
	}
	ts, ok := v.Partitions[0]
	if !ok || ts.Input == nil || ts.Input.Count == 0 {
		return -1
	}
	return ts.Input.LastOffset
}

// viewStats are the stats of r's View of table (nil without one). Read
// them only while r runs: a stopped goka View drops its partitions.
func viewStats(r *lookups.Runner, table string) *goka.ViewStats {
	v := r.View(goka.Table(table))
	if v == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return v.Stats(ctx)
}

// Describe renders records compactly for failure messages.
func Describe(recs []*kgo.Record) string {
	s := ""
	for _, r := range recs {
		s += fmt.Sprintf("\n  p%d@%d key=%s %s", r.Partition, r.Offset, r.Key, r.Value)
	}
	return s
}

// LookupCount is the number of records r's View of table has applied,
// summed over partitions.
func LookupCount(r *lookups.Runner, table string) int {
	v := viewStats(r, table)
	if v == nil {
		return 0
	}
	n := 0
	for _, ts := range v.Partitions {
		if ts.Input != nil {
			n += int(ts.Input.Count)
		}
	}
	return n
}

// ProduceBatch writes records asynchronously and waits for every ack.
func (c *Cluster) ProduceBatch(t testing.TB, recs []*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing batch: %v", err)
	}
}

// Count polls until n records were read (or timeout) and returns how many.
func (r *Reader) Count(n int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for len(r.seen) < n && time.Now().Before(deadline) {
		r.Poll(100 * time.Millisecond)
	}
	return len(r.seen)
}

// Rate measures how many times per second f runs, for about d. Benchmarks
// use it for their in-run baseline (testing.Benchmark cannot be nested).
func Rate(d time.Duration, f func()) float64 {
	n, start := 0, time.Now()
	for time.Since(start) < d {
		for range 100 {
			f()
		}
		n += 100
	}
	return float64(n) / time.Since(start).Seconds()
}

// ProduceToPartition writes one record to an explicit partition, whatever
// its key hashes to (a producer with another partitioner), synchronously.
func (c *Cluster) ProduceToPartition(t testing.TB, topic string, partition int32, key string, value []byte, headers ...kgo.RecordHeader) *kgo.Record {
	t.Helper()
	cl, err := kclient.ForBrokers(c.Addr).Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &kgo.Record{Topic: topic, Partition: partition, Key: []byte(key), Value: value, Headers: headers}
	if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
		t.Fatalf("producing to %s/%d: %v", topic, partition, err)
	}
	return r
}

// Decode unmarshals the JSON values of recs as T.
func Decode[T any](t testing.TB, recs []*kgo.Record) []T {
	t.Helper()
	out := make([]T, 0, len(recs))
	for _, r := range recs {
		var v T
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("decoding p%d@%d: %v", r.Partition, r.Offset, err)
		}
		out = append(out, v)
	}
	return out
}
