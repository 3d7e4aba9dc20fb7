// Package chaos is the fault rig behind `kraite chaos`: Execute starts an
// embedded broker, the simulator, the whole pipeline in process (internal/app)
// and orders-sink plus trading-worker in a child process (the kraite binary
// re-executed), injects the faults of a schedule on time through the rig
// (rig.go), measures each recovery (the driver), then compares the database
// with the simulator's ground truth (Compare) and reports. A TCP proxy stands
// in for a database restart. cmd/kraite only parses the flags; harness/runs
// checks them and prints the report; harness/soak reuses the database, the
// pipeline and the comparison.
//
// # Faults
//
// Infrastructure faults come first in every cycle, stream faults after them,
// so that a frame lost on the exchange side is never followed, within the
// order-sync sweep's look-back, by an outage that makes the sweep fail:
//
//   - kill-worker: kill -9 of the child process running orders-sink and
//     trading-worker, restarted two seconds later;
//   - rebalance: an extra audit sink member joins its group for a while, then leaves;
//   - coordinator-loss: NOT_COORDINATOR on OffsetCommit and Heartbeat and
//     COORDINATOR_NOT_AVAILABLE on FindCoordinator for the sink groups;
//   - produce-errors: NOT_LEADER_FOR_PARTITION on a few Produce requests
//     to the user-data-stream topic;
//   - database-outage: the database proxy cuts every connection and refuses
//     new ones for a while;
//   - hostile-records: the data-topic records of harness/hostile (a far-future
//     mark price, a 200 KB invalid frame, bad headers, absurd numbers, a
//     record on the wrong partition, ...) produced into the running
//     pipeline under an account the exchange does not know; recovered when
//     every consumer committed past them and each that must be is quarantined;
//   - socket-drop, socket-silence (longer than the producer's watchdog),
//     listenkey-expiry, lost-frames (the order changes, nothing is pushed)
//     and malformed-frame on one account each.
package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Kind names one fault.
type Kind string

// The faults, infrastructure first.
const (
	KillWorker      Kind = "kill-worker"
	Rebalance       Kind = "rebalance"
	CoordinatorLoss Kind = "coordinator-loss"
	ProduceErrors   Kind = "produce-errors"
	DatabaseOutage  Kind = "database-outage"
	HostileRecords  Kind = "hostile-records"
	SocketDrop      Kind = "socket-drop"
	SocketSilence   Kind = "socket-silence"
	ListenKeyExpiry Kind = "listenkey-expiry"
	LostFrames      Kind = "lost-frames"
	MalformedFrame  Kind = "malformed-frame"
)

// InfraKinds are the faults of the broker, the database and the processes.
var InfraKinds = []Kind{KillWorker, Rebalance, CoordinatorLoss, ProduceErrors, DatabaseOutage, HostileRecords}

// StreamKinds are the faults of the exchange's sockets, one account each.
var StreamKinds = []Kind{SocketDrop, SocketSilence, ListenKeyExpiry, LostFrames, MalformedFrame}

// AllKinds is every fault.
func AllKinds() []Kind { return append(append([]Kind(nil), InfraKinds...), StreamKinds...) }

// ParseKinds reads a comma separated list of fault kinds ("": AllKinds).
func ParseKinds(s string) ([]Kind, error) {
	if strings.TrimSpace(s) == "" {
		return AllKinds(), nil
	}
	var out []Kind
	for _, f := range strings.Split(s, ",") {
		k := Kind(strings.TrimSpace(f))
		if k == "" {
			continue
		}
		if !slices.Contains(AllKinds(), k) {
			return nil, fmt.Errorf("unknown fault %q (faults: %s)", k, KindList(AllKinds()))
		}
		out = append(out, k)
	}
	if len(out) == 0 {
		return AllKinds(), nil
	}
	return out, nil
}

// KindList is ks comma separated.
func KindList(ks []Kind) string {
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ",")
}

// IsStream reports whether k hits one account's stream.
func (k Kind) IsStream() bool {
	for _, s := range StreamKinds {
		if s == k {
			return true
		}
	}
	return false
}

// Fault is one planned injection.
type Fault struct {
	Seq     int           `json:"seq"`
	Kind    Kind          `json:"kind"`
	At      time.Duration `json:"at"`                // from the start of the run
	Account string        `json:"account,omitempty"` // stream faults
	For     time.Duration `json:"for,omitempty"`     // how long the condition lasts (silence, outage, coordinator loss, rebalance)
	N       int           `json:"n,omitempty"`       // frames lost, produce requests failed
}

func (f Fault) String() string {
	s := fmt.Sprintf("#%d %s at %s", f.Seq, f.Kind, f.At)
	if f.Account != "" {
		s += " on " + f.Account
	}
	return s
}

// ScheduleConfig shapes a plan.
type ScheduleConfig struct {
	Run      time.Duration // the whole faulty run (--for)
	Accounts []string      // targets of stream faults
	Seed     int64
	// Kinds are the faults to plan (default AllKinds); a kind left out,
	// e.g. database-outage on SQLite, is simply not planned.
	Kinds []Kind
	// MinCycle is the shortest cycle of all kinds (default 90s): longer
	// runs repeat the cycle.
	MinCycle time.Duration
	// Durations of the lasting faults (defaults: silence 5s, outage 4s,
	// coordinator loss 4s, rebalance 6s).
	Silence, Outage, CoordinatorLoss, Rebalance time.Duration
}

func (c ScheduleConfig) withDefaults() ScheduleConfig {
	if len(c.Kinds) == 0 {
		c.Kinds = AllKinds()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinCycle, 90*time.Second)
	def(&c.Silence, 5*time.Second)
	def(&c.Outage, 4*time.Second)
	def(&c.CoordinatorLoss, 4*time.Second)
	def(&c.Rebalance, 6*time.Second)
	return c
}

// Window is where faults start within a run of length run: after a tenth
// of it (the pipeline settles first) and before seven tenths (the rest is
// left for the last faults to end and recover while the load goes on).
func Window(run time.Duration) (from, to time.Duration) {
	return run / 10, run * 7 / 10
}

// Schedule plans the faults of a run: one or more cycles spread over the
// window, each with every kind once: the kill first (its 45 s session
// timeout is the longest recovery), the other infrastructure faults over the
// first 30% of the cycle in a seeded order (so that the last of them has
// ended before the second half), the stream faults over the second half,
// each on an account chosen round-robin from a seeded shuffle.
func Schedule(c ScheduleConfig) ([]Fault, error) {
	c = c.withDefaults()
	if c.Run < 20*time.Second {
		return nil, fmt.Errorf("run %s is too short for a fault cycle (at least 20s)", c.Run)
	}
	var infra, stream []Kind
	for _, k := range c.Kinds {
		switch {
		case k.IsStream():
			stream = append(stream, k)
		case slices.Contains(InfraKinds, k):
			infra = append(infra, k)
		default:
			return nil, fmt.Errorf("unknown fault kind %q", k)
		}
	}
	if len(stream) > 0 && len(c.Accounts) == 0 {
		return nil, errors.New("stream faults need at least one account")
	}
	from, to := Window(c.Run)
	window := to - from
	cycles := max(1, int(window/c.MinCycle))
	cycle := window / time.Duration(cycles)
	rng := rand.New(rand.NewPCG(uint64(c.Seed), 0xc4a05))
	accts := append([]string(nil), c.Accounts...)
	rng.Shuffle(len(accts), func(i, j int) { accts[i], accts[j] = accts[j], accts[i] })
	next := 0
	var out []Fault
	add := func(k Kind, at time.Duration) {
		f := Fault{Seq: len(out) + 1, Kind: k, At: at.Round(100 * time.Millisecond)}
		switch k {
		case SocketSilence:
			f.For = c.Silence
		case DatabaseOutage:
			f.For = c.Outage
		case CoordinatorLoss:
			f.For = c.CoordinatorLoss
		case Rebalance:
			f.For = c.Rebalance
		case LostFrames:
			f.N = 2 + rng.IntN(3)
		case ProduceErrors:
			f.N = 5
		}
		if k.IsStream() {
			f.Account = accts[next%len(accts)]
			next++
		}
		out = append(out, f)
	}
	spread := func(kinds []Kind, start, span time.Duration) {
		for i, k := range kinds {
			at := start
			if len(kinds) > 1 {
				at += span * time.Duration(i) / time.Duration(len(kinds)-1)
			}
			add(k, at)
		}
	}
	for cy := range cycles {
		start := from + cycle*time.Duration(cy)
		var first []Kind
		rest := append([]Kind(nil), infra...)
		for i, k := range rest {
			if k == KillWorker {
				first = []Kind{k}
				rest = append(rest[:i:i], rest[i+1:]...)
				break
			}
		}
		rng.Shuffle(len(rest), func(i, j int) { rest[i], rest[j] = rest[j], rest[i] })
		spread(append(first, rest...), start, cycle*30/100)
		st := append([]Kind(nil), stream...)
		rng.Shuffle(len(st), func(i, j int) { st[i], st[j] = st[j], st[i] })
		spread(st, start+cycle/2, cycle*45/100)
	}
	return out, nil
}
