package gokastats_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/codec"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/internal/gokastats"
	"github.com/kraite/stream/processors/internal/lookups"
	"github.com/kraite/stream/processors/internal/ptest"
)

const (
	testGroup = "gokastats-test"
	inTopic   = "gokastats-test.in"
	outTopic  = "gokastats-test.out"
)

// createTopics makes the test processor's streams (the catalog has none
// for it): input with two partitions, so the processor owns two.
func createTopics(t *testing.T, c *ptest.Cluster) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	for topic, parts := range map[string]int32{inTopic: 2, outTopic: 1} {
		if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
			t.Fatalf("creating %s: %v", topic, err)
		}
	}
}

// counter is a processor with every kind of stats: an input, a group
// table (a count per key) and an output.
func counter(t *testing.T, c *ptest.Cluster) *goka.Processor {
	t.Helper()
	g := goka.DefineGroup(testGroup,
		goka.Input(goka.Stream(inTopic), new(codec.String), func(ctx goka.Context, msg any) {
			n, _ := ctx.Value().(int64)
			ctx.SetValue(n + 1)
			ctx.Emit(goka.Stream(outTopic), ctx.Key(), msg)
		}),
		goka.Persist(new(codec.Int64)),
		goka.Output(goka.Stream(outTopic), new(codec.String)),
	)
	p, err := goka.NewProcessor(c.Brokers(), g, ptest.ProcessorOptions(nil)...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// series is one gathered sample: name, labels, value.
type series struct {
	name   string
	labels map[string]string
	value  float64
}

func gather(t *testing.T, reg *prometheus.Registry) []series {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gathering: %v", err)
	}
	var out []series
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			s := series{name: mf.GetName(), labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				s.value = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				s.value = m.GetGauge().GetValue()
			}
			out = append(out, s)
		}
	}
	return out
}

// sum adds the values of name whose labels include want; n is how many
// series matched.
func sum(ss []series, name string, want map[string]string) (total float64, n int) {
next:
	for _, s := range ss {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		total += s.value
		n++
	}
	return total, n
}

func TestCollectorScrapesARunningProcessor(t *testing.T) {
	c := ptest.StartCluster(t)
	createTopics(t, c)
	p := counter(t, c)
	reg := prometheus.NewRegistry()
	if err := gokastats.Register(reg, p); err != nil {
		t.Fatal(err)
	}
	r := ptest.Run(t, lookups.New(p))

	const n = 12
	for i := range n {
		c.Produce(t, inTopic, fmt.Sprintf("key-%d", i%5), []byte("v"))
	}
	group := map[string]string{"group": testGroup}
	in := map[string]string{"group": testGroup, "topic": inTopic}
	out := map[string]string{"group": testGroup, "topic": outTopic}
	table := map[string]string{"group": testGroup, "table": string(goka.GroupTable(testGroup))}
	var ss []series
	testkit.Eventually(t, 30*time.Second, "every record counted in, out and in the table", func() bool {
		ss = gather(t, reg)
		msgs, _ := sum(ss, "kraite_goka_input_messages_total", in)
		emitted, _ := sum(ss, "kraite_goka_output_messages_total", out)
		writes, _ := sum(ss, "kraite_goka_table_writes_total", table)
		return msgs == n && emitted == n && writes == n
	})

	if parts, _ := sum(ss, "kraite_goka_partitions", group); parts != 2 {
		t.Errorf("kraite_goka_partitions = %v, want 2 (the input's partitions)", parts)
	}
	if _, k := sum(ss, "kraite_goka_input_messages_total", in); k != 2 {
		t.Errorf("input series = %d, want one per partition (2)", k)
	}
	if b, _ := sum(ss, "kraite_goka_input_bytes_total", in); b != n {
		t.Errorf("input bytes = %v, want %d (one byte per value)", b, n)
	}
	if b, _ := sum(ss, "kraite_goka_output_bytes_total", out); b != n {
		t.Errorf("output bytes = %v, want %d", b, n)
	}
	for _, part := range []string{"0", "1"} {
		lbl := map[string]string{"group": testGroup, "table": table["table"], "partition": part}
		if st, k := sum(ss, "kraite_goka_table_status", lbl); k != 1 || st != float64(goka.PartitionRunning) {
			t.Errorf("table partition %s: status %v (%d series), want running (%d)", part, st, k, goka.PartitionRunning)
		}
		if lag, k := sum(ss, "kraite_goka_table_recovery_lag", lbl); k != 1 || lag != 0 {
			t.Errorf("table partition %s: recovery lag %v (%d series), want 0", part, lag, k)
		}
	}

	// Names and help texts pass Prometheus' own lint.
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, pr := range problems {
		t.Errorf("lint: %s: %s", pr.Metric, pr.Text)
	}

	// A scrape after the processor stopped reports no partitions and does
	// not block or fail.
	if err := r.Stop(); err != nil {
		t.Fatalf("stopping: %v", err)
	}
	ss = gather(t, reg)
	if parts, k := sum(ss, "kraite_goka_partitions", group); k != 1 || parts != 0 {
		t.Errorf("after stop: kraite_goka_partitions = %v (%d series), want 0", parts, k)
	}
}

func TestCollectorRecoveryLagWhileRecovering(t *testing.T) {
	const group = "g"
	stats := &goka.ProcessorStats{Group: map[int32]*goka.PartitionProcStats{
		3: {TableStats: &goka.TableStats{Status: goka.PartitionRecovering,
			Recovery: &goka.RecoveryStats{Offset: 39, Hwm: 100}, Writes: &goka.OutputStats{}}},
	}}
	reg := prometheus.NewRegistry()
	reg.MustRegister(gokastats.NewCollector(group, func(context.Context) *goka.ProcessorStats { return stats }))
	ss := gather(t, reg)
	lbl := map[string]string{"group": group, "table": "g-table", "partition": "3"}
	if lag, k := sum(ss, "kraite_goka_table_recovery_lag", lbl); k != 1 || lag != 60 {
		t.Errorf("recovery lag = %v (%d series), want 60 (offsets 40..99 left)", lag, k)
	}
	if st, _ := sum(ss, "kraite_goka_table_status", lbl); st != float64(goka.PartitionRecovering) {
		t.Errorf("status = %v, want recovering (%d)", st, goka.PartitionRecovering)
	}
}
