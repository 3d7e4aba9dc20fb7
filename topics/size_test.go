package topics_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// TestFrameTopicsAreSizedForTheLargestFrame: the frame topics are created
// with max.message.bytes = FrameMaxBytes (kfake enforces it), a record just
// under it is stored and read back whole by a franz-go consumer with the
// default fetch limits and by sarama with the config goka's processors use,
// the other topics keep the broker default, and apply converges a frame
// topic created without the setting.
func TestFrameTopicsAreSizedForTheLargestFrame(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admCl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admCl.Close)
	adm := kadm.NewClient(admCl)

	// A frame topic that exists without the setting is converged.
	const prefix = "sz."
	if _, err := adm.CreateTopic(ctx, topics.MarkPrice.Partitions, 1, nil, topics.MarkPrice.Name(prefix)); err != nil {
		t.Fatal(err)
	}
	res, err := topics.Apply(ctx, admCl, prefix, topics.All(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Topic == topics.MarkPrice.Name(prefix) && !strings.Contains(strings.Join(r.Changes, ";"), "max.message.bytes") {
			t.Fatalf("mark-price not converged: %+v", r)
		}
	}
	for _, s := range topics.All() {
		rc, err := adm.DescribeTopicConfigs(ctx, s.Name(prefix))
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, c := range rc[0].Configs {
			if c.Key == "max.message.bytes" {
				got = c.MaybeValue()
			}
		}
		isFrame := s.Suffix == topics.UserDataStream.Suffix || s.Suffix == topics.MarkPrice.Suffix
		if isFrame && got != "4194304" {
			t.Fatalf("%s: max.message.bytes %q, want 4194304", s.Suffix, got)
		}
		if !isFrame && got == "4194304" {
			t.Fatalf("%s: max.message.bytes raised although it carries no frames", s.Suffix)
		}
	}

	pcl, err := kgo.NewClient(append(kclient.ProducerOpts([]string{b.Addr()}, nil),
		kgo.ProducerBatchMaxBytes(topics.FrameMaxBytes))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pcl.Close)
	big := []byte(`{"e":"ACCOUNT_UPDATE","x":"` + strings.Repeat("p", topics.FrameMaxBytes-1024) + `"}`)
	for _, s := range []topics.Spec{topics.UserDataStream, topics.MarkPrice} {
		if err := pcl.ProduceSync(ctx, &kgo.Record{Topic: s.Name(prefix), Key: []byte("acct-1"), Value: big}).FirstErr(); err != nil {
			t.Fatalf("%s refused a %d-byte record: %v", s.Suffix, len(big), err)
		}
	}
	// kfake honours the limit: a topic at the broker default (about 1 MiB)
	// refuses a 2 MiB record that our client lets through.
	err = pcl.ProduceSync(ctx, &kgo.Record{Topic: topics.Orders.Name(prefix), Value: big[:2<<20]}).FirstErr()
	if !errors.Is(err, kerr.MessageTooLarge) {
		t.Fatalf("a 2 MiB record on orders: %v, want MESSAGE_TOO_LARGE", err)
	}

	// franz-go with default fetch limits (1 MiB per partition) reads it.
	ccl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.ConsumeTopics(topics.UserDataStream.Name(prefix)),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ccl.Close)
	var got []byte
	for got == nil && ctx.Err() == nil {
		fs := ccl.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetching: %v", err) })
		fs.EachRecord(func(r *kgo.Record) { got = r.Value })
	}
	if len(got) != len(big) {
		t.Fatalf("franz-go read %d bytes, want %d", len(got), len(big))
	}

	// sarama, configured as goka's processors are, reads it too.
	sc, err := sarama.NewConsumer([]string{b.Addr()}, kclient.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	name := topics.UserDataStream.Name(prefix)
	part := kclient.Partitioner().ForTopic(name).Partition(&kgo.Record{Key: []byte("acct-1")}, int(topics.UserDataStream.Partitions))
	pc, err := sc.ConsumePartition(name, int32(part), sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case m := <-pc.Messages():
		if len(m.Value) != len(big) {
			t.Fatalf("sarama read %d bytes, want %d", len(m.Value), len(big))
		}
	case err := <-pc.Errors():
		t.Fatalf("sarama: %v", err)
	case <-ctx.Done():
		t.Fatal("sarama never delivered the large record")
	}
}
