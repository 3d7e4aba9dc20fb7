package kclient

import (
	"fmt"
	"hash/fnv"
	"testing"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestPartitionerMatchesGoka pins DESIGN.md's "one partitioner" rule: for
// 20,000 keys and every partition count Kraite uses, the franz-go producer
// partitioner picks the same partition as goka's sarama hash partitioner.
func TestPartitionerMatchesGoka(t *testing.T) {
	for _, n := range []int32{1, 3, 6, 12} {
		fp := Partitioner().ForTopic("t")
		sp := sarama.NewCustomHashPartitioner(fnv.New32a)("t")
		for i := range 20000 {
			key := fmt.Sprintf("acct-%d", i)
			if i%7 == 0 {
				key = fmt.Sprintf("账户-%d", i) // non-ASCII keys too
			}
			want, err := sp.Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
			if err != nil {
				t.Fatal(err)
			}
			got := fp.Partition(&kgo.Record{Key: []byte(key)}, int(n))
			if int32(got) != want {
				t.Fatalf("key %q with %d partitions: franz-go %d, goka %d", key, n, got, want)
			}
		}
	}
}
