// Package sinktest holds what the sink tests add to internal/testkit (the
// broker, the polling helper, the fixtures): a producer on the catalog under
// a random prefix, committed-offset and quarantine checks, a database behind
// a proxy, and a runner that always waits for Run to return.
package sinktest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// Env is a running broker with the catalog applied under Prefix.
type Env struct {
	Broker *broker.Broker
	Prefix string
	Client *kgo.Client // producer + admin
}

// Start starts a kfake broker for the test and applies the topic catalog.
func Start(t testing.TB) *Env {
	t.Helper()
	prefix := "t" + Random(4) + "."
	b := testkit.BrokerWith(t, broker.Config{}, prefix)
	cl, err := kclient.ForBrokers(b.Addr()).Producer()
	if err != nil {
		t.Fatalf("creating client: %v", err)
	}
	t.Cleanup(cl.Close)
	e := &Env{Broker: b, Prefix: prefix, Client: cl}
	return e
}

// Brokers is the seed list.
func (e *Env) Brokers() []string { return []string{e.Broker.Addr()} }

// Kafka is the client factory of the broker (plain clients, no metrics).
func (e *Env) Kafka() *kclient.Factory { return kclient.ForBrokers(e.Broker.Addr()) }

// Produce writes records synchronously.
func (e *Env) Produce(t testing.TB, recs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.Client.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("producing: %v", err)
	}
}

// Consume reads every record currently on topic (from the start) until n
// records arrived or the timeout passed.
func (e *Env) Consume(t testing.TB, topic string, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	cl, err := e.Kafka().Client(kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("creating consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}

// JSON marshals v or fails the test.
func JSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Random returns n random bytes as hex.
func Random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Runner runs a component's Run in the background; Stop cancels it and
// returns Run's error. Stop is registered in t.Cleanup too, so Run always
// returns before the test ends.
type Runner struct {
	cancel context.CancelFunc
	done   chan error
	err    error
	waited bool
}

// Run starts run(ctx).
func Run(t testing.TB, run func(ctx context.Context) error) *Runner {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Runner{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx) }()
	t.Cleanup(func() { r.Stop() })
	return r
}

// Stop cancels and waits (at most 30 s) for Run to return.
func (r *Runner) Stop() error {
	if r.waited {
		return r.err
	}
	r.cancel()
	select {
	case r.err = <-r.done:
	case <-time.After(30 * time.Second):
		r.err = errors.New("run did not return within 30s of cancellation")
	}
	r.waited = true
	return r.err
}

// Done is closed-ish: it yields Run's error once Run returns by itself.
func (r *Runner) Wait(timeout time.Duration) error {
	select {
	case r.err = <-r.done:
		r.waited = true
		return r.err
	case <-time.After(timeout):
		return errors.New("run did not return in time")
	}
}

// Logger is testkit.Logger for callers without a testing.TB at hand.
func Logger() *slog.Logger { return testkit.Logger(nil) }

// WaitCommitted waits until group has committed the end offset of every
// partition of topic: everything produced so far is durably handled.
func (e *Env) WaitCommitted(t testing.TB, group, topic string, timeout time.Duration) {
	t.Helper()
	adm := kadm.NewClient(e.Client)
	testkit.Eventually(t, timeout, group+" to commit "+topic, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			return err
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err != nil {
			return err
		}
		var lag error
		ends.Each(func(o kadm.ListedOffset) {
			if o.Offset == 0 {
				return
			}
			c, ok := committed.Lookup(o.Topic, o.Partition)
			if !ok || c.At < o.Offset {
				lag = fmt.Errorf("%s/%d committed %v of %d", o.Topic, o.Partition, c.At, o.Offset)
			}
		})
		return lag
	})
}

// CommittedOffsets is group's committed offset of every partition of topic
// (absent: nothing committed).
func (e *Env) CommittedOffsets(t testing.TB, group, topic string) map[int32]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(e.Client).FetchOffsets(ctx, group)
	if err != nil {
		t.Fatalf("fetching the offsets of %s: %v", group, err)
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == topic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// Quarantined reads the quarantine topic until n records arrived or timeout
// passed and decodes them, keyed by source position (a record quarantined
// twice, e.g. after a retried batch, keeps its last reason).
func (e *Env) Quarantined(t testing.TB, n int, timeout time.Duration) map[Pos]topics.QuarantineRecord {
	t.Helper()
	out := map[Pos]topics.QuarantineRecord{}
	for _, r := range e.Consume(t, topics.Quarantine.Name(e.Prefix), n, timeout) {
		var q topics.QuarantineRecord
		if err := json.Unmarshal(r.Value, &q); err != nil {
			t.Fatalf("quarantine record %q: %v", r.Value, err)
		}
		out[Pos{q.SourcePartition, q.SourceOffset}] = q
	}
	return out
}

// NoneQuarantined checks that nothing reached the quarantine topic within
// wait.
func (e *Env) NoneQuarantined(t testing.TB, wait time.Duration) {
	t.Helper()
	if q := e.Consume(t, topics.Quarantine.Name(e.Prefix), 1, wait); len(q) > 0 {
		t.Errorf("quarantined %d records, want none; first: %s", len(q), q[0].Value)
	}
}

// Pos is a record's position in its topic.
type Pos struct {
	Partition int32
	Offset    int64
}

// PosOf is where a produced record landed (set by the broker's ack).
func PosOf(r *kgo.Record) Pos { return Pos{r.Partition, r.Offset} }
