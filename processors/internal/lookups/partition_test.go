package lookups

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// KeyPartition agrees with sarama's hash partitioner (goka) and with the
// franz-go partitioner every Kraite producer uses, for many keys and
// partition counts.
func TestKeyPartitionMatches(t *testing.T) {
	sp := sarama.NewCustomHashPartitioner(fnv.New32a)
	for _, n := range []int32{1, 2, 3, 12, 24, 100} {
		part := sp("t")
		kp := kclient.Partitioner().ForTopic("t")
		for i := range 5000 {
			key := []byte(fmt.Sprintf("acct-%04d", i))
			want, err := part.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			if got := KeyPartition(key, n); got != want {
				t.Fatalf("KeyPartition(%s, %d) = %d, sarama %d", key, n, got, want)
			}
			if got := int32(kp.Partition(&kgo.Record{Key: key}, int(n))); got != want {
				t.Fatalf("kclient partitioner(%s, %d) = %d, sarama %d", key, n, got, want)
			}
		}
	}
}

// TopicPartitions reads the partition count on a client of the factory it
// is given, and refuses to build one without a factory.
func TestTopicPartitionsReadsTheClusterThroughTheFactory(t *testing.T) {
	b := testkit.Broker(t, "kraite.")
	n, err := TopicPartitions(kclient.ForBrokers(b.Addr()), topics.UserDataStream.Name("kraite."))
	if err != nil || n != topics.UserDataStream.Partitions {
		t.Fatalf("TopicPartitions = %d, %v; want %d", n, err, topics.UserDataStream.Partitions)
	}
	if _, err := TopicPartitions(nil, topics.UserDataStream.Name("kraite.")); err == nil {
		t.Fatal("TopicPartitions without a factory read a count")
	}
}
