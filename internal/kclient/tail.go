package kclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Tail is where the last records of each partition of a topic are: read
// [From[p], End[p]) for partition p.
type Tail struct {
	Topic string
	From  map[int32]int64
	End   map[int32]int64
}

// Empty reports whether no partition has a record to read.
func (t Tail) Empty() bool {
	for p, e := range t.End {
		if t.From[p] < e {
			return false
		}
	}
	return true
}

// Offsets are the franz-go start offsets of the tail, for
// kgo.ConsumePartitions or AddConsumePartitions; partitions with nothing
// to read are included (a follower starts there).
func (t Tail) Offsets() map[int32]kgo.Offset {
	out := make(map[int32]kgo.Offset, len(t.From))
	for p, o := range t.From {
		out[p] = kgo.NewOffset().At(o)
	}
	return out
}

// TailOffsets finds the last tail records of every partition of topic
// (tail <= 0: from each partition's start) with adm: the start is
// max(log start, end-tail), the end is the end offset now. An unknown
// topic is an error wrapping kerr.UnknownTopicOrPartition; any partition
// whose offsets cannot be listed is an error too, never a partition left
// out silently.
func TailOffsets(ctx context.Context, adm *kadm.Client, topic string, tail int64) (Tail, error) {
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return Tail{}, fmt.Errorf("listing start offsets of %s: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return Tail{}, fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	return tailOf(topic, starts, ends, tail)
}

// tailOf is TailOffsets on listed offsets.
func tailOf(topic string, starts, ends kadm.ListedOffsets, tail int64) (Tail, error) {
	t := Tail{Topic: topic, From: map[int32]int64{}, End: map[int32]int64{}}
	var errs []error
	for p, e := range ends[topic] {
		s, ok := starts[topic][p]
		switch {
		case e.Err != nil:
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w", topic, p, e.Err))
			continue
		case p < 0:
			errs = append(errs, fmt.Errorf("offsets of %s: %w", topic, kerr.UnknownTopicOrPartition))
			continue
		case !ok || s.Err != nil:
			errs = append(errs, fmt.Errorf("start offset of %s/%d: %w", topic, p, errors.Join(s.Err, errIf(!ok, "not listed"))))
			continue
		}
		from := s.Offset
		if tail > 0 {
			from = max(from, e.Offset-tail)
		}
		t.From[p], t.End[p] = from, e.Offset
	}
	if len(ends[topic]) == 0 {
		errs = append(errs, fmt.Errorf("offsets of %s: %w", topic, kerr.UnknownTopicOrPartition))
	}
	if err := errors.Join(errs...); err != nil {
		return Tail{}, err
	}
	return t, nil
}

func errIf(cond bool, msg string) error {
	if cond {
		return errors.New(msg)
	}
	return nil
}

// ErrTailStalled is returned by ReadTail when partitions stopped short of
// the end offsets it listed: no record came for TailIdlePolls polls in a
// row (with a client that does not keep control records, a partition whose
// last offset is a transaction marker never returns it). What was read has
// been handed to fn.
var ErrTailStalled = errors.New("reading a topic's tail: no record came while partitions are short of their end")

// TailIdlePolls is how many polls of TailPollWait without a record end a
// ReadTail that is still short of the end offsets.
const (
	TailIdlePolls = 5
	TailPollWait  = time.Second
)

// ReadTail reads the last tail records of every partition of topic
// (tail <= 0: everything retained), up to the end offsets listed when it
// is called, and hands each record to fn in offset order per partition.
// cl is a direct client (Factory.TailReader) that consumes nothing else
// while ReadTail runs; it may be reused for several topics one after
// another. Control records (transaction markers) count towards the end but
// are not handed to fn; a client without kgo.KeepControlRecords never sees
// them, so a partition ending in one ends in ErrTailStalled.
// ctx bounds the whole read.
func ReadTail(ctx context.Context, cl *kgo.Client, topic string, tail int64, fn func(*kgo.Record)) error {
	t, err := TailOffsets(ctx, kadm.NewClient(cl), topic, tail)
	if err != nil {
		return err
	}
	want := map[int32]int64{}
	from := map[int32]kgo.Offset{}
	for p, e := range t.End {
		if t.From[p] < e {
			want[p] = e
			from[p] = kgo.NewOffset().At(t.From[p])
		}
	}
	if len(want) == 0 {
		return nil
	}
	cl.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: from})
	defer cl.RemoveConsumePartitions(map[string][]int32{topic: slices.Collect(maps.Keys(from))})
	for idle := 0; len(want) > 0; {
		pctx, cancel := context.WithTimeout(ctx, TailPollWait)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %d partitions short of their end: %w", topic, len(want), err)
		}
		n := 0
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := want[r.Partition]
			if r.Topic != topic || !ok || r.Offset >= end {
				return
			}
			n++
			if !r.Attrs.IsControl() {
				fn(r)
			}
			if r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
		if n > 0 {
			idle = 0
			continue
		}
		if idle++; idle >= TailIdlePolls {
			return fmt.Errorf("%w: %s, %d partitions", ErrTailStalled, topic, len(want))
		}
	}
	return nil
}
