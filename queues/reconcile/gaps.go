package reconcile

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// JobOrderSync is the job type of an order sync (sweep or gap backfill).
const JobOrderSync = "order-sync"

// JobDrift is the job type of an unexplained difference between the
// database and the exchange, for an operator or a corrective worker.
const JobDrift = "drift-alert"

// GapPayload is the payload of an order-sync job raised by a gap marker.
type GapPayload struct {
	FromMs int64  `json:"from"`
	ToMs   int64  `json:"to"`
	Reason string `json:"reason,omitempty"`
}

// GapWatcher turns every gap marker on the user-data-stream topic into an
// order-sync job on the priority queue (key = account), so the missing
// window is backfilled from REST. The job ID is derived from the marker's
// position, so a redelivered marker raises the same job.
type GapWatcher struct {
	Kafka  *kclient.Factory // builds the client
	Prefix string
	Group  string // default <prefix>gap-watcher
	Log    *slog.Logger
}

// Run watches until ctx ends; offsets are committed after the jobs are acknowledged.
func (g *GapWatcher) Run(ctx context.Context) error {
	group := g.Group
	if group == "" {
		group = topics.GroupGapWatcher.Name(g.Prefix)
	}
	cl, err := g.Kafka.Producer(
		kgo.ClientID(group),
		kgo.ConsumerGroup(group),
		kgo.SessionTimeout(kclient.GroupSessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.ConsumeTopics(topics.UserDataStream.Name(g.Prefix)),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.BlockRebalanceOnPoll(),
		kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		return fmt.Errorf("creating gap watcher client: %w", err)
	}
	defer cl.CloseAllowingRebalance()
	for {
		fs := cl.PollRecords(ctx, 1000)
		if ctx.Err() != nil {
			return nil
		}
		var jobs []*kgo.Record
		fs.EachRecord(func(r *kgo.Record) {
			if topics.Header(r, topics.HeaderKind) == topics.KindGap {
				if j, err := gapJob(g.Prefix, r); err != nil {
					g.Log.Warn("ignoring a gap marker that does not decode", "partition", r.Partition, "offset", r.Offset, "err", err)
				} else {
					jobs = append(jobs, j)
				}
			}
		})
		if len(jobs) > 0 {
			if err := cl.ProduceSync(ctx, jobs...).FirstErr(); err != nil {
				cl.AllowRebalance()
				return fmt.Errorf("raising gap jobs: %w", err)
			}
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil && ctx.Err() == nil {
			g.Log.Warn("committing gap watcher offsets", "err", err)
		}
		cl.AllowRebalance()
	}
}

func gapJob(prefix string, r *kgo.Record) (*kgo.Record, error) {
	var m topics.GapMarker
	if err := json.Unmarshal(r.Value, &m); err != nil {
		return nil, err
	}
	payload, _ := json.Marshal(GapPayload{FromMs: m.FromMs, ToMs: m.ToMs, Reason: m.Reason})
	job := topics.Job{
		ID:      "gap@" + strconv.Itoa(int(r.Partition)) + ":" + strconv.FormatInt(r.Offset, 10),
		Type:    JobOrderSync,
		Account: m.Account,
		Payload: payload,
	}
	v, _ := json.Marshal(job)
	return &kgo.Record{Topic: topics.Priority.Name(prefix), Key: []byte(m.Account), Value: v}, nil
}

// Since is where a sync for job j starts reading closed orders: the gap's
// start, or lookback before its end when the start is unknown (a producer
// start), or zero for a periodic sweep.
func Since(j topics.Job, lookback time.Duration) time.Time {
	p, ok := gapPayload(j)
	if !ok {
		return time.Time{}
	}
	return gapStart(p, lookback)
}
