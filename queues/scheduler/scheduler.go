package scheduler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// Config configures a Scheduler replica.
type Config struct {
	// Kafka builds the clients.
	Kafka  *kclient.Factory
	Prefix string // topic prefix (default topics.DefaultPrefix)
	// Group is the election group (default <prefix>scheduler).
	Group     string
	Schedules []Schedule
	// Accounts lists the accounts of PerAccount schedules at firing time.
	Accounts func() []string
	// SessionTimeout bounds how long a crashed leader keeps the lease
	// (default 6s, the broker minimum of kfake and Kafka's usual floor).
	SessionTimeout time.Duration
	// ID names this replica in the lease record (default: a random suffix).
	ID  string
	Now func() time.Time // default time.Now
}

// Validate names every problem.
func (c Config) Validate() error {
	var errs []error
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(c.Schedules) == 0 {
		errs = append(errs, errors.New("no schedules"))
	}
	seen := map[string]bool{}
	for _, s := range c.Schedules {
		if err := s.Validate(); err != nil {
			errs = append(errs, err)
		}
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("schedule %s declared twice", s.Name))
		}
		seen[s.Name] = true
		if s.PerAccount && c.Accounts == nil {
			errs = append(errs, fmt.Errorf("schedule %s is per account but no account source is set", s.Name))
		}
	}
	return errors.Join(errs...)
}

// Lease is the value the leader writes on the lease topic after every
// firing round: who leads, and the last slot fired per schedule, from which
// the next leader catches up.
type Lease struct {
	Leader  string           `json:"leader"`
	SinceMs int64            `json:"since"`
	AtMs    int64            `json:"at"`
	Fired   map[string]int64 `json:"fired,omitempty"` // schedule -> last slot fired (ms)
}

// maxCatchUp bounds how many missed slots of one schedule a new leader fires.
const maxCatchUp = 100

// Scheduler is one replica; at most one replica of a group fires.
type Scheduler struct {
	cfg Config
	log *slog.Logger

	leader atomic.Bool
	fired  atomic.Int64
	mu     sync.Mutex
	stop   func() // stops the firing loop; nil when not leading
}

// New validates cfg.
func New(cfg Config, log *slog.Logger) (*Scheduler, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = topics.DefaultPrefix
	}
	if cfg.Group == "" {
		cfg.Group = topics.GroupScheduler.Name(cfg.Prefix)
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 6 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.ID == "" {
		cfg.ID = fmt.Sprintf("scheduler-%d", time.Now().UnixNano()%1_000_000)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("scheduler config: %w", err)
	}
	scheds := make([]Schedule, len(cfg.Schedules))
	for i, sc := range cfg.Schedules {
		scheds[i] = sc.expanded()
	}
	cfg.Schedules = scheds
	return &Scheduler{cfg: cfg, log: log}, nil
}

// Leader reports whether this replica fires now.
func (s *Scheduler) Leader() bool { return s.leader.Load() }

// Fired counts jobs published by this replica.
func (s *Scheduler) Fired() int64 { return s.fired.Load() }

// Run takes part in the election until ctx ends; while leading it fires.
// On return it has left the group (handing over at once) and flushed.
func (s *Scheduler) Run(ctx context.Context) error {
	// The election client is metered; the job producer shares its client
	// ID, under which kprom keeps one client's series only.
	prod, err := s.cfg.Kafka.Unmetered().Producer(kgo.ClientID(s.cfg.ID))
	if err != nil {
		return fmt.Errorf("creating scheduler producer: %w", err)
	}
	defer prod.Close()
	lease := topics.SchedulerLease.Name(s.cfg.Prefix)
	grp, err := s.cfg.Kafka.Client(
		kgo.ClientID(s.cfg.ID),
		kgo.ConsumerGroup(s.cfg.Group),
		kgo.ConsumeTopics(lease),
		kgo.SessionTimeout(s.cfg.SessionTimeout),
		kgo.HeartbeatInterval(s.cfg.SessionTimeout/6),
		kgo.DisableAutoCommit(),
		// The leader keeps partition 0 while other replicas join.
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
			if len(a[lease]) > 0 {
				s.lead(ctx, prod, lease)
			}
		}),
		// Cooperative rebalances call these with whatever moved (often
		// nothing); only losing the lease partition ends leadership.
		kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, r map[string][]int32) {
			if len(r[lease]) > 0 {
				s.stepDown(prod)
			}
		}),
		kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, l map[string][]int32) {
			if len(l[lease]) > 0 {
				s.stepDown(prod)
			}
		}),
	)
	if err != nil {
		return fmt.Errorf("creating scheduler group client: %w", err)
	}
	for ctx.Err() == nil {
		fs := grp.PollFetches(ctx) // keeps the callbacks running; lease records are not needed
		fs.EachError(func(t string, p int32, err error) {
			if ctx.Err() == nil {
				s.log.Warn("polling the scheduler lease", "topic", t, "partition", p, "err", err)
			}
		})
	}
	s.stepDown(prod)
	grp.Close() // leaves the group: the next replica leads at once
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return prod.Flush(fctx)
}

func (s *Scheduler) lead(ctx context.Context, prod *kgo.Client, lease string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop != nil {
		return
	}
	fctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	since := s.cfg.Now()
	go func() {
		defer close(done)
		s.fire(fctx, prod, lease, since)
	}()
	s.stop = func() { cancel(); <-done }
	s.leader.Store(true)
	s.log.Info("scheduler leadership acquired", "id", s.cfg.ID)
}

func (s *Scheduler) stepDown(prod *kgo.Client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stop == nil {
		return
	}
	s.stop()
	s.stop = nil
	s.leader.Store(false)
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = prod.Flush(fctx) // jobs of this term are acknowledged before another replica leads
	s.log.Info("scheduler leadership released", "id", s.cfg.ID)
}

// fire runs the schedules until ctx ends. A new leader first catches up:
// from the last lease record it learns the last slot the previous leader
// fired per schedule and fires every slot after it up to the current one
// (at most maxCatchUp); without a lease it fires the current slot. The
// previous leader may have fired some of these already; the job IDs make
// the repeats harmless. Then each slot fires at its jittered time. Slots
// missed while this process was stalled are coalesced into the latest one.
func (s *Scheduler) fire(ctx context.Context, prod *kgo.Client, lease string, since time.Time) {
	fired := map[string]int64{}
	last, err := lastLease(ctx, s.cfg.Kafka, lease)
	if err != nil {
		s.log.Warn("reading the previous lease; firing the current slots only", "err", err)
	}
	next := make([]time.Time, len(s.cfg.Schedules))
	now := s.cfg.Now()
	for i, sc := range s.cfg.Schedules {
		cur := sc.Slot(now)
		next[i] = cur
		if ms, ok := last.Fired[sc.Name]; ok {
			next[i] = maxTime(time.UnixMilli(ms).Add(sc.Every), cur.Add(-maxCatchUp*sc.Every))
		}
		for ; !next[i].After(cur) && !sc.FireAt(next[i]).After(now); next[i] = next[i].Add(sc.Every) {
			s.publish(ctx, prod, sc, next[i])
			fired[sc.Name] = next[i].UnixMilli()
		}
	}
	s.writeLease(ctx, prod, lease, since, fired)
	leaseTick := time.NewTicker(5 * time.Second)
	defer leaseTick.Stop()
	for {
		var due time.Time
		for i, sc := range s.cfg.Schedules {
			if at := sc.FireAt(next[i]); i == 0 || at.Before(due) {
				due = at
			}
		}
		t := time.NewTimer(max(due.Sub(s.cfg.Now()), 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-leaseTick.C:
			t.Stop()
			s.writeLease(ctx, prod, lease, since, fired)
			continue
		case <-t.C:
		}
		now := s.cfg.Now()
		for i, sc := range s.cfg.Schedules {
			if sc.FireAt(next[i]).After(now) {
				continue
			}
			slot := sc.Slot(now) // coalesce missed slots into the latest due one
			if sc.FireAt(slot).After(now) {
				slot = slot.Add(-sc.Every)
			}
			slot = maxTime(slot, next[i])
			s.publish(ctx, prod, sc, slot)
			fired[sc.Name] = slot.UnixMilli()
			next[i] = slot.Add(sc.Every)
		}
		s.writeLease(ctx, prod, lease, since, fired)
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

func (s *Scheduler) publish(ctx context.Context, prod *kgo.Client, sc Schedule, slot time.Time) {
	accounts := []string{""}
	if sc.PerAccount {
		accounts = s.cfg.Accounts()
	}
	topic := sc.Queue.Name(s.cfg.Prefix)
	for _, acct := range accounts {
		if !sc.Fires(acct, slot) {
			continue
		}
		key := sc.Name
		if acct != "" {
			key = acct
		}
		v, _ := json.Marshal(topics.Job{ID: JobID(sc.Name, slot, acct), Type: sc.Name, Account: acct, ScheduledMs: slot.UnixMilli()})
		s.fired.Add(1)
		prod.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: topic, Key: []byte(key), Value: v}, func(r *kgo.Record, err error) {
			if err != nil {
				s.log.Error("publishing scheduled job failed", "topic", r.Topic, "job", string(r.Value), "err", err)
			}
		})
	}
}

func (s *Scheduler) writeLease(ctx context.Context, prod *kgo.Client, lease string, since time.Time, fired map[string]int64) {
	v, _ := json.Marshal(Lease{Leader: s.cfg.ID, SinceMs: since.UnixMilli(), AtMs: s.cfg.Now().UnixMilli(), Fired: fired})
	prod.Produce(context.WithoutCancel(ctx), &kgo.Record{Topic: lease, Key: []byte(s.cfg.Group), Value: v}, nil)
}

// lastLease reads the newest record of the lease topic (zero Lease if
// none, or if it does not decode).
func lastLease(ctx context.Context, kf *kclient.Factory, lease string) (Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	rd, err := kf.Unmetered().Client(kgo.KeepControlRecords())
	if err != nil {
		return Lease{}, fmt.Errorf("reading the lease: %w", err)
	}
	defer rd.Close()
	var l Lease
	err = kclient.ReadTail(ctx, rd, lease, 1, func(r *kgo.Record) {
		if r.Partition != 0 {
			return
		}
		l = Lease{}
		if json.Unmarshal(r.Value, &l) != nil {
			l = Lease{}
		}
	})
	if err != nil {
		return Lease{}, fmt.Errorf("reading the lease: %w", err)
	}
	return l, nil
}
