package consume

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// NewSink refuses a bad loop configuration naming the sink, and wires a good
// one's retries into the sink's metrics.
func TestNewSinkNamesTheSinkAndCountsRetries(t *testing.T) {
	for _, bad := range []Config{
		{},
		{Kafka: kclient.ForBrokers("127.0.0.1:1"), Topic: "t", Group: "g", MaxBatch: -1},
		{Kafka: kclient.ForBrokers("127.0.0.1:1"), Topic: "t", Group: "g", MinBackoff: -time.Second},
		{Kafka: kclient.ForBrokers("127.0.0.1:1"), Topic: "t", Group: "g", Linger: MaxLinger + 1},
	} {
		if _, _, _, err := NewSink("audit", bad, nil, nil); err == nil || !strings.HasPrefix(err.Error(), "creating audit sink: ") {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	reg := prometheus.NewRegistry()
	loop, m, log, err := NewSink("audit", Config{Kafka: kclient.ForBrokers("127.0.0.1:1"), Topic: "t", Group: "g"}, reg, nil)
	if err != nil || loop == nil || m == nil || log == nil {
		t.Fatalf("loop %v, metrics %v, log %v, err %v", loop, m, log, err)
	}
	loop.OnRetry(errors.New("database down"))
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var retries *dto.Metric
	for _, mf := range mfs {
		if mf.GetName() == "kraite_sink_retries_total" {
			retries = mf.GetMetric()[0]
		}
	}
	if retries == nil || retries.GetCounter().GetValue() != 1 || retries.GetLabel()[0].GetValue() != "audit" {
		t.Fatalf("retries metric %v", retries)
	}
}

// SinkConfig.Loop names the sink's topic and default group under the
// prefix (topics.DefaultPrefix when empty) and carries the loop settings;
// NewLoop writes the names it used back, so the sink quarantines under them.
func TestSinkConfigLoopDefaultsTheNamesAndNewLoopKeepsThem(t *testing.T) {
	spec := SinkSpec{Name: "audit", Topic: topics.UserDataStream, Group: topics.GroupSinkAudit}
	kf := kclient.ForBrokers("127.0.0.1:1")
	got := SinkConfig{Kafka: kf, MaxBatch: 7, MinBackoff: time.Millisecond, MaxBackoff: time.Second,
		Linger: -1, SyncCycle: true}.Loop(spec)
	want := Config{Kafka: kf, Topic: topics.UserDataStream.Name(topics.DefaultPrefix), Group: topics.GroupSinkAudit.Name(topics.DefaultPrefix),
		MaxBatch: 7, MinBackoff: time.Millisecond, MaxBackoff: time.Second, Linger: -1, SyncCycle: true}
	if got != want {
		t.Fatalf("loop %+v, want %+v", got, want)
	}
	if l := (SinkConfig{Prefix: "blue.", Group: "mine"}).Loop(spec); l.Topic != "blue.user-data-stream" || l.Group != "mine" {
		t.Fatalf("topic %q, group %q", l.Topic, l.Group)
	}

	c := SinkConfig{Kafka: kf, Prefix: "blue."}
	loop, _, _, err := c.NewLoop(spec, nil)
	if err != nil {
		t.Fatal(err)
	}
	loop.Client().Close()
	if c.Prefix != "blue." || c.Group != "blue.sink.audit" || loop.cfg.Group != c.Group {
		t.Fatalf("prefix %q, group %q, loop's group %q", c.Prefix, c.Group, loop.cfg.Group)
	}
	c = SinkConfig{Kafka: kf}
	loop, _, _, err = c.NewLoop(spec, nil)
	if err != nil || c.Prefix != topics.DefaultPrefix {
		t.Fatalf("prefix %q, err %v", c.Prefix, err)
	}
	loop.Client().Close()
	if _, _, _, err := (&SinkConfig{Kafka: kf, MaxBatch: -1}).NewLoop(spec, nil); err == nil ||
		err.Error() != "creating audit sink: max batch: -1 is negative" {
		t.Fatalf("bad config: %v", err)
	}
}
