package testkit

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// TestPollToEndReadsThroughATransactionMarker: a partition whose last
// offsets are a transactional producer's commit and abort markers is read
// to its end at once (the old reader waited ten empty polls, 2 s, for an
// offset no fetch returned), the markers are not returned, and a record
// produced after them is read by the next PollToEnd.
func TestPollToEndReadsThroughATransactionMarker(t *testing.T) {
	const prefix = "kraite."
	b := Broker(t, prefix)
	f := kclient.ForBrokers(b.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	topic := topics.Cronjobs.Name(prefix)
	txn, err := f.Client(kgo.TransactionalID("hostile"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	for i, end := range []kgo.TransactionEndTry{kgo.TryCommit, kgo.TryAbort} {
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		r := &kgo.Record{Topic: topic, Partition: 0, Value: fmt.Appendf(nil, "txn %d", i)}
		if err := txn.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := txn.EndTransaction(ctx, end); err != nil {
			t.Fatal(err)
		}
	}

	rd := NewReader(t, b.Addr(), topic)
	values := func(recs []*kgo.Record) string {
		var vs []string
		for _, r := range recs {
			if r.Attrs.IsControl() {
				t.Errorf("control record at %d/%d returned", r.Partition, r.Offset)
			}
			vs = append(vs, string(r.Value))
		}
		return fmt.Sprint(vs)
	}
	start := time.Now()
	got := values(rd.PollToEnd(t))
	if took := time.Since(start); took >= 2*time.Second {
		t.Errorf("PollToEnd took %s: it waited on the marker", took)
	}
	// Read uncommitted, like every consumer of Kraite: the aborted record
	// is read too.
	if got != "[txn 0 txn 1]" {
		t.Fatalf("read %s, want the two data records", got)
	}

	pl, err := f.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	if err := pl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: 0, Value: []byte("after")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if got := values(rd.PollToEnd(t)); got != "[txn 0 txn 1 after]" {
		t.Fatalf("read %s after a plain record, want it appended", got)
	}
}
