// Package testkit holds helpers shared by integration tests: a kfake broker
// over TCP with the topic catalog applied, a record reader, and the polling
// helper (no scattered sleeps).
package testkit

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// Broker starts a kfake broker on a free loopback port with the catalog
// applied under prefix (and no auto-created topics), and closes it when the
// test ends.
func Broker(t testing.TB, prefix string) *broker.Broker {
	t.Helper()
	return BrokerWith(t, broker.Config{NoAutoCreate: true}, prefix)
}

// BrokerWith is Broker with cfg (its Addr defaults to a free loopback port):
// the processor and sink kits start theirs with auto-created topics.
func BrokerWith(t testing.TB, cfg broker.Config, prefix string) *broker.Broker {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	b, err := broker.Start(cfg)
	if err != nil {
		t.Fatalf("starting broker: %v", err)
	}
	t.Cleanup(b.Close)
	cl, err := kclient.ForBrokers(b.Addr()).Client()
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := topics.Apply(ctx, cl, prefix, topics.All(), 1); err != nil {
		t.Fatalf("applying topics: %v", err)
	}
	return b
}

// Logger is a test logger: quiet unless KRAITE_TEST_LOG=1.
func Logger(t testing.TB) *slog.Logger {
	if os.Getenv("KRAITE_TEST_LOG") == "" {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// errNotYet is the last "error" of a func() bool condition that never held.
var errNotYet = errors.New("not yet")

// Eventually polls cond every 20 ms until it holds or total elapses, then
// fails the test naming what. It is the one polling helper of the tests (no
// scattered sleeps, no hand-rolled deadline loops). cond is a func() bool,
// or a func() error that holds when it returns nil; its last error is then
// part of the failure. cond may itself fail the test (t.Fatal) when what it
// sees can never turn right.
func Eventually[C func() bool | func() error](t testing.TB, total time.Duration, what string, cond C) {
	t.Helper()
	var check func() error
	switch c := any(cond).(type) {
	case func() bool:
		check = func() error {
			if c() {
				return nil
			}
			return errNotYet
		}
	case func() error:
		check = c
	}
	deadline := time.Now().Add(total)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if err == errNotYet {
				t.Fatalf("timed out after %s waiting for %s", total, what)
			}
			t.Fatalf("timed out after %s waiting for %s: %v", total, what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reader reads a topic from the start, accumulating every data record
// (transaction markers advance it but are not returned).
type Reader struct {
	cl    *kgo.Client
	topic string
	recs  []*kgo.Record
	next  map[int32]int64 // per partition: the offset after the last record read
}

// NewReader starts reading topic from its beginning.
func NewReader(t testing.TB, addr, topic string) *Reader {
	t.Helper()
	cl, err := kclient.ForBrokers(addr).Client(kgo.ConsumeTopics(topic), kgo.KeepControlRecords(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Reader{cl: cl, topic: topic, next: map[int32]int64{}}
}

// Poll fetches what is available within a short wait and returns all records so far.
func (r *Reader) Poll(t testing.TB) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	fs := r.cl.PollFetches(ctx)
	fs.EachError(func(topic string, p int32, err error) {
		if ctx.Err() == nil {
			t.Errorf("fetching %s/%d: %v", topic, p, err)
		}
	})
	fs.EachRecord(func(rec *kgo.Record) {
		r.next[rec.Partition] = rec.Offset + 1
		if !rec.Attrs.IsControl() {
			r.recs = append(r.recs, rec)
		}
	})
	return r.recs
}

// PollToEnd polls until every record the topic held when it was called has
// been read (its end offsets listed then), within 20 s, and returns all
// records so far. Use it after an acknowledged produce: one Poll's short
// wait may return only part of a burst on a busy machine. The reader keeps
// control records, so a partition ending in a transaction marker is read
// to its end (the marker is not returned); a partition still short of its
// end after 20 s fails the test, never a partial read returned.
func (r *Reader) PollToEnd(t testing.TB) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(r.cl).ListEndOffsets(ctx, r.topic)
	if err != nil {
		t.Fatalf("listing the end offsets of %s: %v", r.topic, err)
	}
	behind := func() bool {
		b := false
		ends.Each(func(o kadm.ListedOffset) {
			if o.Err != nil {
				t.Fatalf("end offset of %s/%d: %v", o.Topic, o.Partition, o.Err)
			}
			if o.Offset > r.next[o.Partition] {
				b = true
			}
		})
		return b
	}
	for behind() {
		r.Poll(t)
		if ctx.Err() != nil {
			t.Fatalf("reading %s to its end: %v", r.topic, ctx.Err())
		}
	}
	return r.recs
}

// ReadAll reads every record of topic, from its start up to its end
// offsets now (within 20 s), with kclient.ReadTail.
func ReadAll(t testing.TB, addr, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kclient.ForBrokers(addr).Client(kgo.KeepControlRecords(), kgo.FetchMaxWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	if err := kclient.ReadTail(ctx, cl, topic, 0, func(r *kgo.Record) { out = append(out, r) }); err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return out
}

// SyncBuffer is a bytes.Buffer safe for concurrent writers and readers (a
// log or an output the test greps while the code under test runs).
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
