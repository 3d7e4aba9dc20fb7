package app

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
)

// kafkaHooks returns the franz-go hooks for ONE new client of this process:
// its kprom metrics (kraite_kafka_*, labelled client_id) on the process's
// /metrics (kraite_kafka_fetch_records_total{client_id,node_id,topic} and
// the like). Call it once per client.
//
// A kprom.Metrics (v1.5.0) serves one client only: OnNewClient replaces
// its collectors with the new client's, so a second client's hooks would
// count into the first one's series, and OnClientClosed unregisters the
// collectors of whichever client came last. Every client therefore gets a
// kprom.Metrics of its own; they share one registerer (kafkaRegisterer),
// and client_id tells their series apart.
func (w *App) kafkaHooks() []kgo.Hook {
	if w.kafkaReg == nil {
		w.kafkaReg = newKafkaRegisterer(w.Ops.Registry, w.Log)
	}
	return []kgo.Hook{kprom.NewMetrics("kraite_kafka", kprom.Registerer(w.kafkaReg), kprom.WithClientLabel(),
		// Records too, not only bytes: records consumed per client and topic.
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.UncompressedBytes))}
}

// kafkaRegisterer is the process registry as kprom sees it. kprom
// registers with MustRegister when a client is created, so a second client
// with the same client ID would panic inside kgo.NewClient: here that
// client is only left out of /metrics, with a warning. Unregister (kprom
// does it when a client closes) removes only collectors this registerer
// registered: the registry unregisters by descriptor, so a left-out
// client's close would otherwise remove the first client's series.
type kafkaRegisterer struct {
	reg prometheus.Registerer
	log *slog.Logger

	mu     sync.Mutex
	mine   map[prometheus.Collector]struct{}
	warned bool
}

func newKafkaRegisterer(reg prometheus.Registerer, log *slog.Logger) *kafkaRegisterer {
	return &kafkaRegisterer{reg: reg, log: log, mine: map[prometheus.Collector]struct{}{}}
}

func (r *kafkaRegisterer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.mine[c] = struct{}{}
	r.mu.Unlock()
	return nil
}

func (r *kafkaRegisterer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		err := r.Register(c)
		if err == nil {
			continue
		}
		r.mu.Lock()
		first := !r.warned
		r.warned = true
		r.mu.Unlock()
		level := slog.LevelDebug
		if first {
			level = slog.LevelWarn
		}
		r.log.Log(context.Background(), level, "kafka client metrics left out of /metrics: two clients share a client id", "err", err)
	}
}

func (r *kafkaRegisterer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	_, ok := r.mine[c]
	delete(r.mine, c)
	r.mu.Unlock()
	return ok && r.reg.Unregister(c)
}
