package app

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/roles"
	"github.com/kraite/stream/internal/statuspage"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/queues/reconcile"
	"github.com/kraite/stream/queues/worker"
	"github.com/kraite/stream/topics"
)

// TestEveryRoleComponentIsBuilt: `kraite run --role` starts the role
// registry's components (the table the ACLs derive from), so each has a
// builder here.
func TestEveryRoleComponentIsBuilt(t *testing.T) {
	for _, r := range roles.Names() {
		for _, c := range roles.Components[r] {
			if !IsComponent(c) {
				t.Errorf("role %s runs %q, which has no builder (known: %v)", r, c, ComponentNames())
			}
		}
	}
}

// TestTheStatusPageListsTheProcessorsControlAlerts: the page's control
// alerts come from every gate and dispatch Runner of the process, and a
// process without them gives none (the page then reads the quarantine).
func TestTheStatusPageListsTheProcessorsControlAlerts(t *testing.T) {
	if processControlAlerts(&App{}) != nil {
		t.Fatal("alerts without a gate or dispatch in the process")
	}
	w := &App{controlAlerts: []func() []gate.Alert{
		func() []gate.Alert {
			return []gate.Alert{{Topic: "kraite.allowlist", Key: "binance", Partition: 1, Offset: 9, Consumer: "kraite.dispatch",
				Error: "decoding allowlist: EOF", AtMs: 42}}
		},
		func() []gate.Alert {
			return []gate.Alert{{Topic: "kraite.regime-overrides", Key: "(unknown keys)", Consumer: "kraite.gate", KeptLastGood: true}}
		},
	}}
	got := processControlAlerts(w)()
	want := []statuspage.ControlAlert{
		{Topic: "kraite.allowlist", Key: "binance", Partition: 1, Offset: 9, Consumers: []string{"kraite.dispatch"},
			Error: "decoding allowlist: EOF", AtMs: 42},
		{Topic: "kraite.regime-overrides", Key: statuspage.UnknownKeys, Consumers: []string{"kraite.gate"}, KeptLastGood: true},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}

// TestEveryQueueAndGroupHasItsComponent: every queue topic of the catalog
// is consumed by a registered component (kraite.default included), and
// every consumer group of the catalog is run by one, so no declared group
// waits for a consumer that does not exist.
func TestEveryQueueAndGroupHasItsComponent(t *testing.T) {
	consumers := QueueConsumers()
	for _, q := range topics.Queues() {
		if len(consumers[q.Suffix]) == 0 {
			t.Errorf("queue %s has no consumer", q.Suffix)
		}
	}
	for _, g := range topics.Groups() {
		if !IsComponent(g.Component) {
			t.Errorf("group %s is run by %q, which is no component", g.Suffix, g.Component)
		}
	}
	if got := consumers[topics.Default.Suffix]; len(got) != 1 || got[0] != "default-worker" {
		t.Errorf("kraite.default is consumed by %v, want default-worker", got)
	}
	for name, queue := range jobWorkers {
		if g := topics.WorkerGroup(queue); g.Component != name {
			t.Errorf("the catalog's group of %s names %q, the registry %q", queue.Suffix, g.Component, name)
		}
	}
}

// A job type claimed by two packages is an error, not an override.
func TestMergeHandlersRefusesADuplicateJobType(t *testing.T) {
	h := func(context.Context, topics.Job) error { return nil }
	if _, err := mergeHandlers(map[string]worker.JobHandler{"a": h}, map[string]worker.JobHandler{"b": h, "a": h}); err == nil ||
		!strings.Contains(err.Error(), `"a"`) {
		t.Fatalf("got %v", err)
	}
	m, err := mergeHandlers(map[string]worker.JobHandler{"a": h}, map[string]worker.JobHandler{"b": h})
	if err != nil || len(m) != 2 {
		t.Fatalf("got %v, %v", m, err)
	}
}

// TestEveryScheduledJobHasAHandlerOnItsQueue: each schedule's job type is
// in the job-handler table and its queue is run by a job worker, and so
// are the jobs the gap watcher and the drift checks publish.
func TestEveryScheduledJobHasAHandlerOnItsQueue(t *testing.T) {
	cl, err := kgo.NewClient(kgo.SeedBrokers("127.0.0.1:1"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	w := New(c, testkit.Logger(t))
	hs, err := w.jobHandlers("test", &db.DB{}, cl)
	if err != nil {
		t.Fatal(err)
	}
	queues := map[string]bool{}
	for _, q := range jobWorkers {
		queues[q.Suffix] = true
	}
	for _, s := range c.Jobs.Schedules() {
		if err := s.Validate(); err != nil {
			t.Errorf("%s: %v", s.Name, err)
		}
		if hs[s.Name] == nil || !queues[s.Queue.Suffix] {
			t.Errorf("schedule %s on %s: handler %v, queue worked %v", s.Name, s.Queue.Suffix, hs[s.Name] != nil, queues[s.Queue.Suffix])
		}
	}
	for _, typ := range []string{reconcile.JobOrderSync, reconcile.JobDrift, positions.JobDrift} {
		if hs[typ] == nil {
			t.Errorf("no handler for %s (published on kraite.priority)", typ)
		}
	}
}

// TestTheJobsSpendTheBackgroundShareOfTheWeight: the workers' REST client
// (order sync, gap backfill, market jobs) stops at binanceapi's background
// share, below the producers' stream share on the same IP.
func TestTheJobsSpendTheBackgroundShareOfTheWeight(t *testing.T) {
	w := &App{}
	w.Exchange.RESTBase = "http://127.0.0.1:1"
	if b := w.restClient().Budget; b != binanceapi.BackgroundBudget || b >= binanceapi.StreamBudget {
		t.Fatalf("jobs' REST budget %v, want the background share %v", b, binanceapi.BackgroundBudget)
	}
	if w.restClient() != w.restClient() {
		t.Fatal("the jobs of a process share one REST client (one weight budget per IP)")
	}
	// Order placement and keep-alives cannot wait for the next window.
	if u := w.urgentREST(); u == w.restClient() || u.Budget != binanceapi.StreamBudget || w.urgentREST() != u {
		t.Fatalf("placement and keep-alive REST budget %v, want the stream share %v on one client of its own", u.Budget, binanceapi.StreamBudget)
	}
}
