package chaos

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	auditsink "github.com/kraite/stream/sinks/audit"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/harness/hostile"
	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rig is everything the faults act on and the probes read.
type rig struct {
	log        *slog.Logger
	prefix     string
	sim        *simulator.Simulator
	broker     *broker.Broker
	adm        *kadm.Client
	cdb        *DB
	child      *workerChild
	brokers    []string
	restartCmd string

	mu    sync.Mutex
	drops []Drop
}

func (r *rig) Drops() []Drop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Drop(nil), r.drops...)
}

func (r *rig) topic(s topics.Spec) string { return s.Name(r.prefix) }

// workerGroup is a queue worker's default group (see worker.Config.Group).
func (r *rig) workerGroup(queue topics.Spec) string {
	return topics.WorkerGroup(queue).Name(r.prefix)
}

// Inject applies one fault; see Injector.
func (r *rig) Inject(ctx context.Context, f Fault) (Injected, error) {
	switch f.Kind {
	case SocketDrop:
		at := time.Now()
		n := r.sim.DropConnections(f.Account)
		if n == 0 {
			return Injected{}, fmt.Errorf("%s has no socket open", f.Account)
		}
		r.mu.Lock()
		r.drops = append(r.drops, Drop{Account: f.Account, At: at})
		r.mu.Unlock()
		return Injected{Target: f.Account, Measure: "reconnected: the new socket's gap marker stored (audit table)",
			Recovered: r.reconnected(f.Account, at, "")}, nil
	case SocketSilence:
		at := time.Now()
		r.sim.Silence(f.Account, f.For)
		return Injected{Target: f.Account,
			Measure:   fmt.Sprintf("silent %s from the start: the watchdog fired, the new socket's gap marker stored", f.For),
			Recovered: r.reconnected(f.Account, at, "")}, nil
	case ListenKeyExpiry:
		key := r.sim.ListenKey(f.Account)
		if key == "" {
			return Injected{}, fmt.Errorf("%s has no active listenKey", f.Account)
		}
		at := time.Now()
		r.sim.ExpireListenKey(f.Account)
		return Injected{Target: f.Account, Measure: "a new listenKey, its socket's gap marker stored",
			Recovered: r.reconnected(f.Account, at, key)}, nil
	case LostFrames:
		return r.loseFrames(f)
	case MalformedFrame:
		return r.malformed(ctx, f)
	case ProduceErrors:
		return r.produceErrors(ctx, f)
	case CoordinatorLoss:
		return r.coordinatorLoss(ctx, f)
	case DatabaseOutage:
		return r.databaseOutage(ctx, f)
	case KillWorker:
		return r.killWorker(ctx, f)
	case Rebalance:
		return r.rebalance(ctx, f)
	case HostileRecords:
		return r.hostileRecords(ctx, f)
	}
	return Injected{}, fmt.Errorf("unknown fault %q", f.Kind)
}

// hostileRecords produces the data-topic hostile records under an account
// the exchange does not know (so the ground-truth comparison, which reads
// the simulator's accounts, is not disturbed) and is recovered once every
// consumer committed past them and each that must be is quarantined.
func (r *rig) hostileRecords(ctx context.Context, f Fault) (Injected, error) {
	cl, err := kclient.ForBrokers(r.brokers...).Producer(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		return Injected{}, fmt.Errorf("creating the hostile producer: %w", err)
	}
	defer cl.Close()
	recs := hostile.DataOnly(hostile.CatalogueFor(fmt.Sprintf("hostile-%04d", f.Seq), time.Now()))
	produced, err := hostile.Produce(ctx, cl, r.prefix, recs)
	if err != nil {
		return Injected{}, err
	}
	return Injected{Target: fmt.Sprintf("%d hostile records", len(produced)),
		Measure: "every consumer committed past them, each quarantined with its reason",
		Recovered: func(ctx context.Context) (bool, error) {
			behind, err := hostile.Behind(ctx, r.adm, r.prefix, produced)
			if err != nil || len(behind) > 0 {
				return false, err
			}
			rcl, err := kclient.ForBrokers(r.brokers...).Client(kgo.ConsumeTopics(r.topic(topics.Quarantine)),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				return false, err
			}
			defer rcl.Close()
			var quarantined []*kgo.Record
			for {
				pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
				fs := rcl.PollFetches(pctx)
				cancel()
				n := len(quarantined)
				quarantined = append(quarantined, fs.Records()...)
				if len(quarantined) == n {
					break
				}
			}
			missing := hostile.NotQuarantined(quarantined, r.prefix, produced)
			if len(missing) > 0 {
				return false, fmt.Errorf("not quarantined yet: %s", strings.Join(missing, "; "))
			}
			return true, nil
		}}, nil
}

func (r *rig) frameStored(ctx context.Context, account string, payload []byte) (bool, error) {
	var n int
	q := r.cdb.Direct.Rebind("SELECT COUNT(*) FROM api_data_stream WHERE exchange = ? AND account = ? AND kind = ? AND payload = ?")
	if err := r.cdb.Direct.QueryRowContext(ctx, q, topics.ExchangeBinance, account, topics.KindFrame, string(payload)).Scan(&n); err != nil {
		return false, fmt.Errorf("reading the audit table: %w", err)
	}
	return n > 0, nil
}

// reconnected is recovered once the account's producer has attached a new
// socket after at (and, with oldKey, the account has another listenKey):
// the gap marker it publishes on connecting, which ends after at, is in the
// audit table. Unlike a frame, a gap marker needs no trading to appear.
func (r *rig) reconnected(account string, at time.Time, oldKey string) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		if oldKey != "" && r.sim.ListenKey(account) == oldKey {
			return false, nil
		}
		return gapStoredAfter(ctx, r.cdb.Direct, account, at)
	}
}

// gapStoredAfter reports whether the audit table holds a gap marker of the
// account that ends after at: the producer attached a socket after at.
func gapStoredAfter(ctx context.Context, d *db.DB, account string, at time.Time) (bool, error) {
	var n int
	q := d.Rebind("SELECT COUNT(*) FROM api_data_stream WHERE exchange = ? AND account = ? AND kind = ? AND event_time > ?")
	if err := d.QueryRowContext(ctx, q, topics.ExchangeBinance, account, topics.KindGap, at.UnixMilli()).Scan(&n); err != nil {
		return false, fmt.Errorf("reading the audit table: %w", err)
	}
	return n > 0, nil
}

// waitAttached waits until every account's producer has connected (its gap
// marker is in the audit table).
func WaitAttached(ctx context.Context, d *db.DB, accounts []string, bound time.Duration) error {
	wctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	for _, a := range accounts {
		for {
			ok, err := gapStoredAfter(wctx, d, a, time.UnixMilli(0))
			if ok {
				break
			}
			select {
			case <-wctx.Done():
				return fmt.Errorf("%s's stream did not attach within %s (%v)", a, bound, err)
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
	return nil
}

func (r *rig) loseFrames(f Fault) (Injected, error) {
	at := time.Now()
	r.sim.LoseNext(f.Account, f.N)
	var (
		orders []simulator.Order
		algos  []simulator.AlgoOrder
		taken  bool
	)
	return Injected{Target: f.Account, Measure: fmt.Sprintf("%d order changes without a frame; the database caught up with the exchange (order-sync sweep)", f.N),
		Recovered: func(ctx context.Context) (bool, error) {
			if !taken {
				// The loss is used up once a frame is pushed after it.
				ps := r.sim.PushedFrames(f.Account)
				if len(ps) == 0 || !ps[len(ps)-1].At.After(at) {
					return false, nil
				}
				orders, algos, taken = r.sim.Orders(f.Account), r.sim.AlgoOrders(f.Account), true
			}
			ok, why, err := CaughtUp(ctx, r.cdb.Direct, "", f.Account, orders, algos)
			if err == nil && !ok {
				err = errors.New(why)
			}
			return ok, err
		}}, nil
}

func (r *rig) malformed(ctx context.Context, f Fault) (Injected, error) {
	data := fmt.Appendf(nil, `{"e":"ORDER_TRADE_UPDATE","E":%d,"o":{"s":"CHAOS%d","i":`, time.Now().UnixMilli(), f.Seq)
	r.sim.InjectMalformed(f.Account, data)
	pushed := func() bool {
		for _, p := range r.sim.PushedFrames(f.Account) {
			if bytes.Equal(p.Data, data) {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(5 * time.Second)
	for !pushed() {
		if time.Now().After(deadline) || ctx.Err() != nil {
			return Injected{}, fmt.Errorf("no socket of %s received the malformed frame", f.Account)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return Injected{Target: f.Account, Measure: "stored raw in the audit table (and quarantined)",
		Recovered: func(ctx context.Context) (bool, error) { return r.frameStored(ctx, f.Account, data) }}, nil
}

// anyFrameStoredAfter is recovered once a frame pushed after t, of any
// account, is in the audit table.
func (r *rig) anyFrameStoredAfter(t time.Time) func(context.Context) (bool, error) {
	return func(ctx context.Context) (bool, error) {
		for _, a := range r.sim.Accounts() {
			for _, p := range r.sim.PushedFrames(a.ID) {
				if p.At.After(t) {
					return r.frameStored(ctx, a.ID, p.Data)
				}
			}
		}
		return false, nil
	}
}

func (r *rig) produceErrors(ctx context.Context, f Fault) (Injected, error) {
	h := r.broker.Cluster().Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: r.topic(topics.UserDataStream),
		Err: kerr.NotLeaderForPartition, Count: f.N})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := h.Wait(wctx, f.N); err != nil {
		h.Remove()
		return Injected{}, fmt.Errorf("only %d of %d produce requests failed within 30s", h.Hits(), f.N)
	}
	return Injected{Target: "user-data", Measure: fmt.Sprintf("%d produce requests failed; a frame pushed after the last one stored", f.N),
		Recovered: r.anyFrameStoredAfter(time.Now())}, nil
}

func (r *rig) sinkGroups() []string {
	return []string{topics.GroupSinkAudit.Name(r.prefix), topics.GroupSinkOrders.Name(r.prefix), topics.GroupSinkMarkPrice.Name(r.prefix)}
}

func (r *rig) coordinatorLoss(ctx context.Context, f Fault) (Injected, error) {
	var fs []kfake.Fault
	for _, g := range r.sinkGroups() {
		fs = append(fs,
			kfake.Fault{Keys: []kmsg.Key{kmsg.OffsetCommit, kmsg.Heartbeat}, Group: g, Err: kerr.NotCoordinator, Count: -1},
			kfake.Fault{Keys: []kmsg.Key{kmsg.FindCoordinator}, Group: g, Err: kerr.CoordinatorNotAvailable, Count: -1})
	}
	h := r.broker.Cluster().Fault(fs...)
	backoff.Sleep(ctx, f.For)
	h.Remove()
	if h.Hits() == 0 {
		return Injected{}, fmt.Errorf("no request of the sink groups hit the coordinator fault in %s", f.For)
	}
	return r.caughtUpAfter(ctx, fmt.Sprintf("%d req", h.Hits()),
		"audit and mark-price sinks committed everything produced before the coordinator came back")
}

// caughtUpAfter measures recovery as the audit and mark-price sinks
// committing past the topics' ends now. The orders sink is left out: a
// kill of its other member may hold some of its partitions for the
// session timeout.
func (r *rig) caughtUpAfter(ctx context.Context, target, measure string) (Injected, error) {
	uds, err := r.ends(ctx, r.topic(topics.UserDataStream))
	if err != nil {
		return Injected{}, err
	}
	mark, err := r.ends(ctx, r.topic(topics.MarkPrice))
	if err != nil {
		return Injected{}, err
	}
	return Injected{Target: target, Measure: measure, Recovered: func(ctx context.Context) (bool, error) {
		if ok, err := r.committedPast(ctx, topics.GroupSinkAudit.Name(r.prefix), uds); !ok {
			return false, err
		}
		return r.committedPast(ctx, topics.GroupSinkMarkPrice.Name(r.prefix), mark)
	}}, nil
}

func (r *rig) databaseOutage(ctx context.Context, f Fault) (Injected, error) {
	if r.restartCmd != "" {
		out, err := exec.CommandContext(ctx, "sh", "-c", r.restartCmd).CombinedOutput()
		if err != nil {
			return Injected{}, fmt.Errorf("--restart-mariadb-cmd: %w: %s", err, bytes.TrimSpace(out))
		}
		return r.caughtUpAfter(ctx, "server", "server restarted; audit and mark-price sinks committed everything produced before it was back")
	}
	if r.cdb.proxy == nil {
		return Injected{}, errors.New("the database has no server to cut (SQLite)")
	}
	cut := r.cdb.proxy.Down()
	backoff.Sleep(ctx, f.For)
	r.cdb.proxy.Up()
	return r.caughtUpAfter(ctx, fmt.Sprintf("%d conns", cut),
		"audit and mark-price sinks committed everything produced before the database came back")
}

func (r *rig) killWorker(ctx context.Context, f Fault) (Injected, error) {
	groups := []string{topics.GroupSinkOrders.Name(r.prefix), r.workerGroup(topics.Priority)}
	before := map[string][]string{}
	for _, g := range groups {
		ids, err := r.memberIDs(ctx, g)
		if err != nil {
			return Injected{}, err
		}
		before[g] = ids
	}
	orders, err := r.ends(ctx, r.topic(topics.Orders))
	if err != nil {
		return Injected{}, err
	}
	prio, err := r.ends(ctx, r.topic(topics.Priority))
	if err != nil {
		return Injected{}, err
	}
	pid, err := r.child.kill()
	if err != nil {
		return Injected{}, err
	}
	r.log.Info("worker child killed with SIGKILL", "pid", pid)
	backoff.Sleep(ctx, restartWait)
	if err := r.child.start(); err != nil {
		return Injected{}, err
	}
	ends := map[string]kadm.ListedOffsets{groups[0]: orders, groups[1]: prio}
	return Injected{Target: fmt.Sprintf("pid %d", pid),
		Measure: "restarted after 2s; the dead member left the orders-sink and trading-worker groups (session timeout), the new one joined, both committed past the kill",
		Recovered: func(ctx context.Context) (bool, error) {
			for _, g := range groups {
				now, state, err := r.group(ctx, g)
				if err != nil {
					return false, err
				}
				gone := 0
				for _, id := range before[g] {
					if !slices.Contains(now, id) {
						gone++
					}
				}
				if gone == 0 || len(now) < len(before[g]) || state != "Stable" {
					return false, fmt.Errorf("group %s is %s with members %v; before the kill %v", g, state, now, before[g])
				}
				if ok, err := r.committedPast(ctx, g, ends[g]); !ok {
					return false, err
				}
			}
			return true, nil
		}}, nil
}

// memberIDs are the group's members, sorted.
func (r *rig) memberIDs(ctx context.Context, group string) ([]string, error) {
	ids, _, err := r.group(ctx, group)
	return ids, err
}

// group describes a group: its member ids (sorted) and its state.
func (r *rig) group(ctx context.Context, group string) ([]string, string, error) {
	gs, err := r.adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, "", fmt.Errorf("describing group %s: %w", group, err)
	}
	g, ok := gs[group]
	if !ok {
		return nil, "", nil
	}
	if g.Err != nil {
		return nil, "", fmt.Errorf("describing group %s: %w", group, g.Err)
	}
	var ids []string
	for _, m := range g.Members {
		ids = append(ids, m.MemberID)
	}
	slices.Sort(ids)
	return ids, g.State, nil
}

func (r *rig) members(ctx context.Context, group string) (int, error) {
	ids, err := r.memberIDs(ctx, group)
	return len(ids), err
}

func (r *rig) rebalance(ctx context.Context, f Fault) (Injected, error) {
	before, err := r.members(ctx, topics.GroupSinkAudit.Name(r.prefix))
	if err != nil {
		return Injected{}, err
	}
	// The database may be cut by another fault right now; the member waits
	// for it like any sink would.
	var d *db.DB
	for deadline := time.Now().Add(30 * time.Second); ; {
		if d, err = db.Open(ctx, r.cdb.PipelineURL); err == nil {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return Injected{}, fmt.Errorf("opening the database for the extra member: %w", err)
		}
		backoff.Sleep(ctx, 500*time.Millisecond)
	}
	defer d.Close()
	s, err := auditsink.New(auditsink.Config{SinkConfig: auditsink.SinkConfig{
		Kafka: kclient.ForBrokers(r.brokers...), Prefix: r.prefix, Group: topics.GroupSinkAudit.Name(r.prefix)}},
		d, r.log.With("component", "audit-sink-extra"))
	if err != nil {
		return Injected{}, err
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	stop := func() error { cancel(); return <-done }
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, _ := r.members(ctx, topics.GroupSinkAudit.Name(r.prefix))
		if n > before {
			break
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			_ = stop()
			return Injected{}, fmt.Errorf("the extra audit-sink member did not join within 30s (%d members)", n)
		}
		time.Sleep(200 * time.Millisecond)
	}
	backoff.Sleep(ctx, f.For)
	if err := stop(); err != nil {
		return Injected{}, fmt.Errorf("the extra audit-sink member: %w", err)
	}
	in, err := r.caughtUpAfter(ctx, fmt.Sprintf("audit %d->%d", before, before+1),
		"joined, held partitions, left; the audit sink committed everything produced before it left")
	return in, err
}

func (r *rig) ends(ctx context.Context, topic string) (kadm.ListedOffsets, error) {
	lctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	ends, err := r.adm.ListEndOffsets(lctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	return ends, nil
}

// committedPast reports whether group has committed at least ends on every
// partition that has records.
func (r *rig) committedPast(ctx context.Context, group string, ends kadm.ListedOffsets) (bool, error) {
	offs, err := r.adm.FetchOffsets(ctx, group)
	if err != nil {
		return false, fmt.Errorf("fetching the offsets of %s: %w", group, err)
	}
	var behind string
	ends.Each(func(e kadm.ListedOffset) {
		if behind != "" || e.Err != nil || e.Offset <= 0 {
			return
		}
		o, ok := offs.Lookup(e.Topic, e.Partition)
		if !ok || o.Err != nil || o.At < e.Offset {
			behind = fmt.Sprintf("%s at %d of %d on %s/%d", group, o.At, e.Offset, e.Topic, e.Partition)
		}
	})
	if behind != "" {
		return false, errors.New(behind)
	}
	return true, nil
}
