package topics

import "strings"

// GroupSpec declares one consumer group of Kraite: its name after the
// deployment prefix, the topics it consumes and the component that runs it
// (the role that owns it is the role running that component,
// internal/roles). Every group name in the code comes from here (Groups,
// WorkerGroup, RebuildGroup); TestEveryGroupNameIsDeclared checks it. Groups are named from the
// same prefix as the topics (DESIGN.md section 3), so two deployments on
// one cluster never share a group, and declared here, next to the topics,
// so commands (replay, status) can refuse a group or a topic that is not
// Kraite's instead of guessing by pattern.
type GroupSpec struct {
	// Suffix is the name after the prefix, e.g. "sink.orders".
	Suffix string
	// Inputs are the topics the group commits offsets on.
	Inputs []Spec
	// Component is what runs the group (kraite run --components).
	Component string
	// Elects marks a group used only for leader election: it commits
	// nothing, so it has no lag and nothing to replay.
	Elects bool
	Doc    string
}

// Name returns the full group name under prefix.
func (g GroupSpec) Name(prefix string) string { return prefix + g.Suffix }

// Consumes reports whether the group reads topic (a full name under prefix).
func (g GroupSpec) Consumes(prefix, topic string) bool {
	for _, in := range g.Inputs {
		if in.Name(prefix) == topic {
			return true
		}
	}
	return false
}

// The consumer groups. Worker groups are WorkerGroup(queue).
var (
	GroupDispatch = GroupSpec{Suffix: "dispatch", Inputs: []Spec{UserDataStream}, Component: "dispatch",
		Doc: "goka: applies the allowlist, writes orders and positions"}
	GroupRegime = GroupSpec{Suffix: "regime", Inputs: []Spec{MarkPrice}, Component: "regime",
		Doc: "goka: market-regime score and bands"}
	GroupGate = GroupSpec{Suffix: "gate", Inputs: []Spec{OpenIntents}, Component: "gate",
		Doc: "goka: allows or refuses open intents"}
	GroupSinkAudit = GroupSpec{Suffix: "sink.audit", Inputs: []Spec{UserDataStream}, Component: "audit-sink",
		Doc: "every user-data record into api_data_stream"}
	GroupSinkMarkPrice = GroupSpec{Suffix: "sink.markprice", Inputs: []Spec{MarkPrice}, Component: "markprice-sink",
		Doc: "mark prices into exchange_symbols (four venues)"}
	GroupSinkOrders = GroupSpec{Suffix: "sink.orders", Inputs: []Spec{Orders}, Component: "orders-sink",
		Doc: "orders and algo orders, transitions to positions"}
	GroupSinkRegimeHistory = GroupSpec{Suffix: "sink.regime-history", Inputs: []Spec{RegimeChanges}, Component: "regime-history-sink",
		Doc: "band and gate changes of the regime into regime_history"}
	GroupGapWatcher = GroupSpec{Suffix: "gap-watcher", Inputs: []Spec{UserDataStream}, Component: "gap-watcher",
		Doc: "turns gap markers into backfill jobs"}
	GroupUserDataProducer = GroupSpec{Suffix: "producer.user-data", Inputs: []Spec{Accounts}, Component: "userdata-producer",
		Doc: "user-data producers: each member streams the accounts of its kraite.accounts partitions"}
	GroupScheduler = GroupSpec{Suffix: "scheduler", Inputs: []Spec{SchedulerLease}, Component: "scheduler", Elects: true,
		Doc: "leader election of the scheduler (commits nothing)"}
)

// WorkerGroup is the group of the worker of a queue topic.
func WorkerGroup(queue Spec) GroupSpec {
	comp := map[string]string{Priority.Suffix: "trading-worker", Cronjobs.Suffix: "cron-worker",
		Indicators.Suffix: "indicators-worker", Positions.Suffix: "positions-worker", Default.Suffix: "default-worker"}[queue.Suffix]
	return GroupSpec{Suffix: "worker." + queue.Suffix, Inputs: []Spec{queue}, Component: comp,
		Doc: "jobs of queue " + queue.Suffix}
}

// RebuildComponent runs the rebuild groups (`kraite rebuild`).
const RebuildComponent = "rebuild"

// rebuildSinks are the sink groups `kraite rebuild` runs again, by the
// short name that ends a rebuild group's name.
var rebuildSinks = map[string]GroupSpec{"orders": GroupSinkOrders, "audit": GroupSinkAudit, "markprice": GroupSinkMarkPrice}

// RebuildGroup is the fresh group of one `kraite rebuild` run (named run)
// for one sink (GroupSinkOrders, GroupSinkAudit or GroupSinkMarkPrice):
// <prefix>rebuild-<run>-<orders|audit|markprice>, reading the sink's
// inputs from their start. ok is false for any other group, and for a run
// name that is empty, longer than 200 bytes, or holds a space, a comma or
// a control character.
func RebuildGroup(sink GroupSpec, run string) (GroupSpec, bool) {
	short := strings.TrimPrefix(sink.Suffix, "sink.")
	if g, known := rebuildSinks[short]; !known || g.Suffix != sink.Suffix || !validRun(run) {
		return GroupSpec{}, false
	}
	return GroupSpec{Suffix: "rebuild-" + run + "-" + short, Inputs: sink.Inputs, Component: RebuildComponent,
		Doc: "kraite rebuild run " + run + ": " + sink.Doc}, true
}

func validRun(run string) bool {
	if run == "" || len(run) > 200 {
		return false
	}
	for _, c := range run {
		if c <= ' ' || c == ',' || c == 0x7f {
			return false
		}
	}
	return true
}

// Groups returns every consumer group of the catalog in a stable order.
func Groups() []GroupSpec {
	gs := []GroupSpec{GroupDispatch, GroupRegime, GroupGate, GroupSinkAudit, GroupSinkMarkPrice,
		GroupSinkOrders, GroupSinkRegimeHistory, GroupGapWatcher, GroupUserDataProducer, GroupScheduler}
	for _, q := range Queues() {
		if q.Suffix == UserDataStream.Suffix || q.Suffix == Orders.Suffix {
			continue // consumed by dispatch, the audit sink and the orders sink
		}
		gs = append(gs, WorkerGroup(q))
	}
	return gs
}

// LookupGroup finds a group by full name (under prefix) or by suffix: a
// group of Groups or a rebuild group (RebuildGroup).
func LookupGroup(prefix, name string) (GroupSpec, bool) {
	suffix, ok := strings.CutPrefix(name, prefix)
	if !ok {
		suffix = name
	}
	for _, g := range Groups() {
		if g.Suffix == suffix {
			return g, true
		}
	}
	if rest, ok := strings.CutPrefix(suffix, "rebuild-"); ok {
		if i := strings.LastIndexByte(rest, '-'); i > 0 {
			if sink, known := rebuildSinks[rest[i+1:]]; known {
				return RebuildGroup(sink, rest[:i])
			}
		}
	}
	return GroupSpec{}, false
}
