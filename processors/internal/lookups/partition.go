package lookups

import (
	"fmt"
	"hash/fnv"

	"github.com/kraite/stream/internal/kclient"
)

// KeyPartition is the partition of key among n partitions as goka (sarama's
// hash partitioner with FNV-1a 32) and every Kraite producer
// (kclient.Partitioner) place it: int32(fnv32a(key)) % n, negated when
// negative. A record found elsewhere was written by a producer with another
// partitioner (franz-go's murmur2 default, a hand-made kcat), and breaks
// the per-key ordering the processors rely on. TestKeyPartitionMatches
// pins it against both.
func KeyPartition(key []byte, n int32) int32 {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write(key)
	p := int32(h.Sum32()) % n
	if p < 0 {
		p = -p
	}
	return p
}

// TopicPartitions asks the cluster how many partitions topic has, on a
// client of kafka (its seeds and security).
func TopicPartitions(kafka *kclient.Factory, topic string) (int32, error) {
	cl, err := kafka.SaramaClient()
	if err != nil {
		return 0, fmt.Errorf("connecting to read the partitions of %s: %w", topic, err)
	}
	defer cl.Close()
	ps, err := cl.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("reading the partitions of %s: %w", topic, err)
	}
	if len(ps) == 0 {
		return 0, fmt.Errorf("topic %s has no partitions", topic)
	}
	return int32(len(ps)), nil
}
