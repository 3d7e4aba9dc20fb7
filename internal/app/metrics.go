package app

import "github.com/kraite/stream/internal/kclient"

// Kafka is the Kafka client factory of this process's components: the
// brokers, the process's security, its logger for the Kafka libraries'
// warnings, and a kprom.Metrics per client on the process's /metrics
// (kraite_kafka_fetch_records_total{client_id,node_id,topic} and the like).
func (w *App) Kafka() *kclient.Factory {
	w.kfOnce.Do(func() {
		w.kf = kclient.New(kclient.Config{Brokers: w.Common.Brokers, Log: w.Log, Registerer: w.Ops.Registry})
	})
	return w.kf
}
