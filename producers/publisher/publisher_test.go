package publisher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

func TestRefusable(t *testing.T) {
	for _, c := range []struct {
		err               error
		refused, tooLarge bool
	}{
		{ErrTooLarge, true, true},
		{fmt.Errorf("%w (uncompressed_bytes=9)", kerr.MessageTooLarge), true, true},
		{kerr.RecordListTooLarge, true, true},
		{kerr.InvalidRecord, true, false},
		{kerr.CorruptMessage, true, false},
		{kerr.InvalidTimestamp, true, false},
		{kgo.ErrClientClosed, false, false},
		{context.Canceled, false, false},
		{kerr.NotLeaderForPartition, false, false},
		{errors.New("broker down"), false, false},
	} {
		refused, tooLarge := Refusable(c.err)
		if refused != c.refused || tooLarge != c.tooLarge {
			t.Errorf("%v: refused=%v tooLarge=%v, want %v %v", c.err, refused, tooLarge, c.refused, c.tooLarge)
		}
	}
}

// outcome collects what PublishFrame reported for one record.
func publishFrame(t *testing.T, p *Publisher, rec *kgo.Record) *Refusal {
	t.Helper()
	got := make(chan *Refusal, 1)
	p.PublishFrame(rec, "test", time.Now(), func(r *Refusal) { got <- r })
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatalf("no outcome for a %d-byte record", RecordSize(rec))
		return nil
	}
}

// TestPublishFrameRefusesWhatCanNeverBeStored: RecordSize is never below
// what franz-go and the broker measure, so a record of exactly
// MaxRecordBytes is stored on a topic with the same limit and one byte
// more is refused before producing; the broker's own refusals (too large
// with its limit below ours, invalid record) are reported as refusals,
// and the publisher keeps delivering afterwards.
func TestPublishFrameRefusesWhatCanNeverBeStored(t *testing.T) {
	const limit = 64 << 10
	b := testkit.Broker(t, "pf.")
	topic := topics.UserDataStream.Name("pf.")
	alter := func(n int) {
		t.Helper()
		cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		v := strconv.Itoa(n)
		if _, err := kadm.NewClient(cl).AlterTopicConfigs(context.Background(),
			[]kadm.AlterConfig{{Op: kadm.SetConfig, Name: "max.message.bytes", Value: &v}}, topic); err != nil {
			t.Fatal(err)
		}
	}
	alter(limit)
	p, err := New(Config{Kafka: kclient.ForBrokers(b.Addr()), MaxRecordBytes: limit}, testkit.Logger(t), NewMetrics(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	headers := topics.FrameHeaders(topics.ExchangeBinance, "acct-1", "acct-1/c-1", topics.KindFrame, topics.SourceStream, time.Now())
	sized := func(n int) *kgo.Record {
		rec := &kgo.Record{Topic: topic, Key: []byte("acct-1"), Headers: headers}
		rec.Value = []byte(strings.Repeat("v", n-RecordSize(rec)))
		if RecordSize(rec) != n {
			t.Fatalf("built %d bytes, want %d", RecordSize(rec), n)
		}
		return rec
	}

	if r := publishFrame(t, p, sized(limit)); r != nil {
		t.Fatalf("a record of exactly MaxRecordBytes was refused: %+v", r)
	}
	r := publishFrame(t, p, sized(limit+1))
	if r == nil || !r.TooLarge || r.Broker || r.Size != limit+1 || r.Limit != limit || !errors.Is(r.Err, ErrTooLarge) {
		t.Fatalf("one byte over: %+v", r)
	}

	// The broker's limit below ours: it refuses.
	alter(8 << 10)
	r = publishFrame(t, p, sized(16<<10))
	if r == nil || !r.TooLarge || !r.Broker || !errors.Is(r.Err, kerr.MessageTooLarge) {
		t.Fatalf("broker limit lower: %+v", r)
	}
	alter(limit)

	// The broker calls the record invalid.
	h := b.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: topic, Err: kerr.InvalidRecord})
	r = publishFrame(t, p, sized(1024))
	h.Remove()
	if r == nil || r.TooLarge || !r.Broker || !errors.Is(r.Err, kerr.InvalidRecord) {
		t.Fatalf("invalid record: %+v", r)
	}

	// Still delivering.
	for range 3 {
		if r := publishFrame(t, p, sized(2048)); r != nil {
			t.Fatalf("after the refusals: %+v", r)
		}
	}
	if p.Refused() != 3 || p.Failed() != 0 {
		t.Fatalf("refused %d failed %d, want 3 and 0", p.Refused(), p.Failed())
	}
}

func TestMaxRecordBytesBounds(t *testing.T) {
	for _, n := range []int{1, 1023, 1<<30 + 1} {
		if _, err := New(Config{Kafka: kclient.ForBrokers("127.0.0.1:1"), MaxRecordBytes: n}, testkit.Logger(t), nil); err == nil {
			t.Errorf("MaxRecordBytes %d accepted", n)
		}
	}
}
