package groupadmin

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
)

const prefix = "t."

// topic is the 12-partition, account-keyed user-data stream of the catalog.
var topic = prefix + "user-data-stream"

// base is the event time of the first test record; record i is base+i s.
var base = time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)

type env struct {
	addr string
	adm  *kadm.Client
	recs []*kgo.Record // as produced, with partition and offset
}

// newEnv starts a kfake broker with the catalog applied and produces n
// records keyed acct-0..acct-9 round-robin, record i stamped base+i seconds.
func newEnv(t *testing.T, n int) *env {
	t.Helper()
	b := testkit.Broker(t, prefix)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e := &env{addr: b.Addr(), adm: kadm.NewClient(cl)}
	e.produce(t, 0, n)
	return e
}

func (e *env) produce(t *testing.T, from, n int) {
	t.Helper()
	p, err := kgo.NewClient(kclient.ProducerOpts([]string{e.addr}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := from; i < from+n; i++ {
		r := &kgo.Record{Topic: topic, Key: []byte(fmt.Sprintf("acct-%d", i%10)), Value: []byte(fmt.Sprint(i)),
			Timestamp: base.Add(time.Duration(i) * time.Second)}
		if err := p.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		e.recs = append(e.recs, r)
	}
}

// commitAtEnd commits every partition's end offset for group, as a group
// that has consumed everything would have.
func (e *env) commitAtEnd(t *testing.T, group string) {
	t.Helper()
	ends, err := e.adm.ListEndOffsets(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.adm.CommitAllOffsets(context.Background(), group, ends.Offsets()); err != nil {
		t.Fatal(err)
	}
}

// committed returns partition -> committed offset of group on topic.
func (e *env) committed(t *testing.T, group string) map[int32]int64 {
	t.Helper()
	os, err := e.adm.FetchOffsetsForTopics(context.Background(), group, topic)
	if err != nil {
		t.Fatal(err)
	}
	out := map[int32]int64{}
	os.Each(func(o kadm.OffsetResponse) { out[o.Partition] = o.At })
	return out
}

// consumer is a real group member that collects what it reads and commits
// every 100ms. Stop waits for its loop and commits what it read.
type consumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	got    []*kgo.Record
}

func startConsumer(t *testing.T, addr, group, clientID string) *consumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.ClientID(clientID), kgo.FetchMaxWait(50*time.Millisecond), kgo.AutoCommitInterval(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &consumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			c.mu.Lock()
			fs.EachRecord(func(r *kgo.Record) { c.got = append(c.got, r) })
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.Stop)
	return c
}

// Records returns a copy of what the consumer has read so far.
func (c *consumer) Records() []*kgo.Record {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*kgo.Record(nil), c.got...)
}

// Stop ends the poll loop, commits and leaves the group; idempotent.
func (c *consumer) Stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.cl.CommitUncommittedOffsets(ctx)
	c.cl.Close()
}

// groupState describes group and returns its state and member count.
func groupState(t *testing.T, adm *kadm.Client, group string) (string, int) {
	t.Helper()
	d, err := adm.DescribeGroups(context.Background(), group)
	if err != nil {
		t.Fatal(err)
	}
	g := d[group]
	return g.State, len(g.Members)
}
