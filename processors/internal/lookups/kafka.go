package lookups

import "github.com/kraite/stream/internal/kclient"

// Every Kafka client of a processor comes from its kclient.Factory: the
// processor's own (GokaProcessorOptions), its Views' (GokaViewOptions), a
// guarded View's quarantine emitter (GuardConfig.Kafka) and the client
// that reads the input's partition count (TopicPartitions), so the
// process's TLS and SASL apply to each.

// Kafka is the client factory of a processor configured with kafka, or
// else with seed brokers: kclient.ForBrokers (the process-wide security);
// nil with no brokers either (goka's testers).
func Kafka(kafka *kclient.Factory, brokers []string) *kclient.Factory {
	if kafka == nil && len(brokers) > 0 {
		return kclient.ForBrokers(brokers...)
	}
	return kafka
}

// brokers are kafka's seed brokers; none without a factory (goka's
// testers need none).
func brokers(kafka *kclient.Factory) []string {
	if kafka == nil {
		return nil
	}
	return kafka.Brokers()
}
