// Package roles is the role registry of Kraite: which components each box
// (role, DESIGN.md section 4) runs, and what each component does on Kafka
// besides consuming as its group (topics.Groups says which group a
// component runs and what it consumes). `kraite run --role` starts the
// components of this table, and `kraite acls` derives the broker's ACLs from
// it, so the two cannot disagree.
package roles

import (
	"slices"
	"sort"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/topics"
)

// Components maps each role to the components its box runs, in start order.
var Components = map[string][]string{
	"athena": {"userdata-producer", "markprice-producer", "scheduler", "gap-watcher", "dispatch", "audit-sink", "markprice-sink"},
	"eos":    {"gate", "orders-sink", "trading-worker", "positions-worker"},
	"iris":   {"gate", "orders-sink", "trading-worker", "positions-worker"},
	"nyx":    {"gate", "orders-sink", "trading-worker", "positions-worker"},
	"tyche":  {"regime", "regime-history-sink", "indicators-worker", "cron-worker", "default-worker"},
}

// Names returns the role names, sorted.
func Names() []string {
	names := make([]string, 0, len(Components))
	for r := range Components {
		names = append(names, r)
	}
	sort.Strings(names)
	return names
}

// Access is what one component does on Kafka beyond consuming as its
// consumer group: the topics it produces to, the topics it reads without a
// group (goka Views, partition readers), and the goka group tables it owns
// (reads, writes and, on a first start, creates).
type Access struct {
	Writes []topics.Spec
	Reads  []topics.Spec
	Tables []topics.Spec
	// Why says, per written topic suffix, what the component writes there.
	Why map[string]string
}

// the job-queue writes of the workers that run the reconciliation
// handlers (order sync and gap backfill, drift alerts): backfill frames go
// to user-data-stream on the account's partition, like the stream's own.
var reconcilingWorker = Access{
	Writes: []topics.Spec{topics.UserDataStream, topics.Priority, topics.Quarantine},
	Why: map[string]string{
		topics.UserDataStream.Suffix: "backfill frames of order sync and gap backfill (reconcile)",
		topics.Priority.Suffix:       "drift alerts",
		topics.Quarantine.Suffix:     "parked jobs",
	},
}

// ComponentAccess declares the Kafka access of every component that has
// any beyond its group. A component missing here only consumes as its group.
var ComponentAccess = map[string]Access{
	"userdata-producer": {Writes: []topics.Spec{topics.UserDataStream},
		Why: map[string]string{topics.UserDataStream.Suffix: "raw user-data frames and gap markers"}},
	"markprice-producer": {Writes: []topics.Spec{topics.MarkPrice},
		Why: map[string]string{topics.MarkPrice.Suffix: "raw mark-price frames"}},
	"scheduler": {Writes: []topics.Spec{topics.SchedulerLease, topics.Cronjobs, topics.Priority, topics.Indicators, topics.Accounts},
		Reads: []topics.Spec{topics.SchedulerLease},
		Why: map[string]string{topics.SchedulerLease.Suffix: "the leader's lease", topics.Cronjobs.Suffix: "scheduled jobs",
			topics.Priority.Suffix: "listenKey keep-alives", topics.Indicators.Suffix: "indicator jobs",
			topics.Accounts.Suffix: "account changes not yet published (the accounts table's repair loop)"}},
	"gap-watcher": {Writes: []topics.Spec{topics.Priority},
		Why: map[string]string{topics.Priority.Suffix: "backfill jobs for gap markers"}},
	"dispatch": {Writes: []topics.Spec{topics.Orders, topics.Positions, topics.Quarantine},
		Reads: []topics.Spec{topics.Allowlist},
		Why: map[string]string{topics.Orders.Suffix: "dispatched order events", topics.Positions.Suffix: "fills applied to positions",
			topics.Quarantine.Suffix: "undecodable frames"}},
	"audit-sink": {Writes: []topics.Spec{topics.Quarantine},
		Why: map[string]string{topics.Quarantine.Suffix: "rows the database refused"}},
	"markprice-sink": {Writes: []topics.Spec{topics.Quarantine},
		Why: map[string]string{topics.Quarantine.Suffix: "rows the database refused"}},
	"orders-sink": {Writes: []topics.Spec{topics.Positions, topics.Quarantine},
		Why: map[string]string{topics.Positions.Suffix: "order transitions for the positions worker",
			topics.Quarantine.Suffix: "rows the database refused"}},
	"regime-history-sink": {Writes: []topics.Spec{topics.Quarantine},
		Why: map[string]string{topics.Quarantine.Suffix: "rows the database refused"}},
	"gate": {Writes: []topics.Spec{topics.Positions, topics.OpenIntentsRejected, topics.Quarantine},
		Reads: []topics.Spec{regimestate.TableSpec(), topics.RegimeOverrides},
		Why: map[string]string{topics.Positions.Suffix: "allowed opens", topics.OpenIntentsRejected.Suffix: "refused intents",
			topics.Quarantine.Suffix: "undecodable intents"}},
	// The regime reads its checkpoints and the mark-price partitions
	// since the newest one without a group when it rebuilds a market
	// (processors/regime: State in memory); mark-price is its group's input.
	"regime": {Writes: []topics.Spec{topics.RegimeChanges, topics.RegimeCheckpoints, topics.Quarantine},
		Reads: []topics.Spec{topics.RegimeOverrides, topics.RegimeCheckpoints}, Tables: []topics.Spec{regimestate.TableSpec()},
		Why: map[string]string{topics.RegimeChanges.Suffix: "band and gate changes", topics.RegimeCheckpoints.Suffix: "checkpoints of the market",
			topics.Quarantine.Suffix: "undecodable frames"}},
	"trading-worker": reconcilingWorker,
	"cron-worker":    reconcilingWorker,
	"default-worker": reconcilingWorker,
	"indicators-worker": {Writes: []topics.Spec{topics.Quarantine},
		Why: map[string]string{topics.Quarantine.Suffix: "parked jobs"}},
	"positions-worker": {Writes: []topics.Spec{topics.OpenIntentsRejected, topics.Quarantine},
		Why: map[string]string{topics.OpenIntentsRejected.Suffix: "opens the exchange or the validator refused",
			topics.Quarantine.Suffix: "parked jobs"}},
}

// StatusPageReads are the topics the status page of every box reads
// (without a group) to show the allowlist, mark prices, refusals,
// quarantine, the regime (its table), regime changes and overrides, and
// the scheduler's lease (who leads).
func StatusPageReads() []topics.Spec {
	return []topics.Spec{topics.Allowlist, topics.MarkPrice, topics.OpenIntentsRejected, topics.Quarantine,
		topics.RegimeChanges, topics.RegimeOverrides, regimestate.TableSpec(), topics.SchedulerLease}
}

// OperatorWrites are the control topics only the operator writes: the
// dispatch allowlist, the regime overrides, the open intents, and the
// account changes (`kraite accounts` publishes them to kraite.accounts).
func OperatorWrites() []topics.Spec {
	return []topics.Spec{topics.Allowlist, topics.RegimeOverrides, topics.OpenIntents, topics.Accounts}
}

// Groups returns the consumer groups component runs.
func Groups(component string) []topics.GroupSpec {
	var out []topics.GroupSpec
	for _, g := range topics.Groups() {
		if g.Component == component && !slices.ContainsFunc(out, func(x topics.GroupSpec) bool { return x.Suffix == g.Suffix }) {
			out = append(out, g)
		}
	}
	return out
}
