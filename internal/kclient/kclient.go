// Package kclient builds every Kafka client of Kraite: franz-go producers,
// consumers and admin clients (Factory, the one place kgo.NewClient is
// called), the sarama configs goka needs, and the reader of a topic's tail
// (ReadTail). It is the only package that touches sarama configuration
// (style-anchors section 4) and the one place where the partitioner is
// chosen.
//
// # One partitioner
//
// goka (through sarama) places a key with FNV-1a 32-bit; franz-go's default
// is murmur2. A franz-go producer that feeds a goka processor must hash like
// sarama or goka's table lookups and joins miss, so every producer built here
// uses kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a)), and every
// goka builder uses sarama's hash partitioner with the same hasher.
// TestPartitionerMatchesGoka pins this.
package kclient

import (
	"context"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/IBM/sarama"
	"github.com/lovoo/goka"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Partitioner is the franz-go partitioner that agrees with goka/sarama.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(kgo.SaramaCompatHasher(fnv32a))
}

func fnv32a(b []byte) uint32 {
	h := fnv.New32a()
	h.Write(b)
	return h.Sum32()
}

// GroupSessionTimeout is the session timeout of the sinks', workers' and
// gap watcher's consumer groups: a member killed without leaving (kill -9,
// a lost box) is noticed and its partitions move after at most this long.
// franz-go's default is 45 s; 10 s (Kafka's default before 3.0) with a 1 s
// heartbeat hands partitions over in seconds while tolerating GC pauses and
// a busy machine.
const GroupSessionTimeout = 10 * time.Second

// ProducerOpts are BaseOpts and the producer options, with the libraries'
// logs to log (nil: none). Production code uses Factory.Producer.
func ProducerOpts(brokers []string, log *slog.Logger) []kgo.Opt {
	opts := append(BaseOpts(brokers), producerOpts()...)
	if log != nil {
		opts = append(opts, kgo.WithLogger(kslog.New(LibraryLogger(log))))
	}
	return opts
}

// producerOpts are the options of every franz-go producer: idempotent,
// acks=all, goka-compatible partitioning, no linger (latency is the point: a
// frame should reach Kafka in a millisecond-class hop; batching still happens
// naturally while a request is in flight), and produce retries without limit
// (a record is never silently dropped; the caller's ctx bounds the wait).
func producerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordPartitioner(Partitioner()),
		kgo.ProducerLinger(0),
		// RecordRetries and RecordDeliveryTimeout stay at their defaults:
		// unlimited retries, no delivery timeout.
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.AllowAutoTopicCreation(),
	}
}

// SaramaConfig returns a fresh sarama config for one goka builder. goka's
// builders write to the config they are given, so never share one.
// The emitter/producer flush is 1 ms instead of goka's 100 ms. It carries
// the process's TLS and SASL (SetDefault).
func SaramaConfig() *sarama.Config { return saramaConfig(DefaultSecurity()) }

func saramaConfig(sec Security) *sarama.Config {
	cfg := goka.DefaultConfig()
	cfg.Version = sarama.V2_1_0_0
	cfg.Producer.Flush.Frequency = time.Millisecond
	cfg.Producer.Flush.Bytes = 64 << 10
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Partitioner = sarama.NewCustomHashPartitioner(fnv.New32a)
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	cfg.Metadata.RefreshFrequency = 10 * time.Second
	sec.ApplySarama(cfg)
	return cfg
}

// GokaProcessorOptions wires a goka processor to brokers with fresh configs
// for every builder and replication 1 for the tables it creates (kfake and
// single-broker dev clusters). Pass replication > 1 in production.
func GokaProcessorOptions(replication int, log *slog.Logger) []goka.ProcessorOption {
	return gokaProcessorOptions(DefaultSecurity(), replication, log)
}

func gokaProcessorOptions(sec Security, replication int, log *slog.Logger) []goka.ProcessorOption {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = replication
	tmc.Stream.Replication = replication
	tmc.CreateTopicTimeout = 10 * time.Second
	opts := []goka.ProcessorOption{
		goka.WithTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(saramaConfig(sec), tmc)),
		goka.WithProducerBuilder(goka.ProducerBuilderWithConfig(saramaConfig(sec))),
		goka.WithConsumerGroupBuilder(goka.ConsumerGroupBuilderWithConfig(saramaConfig(sec))),
		goka.WithConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(saramaConfig(sec))),
		goka.WithHasher(fnv.New32a),
	}
	if log != nil {
		opts = append(opts, goka.WithLogger(slog.NewLogLogger(LibraryLogger(log).Handler(), slog.LevelDebug)))
	}
	return opts
}

// libraryLevel is the least level of the Kafka libraries' own logs.
var libraryLevel = func() *slog.LevelVar {
	var v slog.LevelVar
	v.Set(slog.LevelWarn)
	return &v
}()

// SetLibraryLogLevel sets the least level of the logs franz-go and goka
// (sarama) write through LibraryLogger. The default is WARN: at INFO
// franz-go narrates every connection, metadata refresh and group join (tens
// of lines around a start banner), which an operator cannot act on. The
// command line sets DEBUG when KRAITE_LOG_LEVEL=debug.
func SetLibraryLogLevel(l slog.Level) { libraryLevel.Set(l) }

// LibraryLogger is log for a Kafka library: records below the library level
// (SetLibraryLogLevel) are dropped before they are formatted, and the
// library's own level test (kslog asks the handler) sees the same threshold.
func LibraryLogger(log *slog.Logger) *slog.Logger {
	return slog.New(minLevel{Handler: log.Handler(), min: libraryLevel})
}

// minLevel is a handler that also drops records below min.
type minLevel struct {
	slog.Handler
	min slog.Leveler
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min.Level() && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}

// GokaViewOptions is GokaProcessorOptions for views.
func GokaViewOptions(replication int) []goka.ViewOption {
	return gokaViewOptions(DefaultSecurity(), replication)
}

func gokaViewOptions(sec Security, replication int) []goka.ViewOption {
	tmc := goka.NewTopicManagerConfig()
	tmc.Table.Replication = replication
	tmc.Stream.Replication = replication
	return []goka.ViewOption{
		goka.WithViewTopicManagerBuilder(goka.TopicManagerBuilderWithConfig(saramaConfig(sec), tmc)),
		goka.WithViewConsumerSaramaBuilder(goka.SaramaConsumerBuilderWithConfig(saramaConfig(sec))),
		goka.WithViewHasher(fnv.New32a),
	}
}

// GokaEmitterOptions are the options of a goka emitter: a fresh sarama
// config (with the process's TLS and SASL) and the goka hasher.
func GokaEmitterOptions() []goka.EmitterOption { return gokaEmitterOptions(DefaultSecurity()) }

func gokaEmitterOptions(sec Security) []goka.EmitterOption {
	return []goka.EmitterOption{
		goka.WithEmitterProducerBuilder(goka.ProducerBuilderWithConfig(saramaConfig(sec))),
		goka.WithEmitterHasher(fnv.New32a),
	}
}
