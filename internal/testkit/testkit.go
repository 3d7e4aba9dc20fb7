// Package testkit holds helpers shared by integration tests: a kfake broker
// over TCP with the topic catalog applied, a record reader, and the polling
// helper (no scattered sleeps).
package testkit

import (
	"bytes"
	"context"
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
// applied under prefix, and closes it when the test ends.
func Broker(t testing.TB, prefix string) *broker.Broker {
	t.Helper()
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kclient.BaseOpts([]string{b.Addr()})...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := topics.Apply(context.Background(), cl, prefix, topics.All(), 1); err != nil {
		t.Fatal(err)
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

// Eventually polls cond every 20ms until it is true or total elapses.
func Eventually(t testing.TB, total time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(total)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", total, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Reader reads a topic from the start, accumulating every record.
type Reader struct {
	cl   *kgo.Client
	recs []*kgo.Record
}

// NewReader starts reading topic from its beginning.
func NewReader(t testing.TB, addr, topic string) *Reader {
	t.Helper()
	cl, err := kgo.NewClient(append(kclient.BaseOpts([]string{addr}), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &Reader{cl: cl}
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
	fs.EachRecord(func(rec *kgo.Record) { r.recs = append(r.recs, rec) })
	return r.recs
}

// ReadAll reads every record of topic, from its start up to its end
// offsets now (within 20 s).
func ReadAll(t testing.TB, addr, topic string) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(kclient.BaseOpts([]string{addr}), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: still waiting for %v", topic, want)
		}
		fs.EachRecord(func(rec *kgo.Record) {
			out = append(out, rec)
			if rec.Offset+1 >= want[rec.Partition] {
				delete(want, rec.Partition)
			}
		})
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
