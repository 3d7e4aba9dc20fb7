package consume

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/kraite/stream/internal/kclient"
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
