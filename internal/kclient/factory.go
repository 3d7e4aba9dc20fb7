package kclient

// # The client factory
//
// Factory is the one place where a Kafka client of Kraite is created: every
// franz-go client (producer, group or direct consumer, admin) comes from
// Factory.Client or Factory.Producer, every kadm client from Factory.Admin,
// and the goka builders' sarama configs from Factory.GokaProcessorOptions
// and its siblings, the one sarama client a processor opens before it
// starts from Factory.SaramaClient. A factory carries the seed brokers, the security (TLS
// and SASL), the logger the libraries write to, and the process's
// Prometheus registerer, on which each client gets a kprom.Metrics of its
// own (kprom v1.5.0 serves one client per Metrics; see registerer).
// TestNoClientOutsideTheFactory keeps kgo.NewClient and sarama's client
// constructors out of production code elsewhere.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Config is how the clients of one process reach Kafka.
type Config struct {
	// Brokers are the seed brokers.
	Brokers []string
	// Security is the TLS and SASL of the clients; nil = the process-wide
	// security (SetDefault) at the time each client is created.
	Security *Security
	// Log receives the Kafka libraries' own logs (through LibraryLogger);
	// nil = none.
	Log *slog.Logger
	// Registerer receives the kprom metrics of every client
	// (kraite_kafka_*, labelled client_id); nil = no client metrics.
	Registerer prometheus.Registerer
}

// Factory builds the Kafka clients of a process (see the package doc). It
// is safe for concurrent use; WithLog and Unmetered return derived
// factories that share the parent's metrics registerer.
type Factory struct {
	brokers []string
	sec     *Security
	log     *slog.Logger
	reg     *registerer // nil = unmetered
}

// New returns the factory of cfg.
func New(cfg Config) *Factory {
	f := &Factory{brokers: slices.Clone(cfg.Brokers), sec: cfg.Security, log: cfg.Log}
	if cfg.Registerer != nil {
		log := cfg.Log
		if log == nil {
			log = slog.Default()
		}
		f.reg = newRegisterer(cfg.Registerer, log)
	}
	return f
}

// ForBrokers is the factory of plain clients of brokers: the process-wide
// security, no library logs, no metrics (tests, one-shot tools).
func ForBrokers(brokers ...string) *Factory { return New(Config{Brokers: brokers}) }

// Brokers returns the seed brokers (a copy).
func (f *Factory) Brokers() []string { return slices.Clone(f.brokers) }

// Security returns the security the factory's clients use now.
func (f *Factory) Security() Security {
	if f.sec != nil {
		return *f.sec
	}
	return DefaultSecurity()
}

// WithLog returns a factory whose clients write the libraries' logs to log
// (a component's logger), sharing f's brokers, security and metrics.
func (f *Factory) WithLog(log *slog.Logger) *Factory {
	g := *f
	g.log = log
	return &g
}

// Unmetered returns a factory whose clients get no kprom metrics: for a
// second client that shares a client ID with a metered one (kprom keys
// its series by client ID).
func (f *Factory) Unmetered() *Factory {
	g := *f
	g.reg = nil
	return &g
}

// Validate reports a factory that cannot build a client.
func (f *Factory) Validate() error {
	switch {
	case f == nil:
		return errors.New("no Kafka client factory (kclient.Factory)")
	case len(f.brokers) == 0:
		return errors.New("the Kafka client factory has no brokers")
	}
	return nil
}

// base are the options every client of f starts from: seeds, security,
// library logger and metrics hooks.
func (f *Factory) base() []kgo.Opt {
	opts := append([]kgo.Opt{kgo.SeedBrokers(f.brokers...)}, f.Security().KgoOpts()...)
	if f.log != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(LibraryLogger(f.log))))
	}
	if f.reg != nil {
		opts = append(opts, kgo.WithHooks(f.reg.hooks()...))
	}
	return opts
}

// Client is a franz-go client with f's seeds, security, logs and metrics
// plus opts: a direct or group consumer, or the client of an admin.
// A client that also produces should come from Producer.
func (f *Factory) Client(opts ...kgo.Opt) (*kgo.Client, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(f.base(), opts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating the Kafka client: %w", err)
	}
	return cl, nil
}

// Producer is Client with the producer options of Kraite (ProducerOpts:
// idempotent, acks=all, goka-compatible partitioning, no linger), then opts
// (a consumer group too, for the sinks and workers that produce).
func (f *Factory) Producer(opts ...kgo.Opt) (*kgo.Client, error) {
	return f.Client(append(producerOpts(), opts...)...)
}

// Checked is Client, connected and authenticated before it is returned
// (Check): an operator command's client, so a refused login is a clear
// error and not a client retrying in the background.
func (f *Factory) Checked(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := f.Client(opts...)
	return f.checked(ctx, cl, err)
}

// TailReader is Checked with kgo.KeepControlRecords: the client ReadTail
// needs, so a partition whose last offset is a transaction marker is read
// to its end (ReadTail hands fn the data records only).
func (f *Factory) TailReader(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	return f.Checked(ctx, append([]kgo.Opt{kgo.KeepControlRecords()}, opts...)...)
}

// CheckedProducer is Producer, checked like Checked.
func (f *Factory) CheckedProducer(ctx context.Context, opts ...kgo.Opt) (*kgo.Client, error) {
	cl, err := f.Producer(opts...)
	return f.checked(ctx, cl, err)
}

// checked returns cl once Check passed, and closes it when it did not.
func (f *Factory) checked(ctx context.Context, cl *kgo.Client, err error) (*kgo.Client, error) {
	if err != nil {
		return nil, err
	}
	if err := f.Check(ctx, cl); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Check is the package's Check with f's security.
func (f *Factory) Check(ctx context.Context, cl *kgo.Client) error {
	return Check(ctx, cl, f.Security())
}

// Explain is the package's Explain with f's security.
func (f *Factory) Explain(err error) error { return Explain(err, f.Security()) }

// Admin is a kadm client on a checked client of its own; its Close closes
// that client.
func (f *Factory) Admin(ctx context.Context, opts ...kgo.Opt) (*kadm.Client, error) {
	cl, err := f.Checked(ctx, opts...)
	if err != nil {
		return nil, err
	}
	return kadm.NewClient(cl), nil
}

// SaramaConfig is the package's SaramaConfig with f's security.
func (f *Factory) SaramaConfig() *sarama.Config { return saramaConfig(f.Security()) }

// SaramaClient is a sarama client of f's seeds and security (a fresh
// SaramaConfig), connected to the cluster: for the metadata a goka
// processor reads before it starts (the partitions of its input), with
// the same client library and settings as the processor's own. The
// caller closes it.
func (f *Factory) SaramaClient() (sarama.Client, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cl, err := sarama.NewClient(f.brokers, f.SaramaConfig())
	if err != nil {
		return nil, fmt.Errorf("creating the sarama client: %w", err)
	}
	return cl, nil
}

// GokaProcessorOptions is the package's GokaProcessorOptions with f's
// security and library logger.
func (f *Factory) GokaProcessorOptions(replication int) []goka.ProcessorOption {
	return gokaProcessorOptions(f.Security(), replication, f.log)
}

// GokaViewOptions is the package's GokaViewOptions with f's security.
func (f *Factory) GokaViewOptions(replication int) []goka.ViewOption {
	return gokaViewOptions(f.Security(), replication)
}

// GokaEmitterOptions is the package's GokaEmitterOptions with f's security.
func (f *Factory) GokaEmitterOptions() []goka.EmitterOption {
	return gokaEmitterOptions(f.Security())
}

// hooks returns the franz-go hooks of ONE new client: its kprom metrics
// (kraite_kafka_*, labelled client_id) on the factory's registerer.
func (r *registerer) hooks() []kgo.Hook {
	return []kgo.Hook{kprom.NewMetrics("kraite_kafka", kprom.Registerer(r), kprom.WithClientLabel(),
		// Records too, not only bytes: records consumed per client and topic.
		kprom.FetchAndProduceDetail(kprom.ByNode, kprom.ByTopic, kprom.Records, kprom.UncompressedBytes))}
}
