package kclient_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// TestReadTailReusesOneClient reads the tails of two topics and the whole
// of a third, one after another, with one client: each read sees exactly
// the records it asked for (the last tail of every partition, in offset
// order), an empty topic reads nothing, and an unknown topic is an error
// naming it.
func TestReadTailReusesOneClient(t *testing.T) {
	const prefix = "kraite."
	b := testkit.Broker(t, prefix)
	f := kclient.ForBrokers(b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	prod, err := f.Producer(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	cron, prio := topics.Cronjobs.Name(prefix), topics.Priority.Name(prefix)
	for _, tp := range []struct {
		topic string
		parts int32
	}{{cron, topics.Cronjobs.Partitions}, {prio, topics.Priority.Partitions}} {
		for p := range tp.parts {
			for i := range 5 {
				r := &kgo.Record{Topic: tp.topic, Partition: p, Value: fmt.Appendf(nil, "%d/%d", p, i)}
				if err := prod.ProduceSync(ctx, r).FirstErr(); err != nil {
					t.Fatal(err)
				}
			}
		}
	}

	cl, err := f.TailReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	read := func(topic string, tail int64) map[int32][]int64 {
		t.Helper()
		got := map[int32][]int64{}
		if err := kclient.ReadTail(ctx, cl, topic, tail, func(r *kgo.Record) {
			if r.Topic != topic {
				t.Errorf("record of %s while reading %s", r.Topic, topic)
			}
			got[r.Partition] = append(got[r.Partition], r.Offset)
		}); err != nil {
			t.Fatalf("reading %s: %v", topic, err)
		}
		return got
	}
	check := func(topic string, parts int32, tail int64, want []int64) {
		t.Helper()
		got := read(topic, tail)
		if len(got) != int(parts) {
			t.Fatalf("%s tail %d: partitions %v, want %d", topic, tail, got, parts)
		}
		for p, offs := range got {
			if fmt.Sprint(offs) != fmt.Sprint(want) {
				t.Fatalf("%s/%d tail %d: offsets %v, want %v", topic, p, tail, offs, want)
			}
		}
	}
	check(cron, topics.Cronjobs.Partitions, 2, []int64{3, 4})
	check(prio, topics.Priority.Partitions, 1, []int64{4})
	check(cron, topics.Cronjobs.Partitions, 0, []int64{0, 1, 2, 3, 4})
	check(prio, topics.Priority.Partitions, 100, []int64{0, 1, 2, 3, 4})
	if got := read(topics.Default.Name(prefix), 0); len(got) != 0 {
		t.Fatalf("empty topic read %v", got)
	}
	err = kclient.ReadTail(ctx, cl, prefix+"no-such-topic", 0, func(*kgo.Record) { t.Error("record of an unknown topic") })
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("unknown topic: %v, want UnknownTopicOrPartition", err)
	}
}

// TestReadTailEndsAtATransactionMarker: a transactional producer (any
// client with write access may be one) leaves a commit or abort marker as
// the last offset of a partition, an offset no fetch returns as a record
// unless the client keeps control records. A tail reader (TailReader)
// reaches the end through the marker at once, hands fn the data records
// only, and never stalls on it.
func TestReadTailEndsAtATransactionMarker(t *testing.T) {
	const prefix = "kraite."
	b := testkit.Broker(t, prefix)
	f := kclient.ForBrokers(b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := topics.Cronjobs.Name(prefix)
	txn, err := f.Client(kgo.TransactionalID("hostile"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	for i, commit := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "txn %d", i)}
		if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, commit); err != nil {
			t.Fatal(err)
		}
	}

	cl, err := f.TailReader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	start := time.Now()
	var got []string
	err = kclient.ReadTail(ctx, cl, topic, 0, func(r *kgo.Record) {
		if r.Attrs.IsControl() {
			t.Errorf("control record at offset %d handed to fn", r.Offset)
		}
		got = append(got, string(r.Value))
	})
	if err != nil {
		t.Fatalf("reading a partition ending in a marker: %v", err)
	}
	if took := time.Since(start); took >= kclient.TailPollWait {
		t.Errorf("read took %s: it waited for the marker", took)
	}
	// Read uncommitted, like every consumer of Kraite: the aborted record
	// is read too.
	if fmt.Sprint(got) != "[txn 0 txn 1]" {
		t.Fatalf("read %q, want the two data records", got)
	}
}
