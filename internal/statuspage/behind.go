package statuspage

import (
	"sort"
	"time"

	"github.com/kraite/stream/internal/groupadmin"
)

// Time behind: how old the oldest record a group has yet to consume is,
// estimated without reading any record. Every lag refresh gives each
// partition's end offset; the page keeps when each end offset was first
// seen (one sample per endEvery, an hour at most). The first record past a
// group's commit was written no later than the first sample whose end is
// past the commit, so now minus that sample's time is how long the group
// has been behind at least (to within endEvery). When even the oldest
// sample is past the commit, the group is behind by more than the page has
// seen (AtLeast).

const (
	endEvery   = 10 * time.Second
	endSamples = int(time.Hour / endEvery)
)

type topicPart struct {
	topic     string
	partition int32
}

type endSample struct {
	atMs int64
	end  int64
}

// trackEnds records each partition's end offset. s.mu is held.
func (s *state) trackEnds(gs []groupadmin.GroupStatus, now time.Time) {
	seen := map[topicPart]bool{}
	for _, g := range gs {
		for _, p := range g.Partitions {
			tp := topicPart{p.Topic, p.Partition}
			if seen[tp] || p.End < 0 {
				continue
			}
			seen[tp] = true
			h := s.ends[tp]
			n := len(h)
			switch {
			case n > 0 && p.End < h[n-1].end: // the topic was recreated: start over
				h = nil
			case n > 0 && p.End == h[n-1].end:
				continue
			case n > 0 && now.UnixMilli()-h[n-1].atMs < endEvery.Milliseconds():
				continue // the next sample will hold this end too
			}
			h = append(h, endSample{atMs: now.UnixMilli(), end: p.End})
			if len(h) > endSamples {
				h = append(h[:0], h[len(h)-endSamples:]...)
			}
			s.ends[tp] = h
		}
	}
	for tp := range s.ends {
		if !seen[tp] {
			delete(s.ends, tp)
		}
	}
}

// behind is how long a group committed at committed has been behind on the
// partition, and whether that is only a lower bound (older than the page's
// samples); ok is false when it is not behind or nothing is known.
func (s *state) behind(topic string, partition int32, committed, end int64, now time.Time) (d time.Duration, atLeast, ok bool) {
	if committed < 0 || end <= committed {
		return 0, false, false
	}
	h := s.ends[topicPart{topic, partition}]
	if len(h) == 0 {
		return 0, false, false
	}
	i := sort.Search(len(h), func(i int) bool { return h[i].end > committed })
	if i == len(h) { // the samples have not caught up with this end yet
		i = len(h) - 1
	}
	return now.Sub(time.UnixMilli(h[i].atMs)), i == 0, true
}
