package consume

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// committer commits offsets off the write loop (the default cycle; see
// Config.SyncCycle for the previous one).
//
// The loop marks a batch's offsets (mark) only after the handler returned,
// that is after the database commit, and kicks the committer, which commits
// the newest marked offset of every partition in its own goroutine while
// the loop polls and writes the next batch. So a committed offset is never
// ahead of the database. Offsets only move forward: a mark below the
// partition's newest mark is ignored, and a commit sends only partitions
// whose mark is past what was last committed. A failed commit is retried
// after retryEvery, or sooner by the next batch's kick, which commits the
// newer offsets and so supersedes it.
//
// commitMu serializes commits with revokes: a revoke waits for a commit in
// flight, commits the revoked partitions' marks synchronously and forgets
// them, so no commit for a partition is sent after it moved to another
// member (whose own commits it could otherwise move backwards). Losing
// partitions (a missed session) forgets them without a commit; what they
// had not committed is replayed by the new owner, which the sinks'
// idempotent writes absorb.
type committer struct {
	cl         *kgo.Client
	log        *slog.Logger
	group      string
	retryEvery time.Duration
	kick       chan struct{}

	commitMu sync.Mutex // one commit or revoke at a time

	mu        sync.Mutex // guards marked and committed; never held over I/O
	marked    map[string]map[int32]kgo.EpochOffset
	committed map[string]map[int32]int64

	commits, failures atomic.Int64
	// testBeforeCommit, when set, sees every commit before it is sent; an
	// error fails that commit as the broker would.
	testBeforeCommit func(map[string]map[int32]kgo.EpochOffset) error
}

func newCommitter(cl *kgo.Client, log *slog.Logger, group string, retryEvery time.Duration) *committer {
	return &committer{cl: cl, log: log, group: group, retryEvery: retryEvery, kick: make(chan struct{}, 1),
		marked: map[string]map[int32]kgo.EpochOffset{}, committed: map[string]map[int32]int64{}}
}

// mark records that recs are in the database and wakes the committer.
func (c *committer) mark(recs []*kgo.Record) {
	c.mu.Lock()
	for _, r := range recs {
		ps := c.marked[r.Topic]
		if ps == nil {
			ps = map[int32]kgo.EpochOffset{}
			c.marked[r.Topic] = ps
		}
		if cur, ok := ps[r.Partition]; !ok || r.Offset+1 > cur.Offset {
			ps[r.Partition] = kgo.EpochOffset{Epoch: r.LeaderEpoch, Offset: r.Offset + 1}
		}
	}
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default: // a commit is already due; it will take these offsets too
	}
}

// run commits whenever kicked (and retries a failed commit) until ctx ends.
func (c *committer) run(ctx context.Context) {
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.kick:
		case <-retry:
		}
		retry = nil
		if err := c.commit(ctx, nil); err != nil && ctx.Err() == nil {
			c.log.Warn("committing offsets asynchronously; retrying", "group", c.group, "err", err)
			retry = time.After(c.retryEvery)
		}
	}
}

// commit sends the marks past the last commit, of the partitions only when
// only is not nil, and waits for the answer.
func (c *committer) commit(ctx context.Context, only map[string][]int32) error {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	return c.commitLocked(ctx, only)
}

func (c *committer) commitLocked(ctx context.Context, only map[string][]int32) error {
	due := c.due(only)
	if len(due) == 0 {
		return nil
	}
	if c.testBeforeCommit != nil {
		if err := c.testBeforeCommit(due); err != nil {
			c.failures.Add(1)
			return err
		}
	}
	var rerr error
	c.cl.CommitOffsetsSync(ctx, due, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			rerr = err
			return
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					rerr = fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err)
					continue
				}
				eo, ok := due[t.Topic][p.Partition]
				if !ok {
					continue
				}
				ps := c.committed[t.Topic]
				if ps == nil {
					ps = map[int32]int64{}
					c.committed[t.Topic] = ps
				}
				ps[p.Partition] = max(ps[p.Partition], eo.Offset)
			}
		}
	})
	if rerr != nil {
		c.failures.Add(1)
		return rerr
	}
	c.commits.Add(1)
	return nil
}

// due is what commit sends: every marked offset past the committed one.
func (c *committer) due(only map[string][]int32) map[string]map[int32]kgo.EpochOffset {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[int32]kgo.EpochOffset{}
	add := func(topic string, p int32, eo kgo.EpochOffset) {
		if done, ok := c.committed[topic][p]; ok && done >= eo.Offset {
			return
		}
		if out[topic] == nil {
			out[topic] = map[int32]kgo.EpochOffset{}
		}
		out[topic][p] = eo
	}
	if only == nil {
		for topic, ps := range c.marked {
			for p, eo := range ps {
				add(topic, p, eo)
			}
		}
		return out
	}
	for topic, ps := range only {
		for _, p := range ps {
			if eo, ok := c.marked[topic][p]; ok {
				add(topic, p, eo)
			}
		}
	}
	return out
}

// revoked commits the marks of the partitions leaving this member (after a
// commit in flight), then forgets them. It runs in the client's revoke
// callback, which the client holds back while a batch is being written.
func (c *committer) revoked(ctx context.Context, parts map[string][]int32) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	if err := c.commitLocked(ctx, parts); err != nil {
		c.log.Warn("committing offsets of revoked partitions; the new owner replays from the last commit", "group", c.group, "err", err)
	}
	c.forget(parts)
}

// lost forgets partitions taken away without a revoke (a missed session):
// committing them now could move the new owner's offsets backwards.
func (c *committer) lost(parts map[string][]int32) {
	c.commitMu.Lock()
	defer c.commitMu.Unlock()
	c.forget(parts)
}

func (c *committer) forget(parts map[string][]int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for topic, ps := range parts {
		for _, p := range ps {
			delete(c.marked[topic], p)
			delete(c.committed[topic], p)
		}
	}
}
