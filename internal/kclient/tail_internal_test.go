package kclient

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func TestTailStartsTailRecordsBeforeTheEnd(t *testing.T) {
	lo := func(p int32, o int64) kadm.ListedOffset {
		return kadm.ListedOffset{Topic: "t", Partition: p, Offset: o}
	}
	ends := kadm.ListedOffsets{"t": {0: lo(0, 100), 1: lo(1, 3)}}
	starts := kadm.ListedOffsets{"t": {0: lo(0, 10), 1: lo(1, 0)}}
	got, err := tailOf("t", starts, ends, 20)
	if err != nil || got.From[0] != 80 || got.From[1] != 0 || got.End[0] != 100 || got.End[1] != 3 || got.Empty() {
		t.Fatalf("tail 20: %+v %v", got, err)
	}
	got, err = tailOf("t", starts, ends, 0)
	if err != nil || got.From[0] != 10 {
		t.Fatalf("from the start: %+v %v", got, err)
	}
	empty := kadm.ListedOffsets{"t": {0: lo(0, 7)}}
	if got, err := tailOf("t", empty, empty, 3); err != nil || !got.Empty() {
		t.Fatalf("nothing retained: %+v %v", got, err)
	}
	missing := kadm.ListedOffsets{"t": {-1: {Topic: "t", Partition: -1, Err: kerr.UnknownTopicOrPartition}}}
	if _, err := tailOf("t", missing, missing, 5); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("missing topic: %v", err)
	}
	if _, err := tailOf("t", kadm.ListedOffsets{}, kadm.ListedOffsets{}, 5); !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("no partitions: %v", err)
	}
	failed := kadm.ListedOffsets{"t": {0: lo(0, 100), 1: {Topic: "t", Partition: 1, Err: fmt.Errorf("leader gone")}}}
	if _, err := tailOf("t", starts, failed, 5); err == nil {
		t.Fatal("a partition whose end is unknown was left out silently")
	}
	if _, err := tailOf("t", kadm.ListedOffsets{"t": {0: lo(0, 0)}}, ends, 5); err == nil {
		t.Fatal("a partition whose start is unknown was left out silently")
	}
}
