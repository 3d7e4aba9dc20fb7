package topics_test

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/topics"
)

func TestApplyCreatesThenConvergesIdempotently(t *testing.T) {
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	ctx := t.Context()

	res, err := topics.Apply(ctx, cl, "t1.", topics.All(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Action != topics.ActionCreated {
			t.Fatalf("%s: %s, want created", r.Topic, r.Action)
		}
	}
	res, err = topics.Apply(ctx, cl, "t1.", topics.All(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Action != topics.ActionUnchanged {
			t.Fatalf("second apply: %s %s %v, want unchanged", r.Topic, r.Action, r.Changes)
		}
	}

	// Drift: fewer partitions and a wrong retention are converged.
	name := topics.Orders.Name("t2.")
	if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"retention.ms": ptr("1000")}, name); err != nil {
		t.Fatal(err)
	}
	res, err = topics.Apply(ctx, cl, "t2.", []topics.Spec{topics.Orders}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Action != topics.ActionUpdated || len(res[0].Changes) != 2 {
		t.Fatalf("drift: %+v", res[0])
	}
	details, err := adm.ListTopics(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(details[name].Partitions); n != int(topics.Orders.Partitions) {
		t.Fatalf("partitions %d", n)
	}
	rc, err := adm.DescribeTopicConfigs(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rc[0].Configs {
		if c.Key == "retention.ms" && c.MaybeValue() != "604800000" {
			t.Fatalf("retention.ms %s", c.MaybeValue())
		}
	}
}

func TestCatalogNamesAreUniqueAndQueuesAreSeven(t *testing.T) {
	seen := map[string]bool{}
	for _, s := range topics.All() {
		if seen[s.Suffix] {
			t.Fatalf("duplicate %s", s.Suffix)
		}
		seen[s.Suffix] = true
		if s.Partitions < 1 {
			t.Fatalf("%s: %d partitions", s.Suffix, s.Partitions)
		}
	}
	if n := len(topics.Queues()); n != 7 {
		t.Fatalf("%d queues, want 7", n)
	}
	if got := topics.UserDataStream.Name(topics.DefaultPrefix); got != "kraite.user-data-stream" {
		t.Fatal(got)
	}
}

func ptr(s string) *string { return &s }
