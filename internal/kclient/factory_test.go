package kclient_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// kafkaSeries sums a kraite_kafka_* counter per client_id; a client
// without series has no key.
func kafkaSeries(t *testing.T, reg *prometheus.Registry, name string) (sums map[string]float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	sums = map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "client_id" {
					sums[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sums
}

// TestFactoryMetricsKeepEveryClientApart runs three clients of one
// factory on one process registry: two with their own client IDs and a third that repeats the
// first one's. Each client's records count under its own client_id (one
// shared kprom.Metrics would count the first client's under the last
// one's), the repeated ID neither panics nor, when that client closes,
// takes the first client's series with it, and a closed client's series
// leave /metrics.
func TestFactoryMetricsKeepEveryClientApart(t *testing.T) {
	const prefix = "kraite."
	b := testkit.Broker(t, prefix)
	reg := prometheus.NewRegistry()
	f := kclient.New(kclient.Config{Brokers: []string{b.Addr()}, Log: testkit.Logger(t), Registerer: reg})
	topic := topics.Cronjobs.Name(prefix)
	newClient := func(id string) *kgo.Client {
		t.Helper()
		cl, err := f.Client(kgo.ClientID(id))
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	produce := func(cl *kgo.Client, n int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for range n {
			if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("producing: %v", err)
			}
		}
	}

	first, second := newClient("first"), newClient("second")
	defer second.Close()
	// The batch hook may run just after ProduceSync returned: poll.
	var got map[string]float64
	counted := func(want string, cond func() bool) {
		t.Helper()
		testkit.Eventually(t, 30*time.Second, "produce_records_total per client "+want, func() error {
			if got = kafkaSeries(t, reg, "kraite_kafka_produce_records_total"); !cond() {
				return fmt.Errorf("got %v", got)
			}
			return nil
		})
	}
	produce(first, 3)
	produce(second, 2)
	counted("first=3 second=2", func() bool { return got["first"] == 3 && got["second"] == 2 })

	dup := newClient("first") // must not panic inside kgo.NewClient
	produce(dup, 1)
	produce(first, 1)
	dup.Close()
	// first's series survive the duplicate's close and keep counting.
	counted("first=4 second=2 after a duplicate client id came and went",
		func() bool { return got["first"] == 4 && got["second"] == 2 })

	first.Close()
	got = kafkaSeries(t, reg, "kraite_kafka_produce_records_total")
	if _, ok := got["first"]; ok || got["second"] != 2 {
		t.Fatalf("after closing first: %v, want only second=2", got)
	}
}

// TestUnmeteredClientHasNoSeries: a client of Unmetered (a second client
// sharing a metered one's client ID) leaves /metrics alone, and a factory
// without a registerer meters nothing.
func TestUnmeteredClientHasNoSeries(t *testing.T) {
	const prefix = "kraite."
	b := testkit.Broker(t, prefix)
	reg := prometheus.NewRegistry()
	f := kclient.New(kclient.Config{Brokers: []string{b.Addr()}, Registerer: reg})
	for _, g := range []*kclient.Factory{f.Unmetered(), kclient.ForBrokers(b.Addr())} {
		cl, err := g.Producer(kgo.ClientID("quiet"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topics.Cronjobs.Name(prefix), Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		cancel()
		cl.Close()
	}
	if got := kafkaSeries(t, reg, "kraite_kafka_produce_records_total"); len(got) != 0 {
		t.Fatalf("unmetered clients have series: %v", got)
	}
}

// TestFactoryRefusesWhatCannotWork: a nil factory or one without brokers
// builds nothing (a component's Validate names it), and Checked against
// a port where nothing listens is an error, not a client retrying in the
// background.
func TestFactoryRefusesWhatCannotWork(t *testing.T) {
	var nilFactory *kclient.Factory
	for _, f := range []*kclient.Factory{nilFactory, kclient.ForBrokers(), kclient.New(kclient.Config{})} {
		if err := f.Validate(); err == nil {
			t.Errorf("factory %v validated", f)
		}
		if cl, err := f.Client(); err == nil {
			cl.Close()
			t.Errorf("factory %v built a client", f)
		}
		if cl, err := f.SaramaClient(); err == nil {
			cl.Close()
			t.Errorf("factory %v built a sarama client", f)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if cl, err := kclient.ForBrokers("127.0.0.1:1").Checked(ctx); err == nil {
		cl.Close()
		t.Fatal("a checked client of a closed port")
	}
	if cl, err := kclient.ForBrokers("127.0.0.1:1").CheckedProducer(ctx); err == nil {
		cl.Close()
		t.Fatal("a checked producer of a closed port")
	}
}
