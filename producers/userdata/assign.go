package userdata

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// AssignConfig configures an Assigner.
type AssignConfig struct {
	Kafka  *kclient.Factory // builds the group client
	Prefix string           // topic and group prefix (default topics.DefaultPrefix)
	// Group overrides the consumer group (default producer.user-data).
	Group string
	// Exchange: only accounts of this exchange are streamed (default binance).
	Exchange string
	// Source reads the credentials of an account this producer comes to own.
	Source accounts.CredentialSource
	// Grace is how long the sockets of a revoked partition stay open so the
	// new owner connects before they close (make-before-break; default 15s).
	Grace time.Duration
	// Retry is how often accounts whose credentials could not be read are
	// tried again (default 30s).
	Retry time.Duration
	// SessionTimeout of the group (default kclient.GroupSessionTimeout): a
	// producer killed without leaving loses its accounts after this long.
	SessionTimeout time.Duration
	ClientID       string
	Log            *slog.Logger
}

func (c AssignConfig) withDefaults() AssignConfig {
	if c.Prefix == "" {
		c.Prefix = topics.DefaultPrefix
	}
	if c.Group == "" {
		c.Group = topics.GroupUserDataProducer.Name(c.Prefix)
	}
	if c.Exchange == "" {
		c.Exchange = topics.ExchangeBinance
	}
	if c.Grace <= 0 {
		c.Grace = 15 * time.Second
	}
	if c.Retry <= 0 {
		c.Retry = 30 * time.Second
	}
	if c.SessionTimeout <= 0 {
		c.SessionTimeout = kclient.GroupSessionTimeout
	}
	if c.ClientID == "" {
		c.ClientID = c.Group
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return c
}

// Assigner streams the accounts of the kraite.accounts partitions this
// process owns in the user-data producer group. Every producer of every box
// joins the same group (cooperative-sticky balancing), so the accounts are
// spread over the boxes, a box that dies loses its partitions to the others
// after the session timeout, and a new box takes about its share.
//
// An owned partition is read from its start (the topic is compacted: the
// newest change of every account of the partition); once it is caught up,
// its enabled accounts of the configured exchange are streamed through the
// Manager with the credentials of Source. A record that does not decode is
// quarantined and changes nothing; an account whose credentials cannot be
// read stays closed and shows in the Manager's Status with the reason.
//
// Hand-over: a producer giving up a partition (a rebalance, a drain) keeps
// its accounts' sockets open for Grace and records that promise in the
// group's committed offset metadata of the partition; the new owner reads
// it and, when it connects before the promise ends, publishes no gap marker
// (the overlap duplicates some frames in the topic; the sinks are
// idempotent). A producer killed without leaving makes no promise, so the
// new owner publishes a start-up gap marker and the backfill repairs the
// outage.
type Assigner struct {
	cfg   AssignConfig
	mg    *Manager
	topic string
	log   *slog.Logger

	mu         sync.Mutex
	parts      map[int32]*partition    // owned partitions
	releasing  map[string]releasedAcct // accounts of revoked partitions, kept open until their time
	quarantine map[int64]bool          // partition<<40|offset already quarantined by this process
	pendingQ   []*kgo.Record
	dirty      bool

	// Only the Run goroutine touches these.
	creds    map[string]credEntry
	problems map[string]string

	kick chan struct{}
}

type partition struct {
	id       int32
	caughtUp bool
	end      int64 // end offset when assigned (caught up once read past it)
	accounts map[string]accounts.Change
	handOver HandOver // from the previous owner's release, if it is still open
}

type releasedAcct struct {
	acct  Account
	until time.Time
}

type credEntry struct {
	version int64
	acct    Account
	err     error
	at      time.Time
	// retryAt: a record ahead of the table is read again from then; tries
	// counts the reads of the same version so far.
	retryAt time.Time
	tries   int
}

// release is the metadata a producer commits for a partition it gives up.
type release struct {
	By       string `json:"by"`
	Released int64  `json:"released"` // Unix ms
	Until    int64  `json:"until"`    // Unix ms: sockets stay open until then
}

// NewAssigner returns an Assigner feeding mg. mg must be run separately
// (its Run) for as long as the Assigner runs.
func NewAssigner(cfg AssignConfig, mg *Manager) (*Assigner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Kafka.Validate(); err != nil {
		return nil, fmt.Errorf("user-data assigner: %w", err)
	}
	if cfg.Source == nil {
		return nil, errors.New("user-data assigner: no credential source")
	}
	return &Assigner{
		cfg: cfg, mg: mg, topic: topics.Accounts.Name(cfg.Prefix), log: cfg.Log,
		parts: map[int32]*partition{}, releasing: map[string]releasedAcct{}, quarantine: map[int64]bool{},
		creds: map[string]credEntry{}, problems: map[string]string{}, kick: make(chan struct{}, 1),
	}, nil
}

// Run consumes until ctx ends, then leaves the group (its partitions move
// at once), keeps the sockets open for Grace so the new owners connect
// first, and empties the Manager.
func (as *Assigner) Run(ctx context.Context) error {
	cl, err := as.cfg.Kafka.Producer(
		kgo.ClientID(as.cfg.ClientID),
		kgo.ConsumerGroup(as.cfg.Group),
		kgo.ConsumeTopics(as.topic),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.SessionTimeout(as.cfg.SessionTimeout), kgo.HeartbeatInterval(time.Second),
		kgo.DisableAutoCommit(),
		kgo.FetchMaxWait(500*time.Millisecond),
		// Every owned partition is read from its start, whatever was committed
		// (the commits only carry hand-over promises).
		kgo.AdjustFetchOffsetsFn(func(_ context.Context, offs map[string]map[int32]kgo.Offset) (map[string]map[int32]kgo.Offset, error) {
			for _, ps := range offs {
				for p := range ps {
					ps[p] = kgo.NewOffset().AtStart()
				}
			}
			return offs, nil
		}),
		kgo.OnPartitionsAssigned(as.assigned),
		kgo.OnPartitionsRevoked(as.revoked),
		kgo.OnPartitionsLost(as.lost),
	)
	if err != nil {
		return fmt.Errorf("creating the user-data assigner client: %w", err)
	}
	defer func() {
		// Leaving the group revokes every partition (revoked: promises
		// made, accounts kept for Grace); then the sockets close when the
		// promise ends, unless the process is told to stop harder.
		cl.CloseAllowingRebalance()
		as.drain()
	}()

	polled := make(chan kgo.Fetches)
	go func() {
		defer close(polled)
		for {
			fs := cl.PollFetches(ctx)
			if ctx.Err() != nil || fs.IsClientClosed() {
				return
			}
			select {
			case polled <- fs:
			case <-ctx.Done():
				return
			}
		}
	}()
	retry := time.NewTicker(as.cfg.Retry)
	defer retry.Stop()
	expire := time.NewTimer(time.Hour)
	defer expire.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case fs, ok := <-polled:
			if !ok {
				return nil
			}
			fs.EachError(func(t string, p int32, err error) {
				as.log.Warn("reading the accounts topic", "topic", t, "partition", p, "err", err)
			})
			as.handle(fs)
		case <-as.kick:
		case <-retry.C:
			as.retryProblems()
		case <-expire.C:
		}
		as.flushQuarantine(ctx, cl)
		next := as.apply(ctx)
		if !next.IsZero() {
			expire.Reset(max(time.Until(next), 10*time.Millisecond))
		}
	}
}

func (as *Assigner) wake() {
	select {
	case as.kick <- struct{}{}:
	default:
	}
}

// assigned starts reading new partitions from their start and notes the
// previous owner's hand-over promise.
func (as *Assigner) assigned(ctx context.Context, cl *kgo.Client, assigned map[string][]int32) {
	ps := assigned[as.topic]
	if len(ps) == 0 {
		return
	}
	adm := kadm.NewClient(cl)
	ends := map[int32]int64{}
	if lo, err := adm.ListEndOffsets(ctx, as.topic); err == nil {
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				ends[o.Partition] = o.Offset
			}
		})
	} else {
		as.log.Warn("listing the accounts topic's end offsets; partitions count as caught up at their first fetch", "err", err)
	}
	starts := map[int32]int64{}
	if lo, err := adm.ListStartOffsets(ctx, as.topic); err == nil {
		lo.Each(func(o kadm.ListedOffset) {
			if o.Err == nil {
				starts[o.Partition] = o.Offset
			}
		})
	}
	now := time.Now()
	promises := map[int32]HandOver{}
	if offs, err := adm.FetchOffsets(ctx, as.cfg.Group); err == nil {
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic != as.topic || o.Err != nil {
				return
			}
			if h, ok := parseRelease(o.Metadata, now); ok {
				promises[o.Partition] = h
			}
		})
	} else {
		as.log.Warn("reading the hand-over promises; new accounts start with a gap marker", "err", err)
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, p := range ps {
		pt := &partition{id: p, end: -1, accounts: map[string]accounts.Change{}}
		if e, ok := ends[p]; ok {
			pt.end = e
			pt.caughtUp = e <= starts[p]
		}
		pt.handOver = promises[p]
		as.parts[p] = pt
	}
	as.log.Info("accounts partitions assigned", "partitions", ps, "owned", len(as.parts))
	as.dirty = true
	as.wake()
}

// MaxHandOverGrace bounds a hand-over promise read from the group's offset
// metadata: anyone who can commit to the group could write one, and a
// promise suppresses the new owner's gap marker, so a far-future one must
// not hide a real outage.
const MaxHandOverGrace = 5 * time.Minute

// parseRelease decodes the hand-over promise of a partition's committed
// offset metadata; false when there is none, it is malformed, it has ended
// at now, or it is implausible (released in the future, or longer than
// MaxHandOverGrace).
func parseRelease(meta string, now time.Time) (HandOver, bool) {
	if meta == "" || len(meta) > 1024 {
		return HandOver{}, false
	}
	var r release
	if err := json.Unmarshal([]byte(meta), &r); err != nil {
		return HandOver{}, false
	}
	nowMs := now.UnixMilli()
	switch {
	case r.Released <= 0 || r.Until <= nowMs || r.Released > r.Until,
		r.Until-r.Released > MaxHandOverGrace.Milliseconds(),
		r.Released > nowMs+MaxHandOverGrace.Milliseconds(): // clocks differ, but not by minutes
		return HandOver{}, false
	}
	return HandOver{Released: time.UnixMilli(r.Released), Until: time.UnixMilli(r.Until)}, true
}

// revoked gives partitions up cleanly: their accounts stay open for Grace,
// and the promise is committed for the next owner.
func (as *Assigner) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	ps := revoked[as.topic]
	if len(ps) == 0 {
		return
	}
	now := time.Now()
	until := now.Add(as.cfg.Grace)
	meta, _ := json.Marshal(release{By: as.cfg.ClientID, Released: now.UnixMilli(), Until: until.UnixMilli()})
	offs := map[string]map[int32]kgo.EpochOffset{as.topic: {}}
	for _, p := range ps {
		offs[as.topic][p] = kgo.EpochOffset{Epoch: -1, Offset: 0}
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var commitErr error
	cl.CommitOffsetsSync(kgo.PreCommitFnContext(cctx, func(req *kmsg.OffsetCommitRequest) error {
		for i := range req.Topics {
			for j := range req.Topics[i].Partitions {
				m := string(meta)
				req.Topics[i].Partitions[j].Metadata = &m
			}
		}
		return nil
	}), offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, _ *kmsg.OffsetCommitResponse, err error) {
		commitErr = err
	})
	if commitErr != nil {
		as.log.Warn("committing the hand-over promise; the new owner will publish a gap marker", "err", commitErr)
	}
	as.drop(ps, until)
	as.log.Info("accounts partitions revoked; their sockets stay open for the hand-over", "partitions", ps, "until", until.Format(time.RFC3339Nano))
}

// lost drops partitions that were taken away (session expired): another
// producer may already stream them, so nothing is kept.
func (as *Assigner) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	if ps := lost[as.topic]; len(ps) > 0 {
		as.drop(ps, time.Time{})
		as.log.Warn("accounts partitions lost (the group session expired)", "partitions", ps)
	}
}

// drop forgets partitions; with a non-zero until their running accounts
// stay open until then.
func (as *Assigner) drop(ps []int32, until time.Time) {
	running := map[string]Account{}
	if !until.IsZero() {
		for _, s := range as.mg.runningAccounts() {
			running[s.ID] = s
		}
	}
	as.mu.Lock()
	defer as.mu.Unlock()
	for _, p := range ps {
		pt := as.parts[p]
		delete(as.parts, p)
		if pt == nil || until.IsZero() {
			continue
		}
		for id := range pt.accounts {
			if a, ok := running[id]; ok {
				as.releasing[id] = releasedAcct{acct: a, until: until}
			}
		}
	}
	as.dirty = true
	as.wake()
}

// drain waits for the hand-over promises of a leaving producer, then stops
// every account.
func (as *Assigner) drain() {
	as.mu.Lock()
	var last time.Time
	for _, r := range as.releasing {
		if r.until.After(last) {
			last = r.until
		}
	}
	as.mu.Unlock()
	if d := time.Until(last); d > 0 {
		as.log.Info("left the group; keeping the sockets open for the hand-over", "accounts", as.mg.count(), "for", d.Round(time.Millisecond))
		time.Sleep(d)
	}
	as.mg.SetAccounts(nil)
}

// handle applies fetched records to the owned partitions.
func (as *Assigner) handle(fs kgo.Fetches) {
	as.mu.Lock()
	defer as.mu.Unlock()
	fs.EachPartition(func(fp kgo.FetchTopicPartition) {
		if fp.Topic != as.topic {
			return
		}
		pt := as.parts[fp.Partition]
		if pt == nil {
			return // revoked meanwhile
		}
		for _, r := range fp.Records {
			as.dirty = true
			c, removed, err := accounts.DecodeChange(r.Key, r.Value)
			switch {
			case err != nil:
				as.quarantineLocked(r, err)
			case removed:
				delete(pt.accounts, c.ID)
			default:
				// The newest record of a key wins, whatever its version
				// (as compaction keeps it): the version only says whether
				// the record matches the accounts table (credentials). A
				// "higher version wins" rule let one forged record with a
				// huge version hide every later legitimate one (a
				// disable) for good.
				pt.accounts[c.ID] = c
			}
		}
		if n := len(fp.Records); n > 0 && !pt.caughtUp {
			last := fp.Records[n-1].Offset
			if (pt.end >= 0 && last+1 >= pt.end) || (pt.end < 0 && last+1 >= fp.HighWatermark) {
				pt.caughtUp = true
				as.dirty = true
			}
		}
	})
}

func (as *Assigner) quarantineLocked(r *kgo.Record, cause error) {
	k := int64(r.Partition)<<40 | r.Offset
	if as.quarantine[k] {
		return
	}
	as.quarantine[k] = true
	q, err := topics.NewQuarantine(topics.QuarantineSourceOf(r), as.cfg.Group, cause, time.Now().UnixMilli()).Record(as.cfg.Prefix)
	if err != nil {
		as.log.Error("encoding a quarantine record", "err", err)
		return
	}
	as.log.Warn("quarantined a kraite.accounts record; it changes nothing", "partition", r.Partition, "offset", r.Offset, "err", cause)
	as.pendingQ = append(as.pendingQ, q)
}

func (as *Assigner) flushQuarantine(ctx context.Context, cl *kgo.Client) {
	as.mu.Lock()
	recs := as.pendingQ
	as.pendingQ = nil
	as.mu.Unlock()
	if len(recs) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(pctx, recs...).FirstErr(); err != nil {
		as.log.Error("producing quarantine records of the accounts topic", "records", len(recs), "err", err)
	}
}

func (as *Assigner) retryProblems() {
	for id, e := range as.creds {
		if e.err != nil && e.retryAt.IsZero() { // a record ahead of the table has its own schedule
			delete(as.creds, id)
			as.dirty = true
		}
	}
}

// apply computes the desired accounts and hands them to the Manager. It
// returns when it must run again (the earliest hand-over end or re-read of
// a record ahead of the table), or zero.
func (as *Assigner) apply(ctx context.Context) time.Time {
	now := time.Now()
	reread := as.nextRetry() // as.creds is Run's own: no lock
	as.mu.Lock()
	if !reread.IsZero() && !now.Before(reread) {
		as.dirty = true
	}
	var next time.Time
	for id, r := range as.releasing {
		if !now.Before(r.until) {
			delete(as.releasing, id)
			as.dirty = true
		} else if next.IsZero() || r.until.Before(next) {
			next = r.until
		}
	}
	if !as.dirty {
		as.mu.Unlock()
		return earliest(next, reread)
	}
	as.dirty = false
	type want struct {
		c  accounts.Change
		ho HandOver
	}
	wanted := map[string]want{}
	closed := map[string]string{}
	for _, pt := range as.parts {
		if !pt.caughtUp {
			continue
		}
		for id, c := range pt.accounts {
			switch {
			case c.Exchange != as.cfg.Exchange:
			case c.Enabled:
				wanted[id] = want{c: c, ho: pt.handOver}
			default:
				closed[id] = fmt.Sprintf("disabled (kraite.accounts version %d)", c.Version)
			}
		}
	}
	releasing := maps.Clone(as.releasing)
	as.mu.Unlock()

	// The cache holds the accounts wanted now only: an account given up or
	// disabled is read again when it comes back.
	for id := range as.creds {
		if _, ok := wanted[id]; !ok {
			delete(as.creds, id)
		}
	}
	problems := map[string]string{}
	var out []Account
	for id, w := range wanted {
		a, err := as.credentials(ctx, w.c)
		if err != nil {
			problems[id] = err.Error()
			continue
		}
		a.HandOver = w.ho
		out = append(out, a)
		delete(releasing, id)
	}
	for _, r := range releasing {
		out = append(out, r.acct)
	}
	for id, why := range problems {
		if as.problems[id] != why {
			as.log.Warn("account not streamed", "account", id, "reason", why)
		}
	}
	as.problems = problems
	as.mg.SetProblems(problems)
	as.mg.SetClosed(closed)
	as.mg.SetAccounts(out)
	return earliest(next, as.nextRetry())
}

// nextRetry is the earliest time a record ahead of the table is read again
// (zero: none).
func (as *Assigner) nextRetry() time.Time {
	var next time.Time
	for _, e := range as.creds {
		next = earliest(next, e.retryAt)
	}
	return next
}

// earliest is the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// ErrVersionAhead marks an account whose kraite.accounts record carries a
// version the accounts table does not have (yet).
var ErrVersionAhead = errors.New("the kraite.accounts record is ahead of the accounts table")

// aheadRetry is the first wait before a record ahead of the table is read
// again; it doubles up to AssignConfig.Retry.
const aheadRetry = 500 * time.Millisecond

// credentials returns the account to stream for change c, reading the
// credentials once per version.
//
// The topic is a notice, the table the truth: a record behind the table (a
// newer change not yet published) streams the table's state; a record
// AHEAD of the table streams nothing. Only the table's writers publish, and
// they publish after the commit, so such a record is forged (a huge
// version must not pin an account open, or hide its later records), or its
// commit is not yet visible to this reader (a lagging replica): it is read
// again after aheadRetry, doubling up to Retry, and streams once the table
// has caught up, or when a record matching the table arrives (the next
// change, or kraite accounts publish --all).
func (as *Assigner) credentials(ctx context.Context, c accounts.Change) (Account, error) {
	now := time.Now()
	prev, cached := as.creds[c.ID]
	if cached && prev.version == c.Version && (prev.retryAt.IsZero() || now.Before(prev.retryAt)) {
		return prev.acct, prev.err
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cr, err := as.cfg.Source.Credentials(cctx, c.ID)
	var a Account
	switch {
	case errors.Is(err, accounts.ErrNotFound):
		err = fmt.Errorf("account %s is on the accounts topic but not in the accounts table", c.ID)
	case err != nil:
		err = fmt.Errorf("reading the credentials of account %s: %w", c.ID, err)
	case cr.ID != c.ID:
		err = fmt.Errorf("the credential source returned account %q for %q", cr.ID, c.ID)
	case cr.Exchange != c.Exchange:
		err = fmt.Errorf("account %s is on %q in the accounts table but on %q on the topic", c.ID, cr.Exchange, c.Exchange)
	case c.Version > cr.Version:
		err = fmt.Errorf("account %s: %w: version %d on the topic, %d in the table; not streamed (a forged record, or a change not yet visible in the database: read again shortly; kraite accounts publish --all republishes the table)",
			c.ID, ErrVersionAhead, c.Version, cr.Version)
	case !cr.Enabled:
		err = fmt.Errorf("account %s is disabled in the accounts table (version %d) but enabled on the topic (version %d)", c.ID, cr.Version, c.Version)
	case cr.APIKey == "" || cr.APISecret == "":
		err = fmt.Errorf("account %s has no API key or secret", c.ID)
	default:
		a = Account{ID: c.ID, APIKey: cr.APIKey, APISecret: cr.APISecret, Version: cr.Version}
	}
	if ctx.Err() != nil {
		return a, err // stopping: do not cache a cancelled read
	}
	e := credEntry{version: c.Version, acct: a, err: err, at: now}
	if errors.Is(err, ErrVersionAhead) {
		if cached && prev.version == c.Version {
			e.tries = prev.tries + 1
		}
		e.retryAt = now.Add(backoff.Policy{Base: aheadRetry, Cap: as.cfg.Retry}.Delay(e.tries))
	}
	as.creds[c.ID] = e
	return a, err
}

// AssignStatus is what an Assigner owns.
type AssignStatus struct {
	Partitions []int32
	CaughtUp   int // owned partitions read up to their end
	Accounts   int // enabled accounts of owned partitions
	Releasing  int // accounts kept open for a hand-over
	Problems   map[string]string
}

// Status reports the owned partitions and accounts.
func (as *Assigner) Status() AssignStatus {
	as.mu.Lock()
	defer as.mu.Unlock()
	st := AssignStatus{Releasing: len(as.releasing), Problems: map[string]string{}}
	for p, pt := range as.parts {
		st.Partitions = append(st.Partitions, p)
		if pt.caughtUp {
			st.CaughtUp++
		}
		for _, c := range pt.accounts {
			if c.Enabled && c.Exchange == as.cfg.Exchange {
				st.Accounts++
			}
		}
	}
	slices.Sort(st.Partitions)
	for _, s := range as.mg.Status() {
		if s.Problem != "" {
			st.Problems[s.ID] = s.Problem
		}
	}
	return st
}

// String is a one-line summary for logs.
func (st AssignStatus) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "partitions=%v caught_up=%d accounts=%d releasing=%d problems=%d", st.Partitions, st.CaughtUp, st.Accounts, st.Releasing, len(st.Problems))
	return b.String()
}

// RunAssigned runs as and mg together: mg outlives ctx by the hand-over
// (as empties it before returning), so a stopping box keeps its sockets
// open until the new owners have connected.
func RunAssigned(ctx context.Context, as *Assigner, mg *Manager) error {
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- mg.Run(mctx) }()
	err := as.Run(ctx)
	cancel()
	return errors.Join(err, <-done)
}
