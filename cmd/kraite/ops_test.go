package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
)

const opsTopic = "kraite.user-data-stream"

// opsEnv is a kfake broker with the catalog applied, n records produced
// (keys acct-0..acct-9) and KRAITE_BROKERS pointing at it.
type opsEnv struct {
	addr string
	adm  *kadm.Client
}

func newOpsEnv(t *testing.T, n int) *opsEnv {
	t.Helper()
	b := testkit.Broker(t, "kraite.")
	t.Setenv("KRAITE_BROKERS", b.Addr())
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	p, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for i := range n {
		r := &kgo.Record{Topic: opsTopic, Key: []byte(fmt.Sprintf("acct-%d", i%10)), Value: []byte(fmt.Sprint(i))}
		if err := p.ProduceSync(context.Background(), r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &opsEnv{addr: b.Addr(), adm: kadm.NewClient(cl)}
}

// commitAtEnd makes group look like it consumed everything.
func (e *opsEnv) commitAtEnd(t *testing.T, group string) {
	t.Helper()
	ends, err := e.adm.ListEndOffsets(context.Background(), opsTopic)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.adm.CommitAllOffsets(context.Background(), group, ends.Offsets()); err != nil {
		t.Fatal(err)
	}
}

func (e *opsEnv) committedTotal(t *testing.T, group string) int64 {
	t.Helper()
	os, err := e.adm.FetchOffsetsForTopics(context.Background(), group, opsTopic)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	os.Each(func(o kadm.OffsetResponse) { n += max(o.At, 0) })
	return n
}

// opsConsumer is a real group member counting what it reads.
type opsConsumer struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	n      int
}

func startOpsConsumer(t *testing.T, addr, group, clientID string) *opsConsumer {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumerGroup(group), kgo.ConsumeTopics(opsTopic),
		kgo.ClientID(clientID), kgo.FetchMaxWait(50*time.Millisecond), kgo.AutoCommitInterval(100*time.Millisecond),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &opsConsumer{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			c.mu.Lock()
			c.n += fs.NumRecords()
			c.mu.Unlock()
		}
	}()
	t.Cleanup(c.stop)
	return c
}

func (c *opsConsumer) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// stop commits what was read and leaves the group; idempotent.
func (c *opsConsumer) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.cancel = nil
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = c.cl.CommitUncommittedOffsets(ctx)
	c.cl.Close()
}

// runKraite runs one command in-process and returns stdout, stderr and the error.
func runKraite(ctx context.Context, args ...string) (string, string, error) {
	out, errOut := &syncBuffer{}, &syncBuffer{}
	err := newApp(strings.NewReader(""), out, errOut).main(ctx, args)
	return out.String(), errOut.String(), err
}

func TestReplayDryRunPrintsThePlanAndChangesNothing(t *testing.T) {
	e := newOpsEnv(t, 50)
	e.commitAtEnd(t, "ops-dry")
	out, _, err := runKraite(t.Context(), "replay", "--group", "ops-dry", "--topic", "user-data-stream", "--from", "earliest", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	for _, want := range []string{"replay plan: group ops-dry, topic kraite.user-data-stream, from earliest", "PARTITION",
		"total: 50 records to replay in 12 partition(s)", "dry run: nothing changed"} {
		if !strings.Contains(out, want) {
			t.Fatalf("output lacks %q:\n%s", want, out)
		}
	}
	if got := e.committedTotal(t, "ops-dry"); got != 50 {
		t.Fatalf("a dry run moved the commits: total %d, want 50", got)
	}
}

func TestReplayAccountPlanAsJSONNamesOnePartition(t *testing.T) {
	e := newOpsEnv(t, 40)
	e.commitAtEnd(t, "ops-acct")
	out, _, err := runKraite(t.Context(), "replay", "--group", "ops-acct", "--topic", opsTopic, "--from", "0",
		"--account", "acct-3", "--dry-run", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var plan groupadmin.ReplayPlan
	if err := json.Unmarshal([]byte(out), &plan); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	want := groupadmin.AccountPartition(nil, opsTopic, "acct-3", 12)
	if len(plan.Partitions) != 1 || plan.Partitions[0].Partition != want || plan.Partitions[0].Target != 0 || plan.Total() == 0 {
		t.Fatalf("plan %+v, want only partition %d from 0", plan, want)
	}
}

func TestReplayRefusesALiveGroupAndNamesTheMembersToStop(t *testing.T) {
	e := newOpsEnv(t, 20)
	c := startOpsConsumer(t, e.addr, "ops-live", "ops-live-worker")
	testkit.Eventually(t, 15*time.Second, "the member to read", func() bool { return c.count() == 20 })
	out, _, err := runKraite(t.Context(), "replay", "--group", "ops-live", "--topic", opsTopic, "--from", "earliest", "--progress=false")
	if err == nil || !strings.Contains(err.Error(), "live members") {
		t.Fatalf("replay of a live group: %v", err)
	}
	if !strings.Contains(out, "ops-live-worker") || !strings.Contains(out, "stop these processes first") {
		t.Fatalf("output does not name the member to stop:\n%s", out)
	}
}

func TestReplayWaitsForTheGroupThenAppliesAndFollowsProgress(t *testing.T) {
	e := newOpsEnv(t, 30)
	const group = "ops-wait"
	c := startOpsConsumer(t, e.addr, group, "ops-wait-worker")
	testkit.Eventually(t, 15*time.Second, "the member to read", func() bool { return c.count() == 30 })

	out := &syncBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- newApp(strings.NewReader(""), out, out).main(ctx, []string{"replay", "--group", group,
			"--topic", opsTopic, "--from", "earliest", "--wait", "--progress-interval", "50ms"})
	}()
	testkit.Eventually(t, 10*time.Second, "replay to wait for the group", func() bool {
		return strings.Contains(out.String(), "waiting for group ops-wait to empty")
	})
	c.stop()
	testkit.Eventually(t, 10*time.Second, "the reset", func() bool { return strings.Contains(out.String(), "reset applied") })
	again := startOpsConsumer(t, e.addr, group, "ops-wait-again")
	if err := <-done; err != nil {
		t.Fatalf("replay: %v\n%s", err, out)
	}
	t.Log("\n" + out.String())
	if !strings.Contains(out.String(), "100.0%  30/30 records") {
		t.Fatalf("no finished progress bar:\n%s", out)
	}
	testkit.Eventually(t, 10*time.Second, "the second run to re-read everything", func() bool { return again.count() == 30 })
}

func TestStatusPrintsMembersAssignmentsAndLag(t *testing.T) {
	e := newOpsEnv(t, 25)
	const group = "ops-status"
	c := startOpsConsumer(t, e.addr, group, "ops-status-worker")
	testkit.Eventually(t, 15*time.Second, "the lag to drain", func() bool {
		return c.count() == 25 && e.committedTotal(t, group) == 25
	})
	out, _, err := runKraite(t.Context(), "status", "--group", group)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out)
	for _, want := range []string{"GROUP ops-status  state Stable", "members 1  lag 0", "ops-status-worker",
		"kraite.user-data-stream[0-11]", "TOPIC", "COMMITTED"} {
		if !strings.Contains(out, want) {
			t.Fatalf("status lacks %q:\n%s", want, out)
		}
	}

	c.stop()
	out, _, err = runKraite(t.Context(), "status", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var sts []groupadmin.GroupStatus
	if err := json.Unmarshal([]byte(out), &sts); err != nil {
		t.Fatalf("%v:\n%s", err, out)
	}
	if len(sts) != 1 || sts[0].Group != group || len(sts[0].Partitions) != 12 || sts[0].TotalLag != 0 {
		t.Fatalf("status --json: %+v", sts)
	}
}

func TestReplayAndStatusReportBadInputClearly(t *testing.T) {
	newOpsEnv(t, 1)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a replay without a group names the flag", []string{"replay", "--topic", opsTopic, "--from", "earliest"}, "--group is required"},
		{"a replay without a start names the flag", []string{"replay", "--group", "g", "--topic", opsTopic}, "--from is required"},
		{"a bad start says what is accepted", []string{"replay", "--group", "g", "--topic", opsTopic, "--from", "yesterday"}, "bad position"},
		{"an unknown group is refused", []string{"replay", "--group", "g", "--topic", opsTopic, "--from", "earliest"}, "a typo?"},
		{"an unknown topic is named", []string{"replay", "--group", "g", "--topic", "nope", "--from", "earliest"}, "nope"},
		{"a negative watch is refused", []string{"status", "--watch", "-1s"}, "--watch"},
		{"status of a group that does not exist", []string{"status", "--group", "nosuch"}, "no such consumer group: nosuch"},
		{"an allowlist of an unknown exchange", []string{"allowlist", "set", "nosuchexchange", "TRADE"}, `unknown exchange "nosuchexchange"`},
		{"an unknown execution type", []string{"allowlist", "set", "binance", "TRAED"}, `unknown execution type "TRAED"`},
		{"reset takes only the exchange", []string{"allowlist", "reset", "binance", "TRADE"}, "takes only the exchange"},
		{"an unknown component", []string{"run", "--components", "foo"}, `unknown component "foo"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runKraite(t.Context(), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// A reset commits offsets, which creates the group: a typo must not
// "succeed" (issue 11 point 6), nor a group paired with a topic it does not read.
func TestReplayRefusesAGroupThatDoesNotExistOrDoesNotReadTheTopic(t *testing.T) {
	e := newOpsEnv(t, 5)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a typo of a sink group", []string{"--group", "kraite.sink.ordrs", "--topic", "orders"}, "has no committed offsets"},
		{"a declared group and a topic it does not consume", []string{"--group", "kraite.sink.orders", "--topic", "mark-price"},
			"does not consume kraite.mark-price (it reads kraite.orders)"},
		{"the scheduler's election group", []string{"--group", "scheduler", "--topic", "scheduler-lease"}, "commits no offsets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runKraite(t.Context(), append([]string{"replay", "--from", "earliest", "--progress=false"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
	groups, err := e.adm.ListGroups(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if g := groups.Groups(); len(g) != 0 {
		t.Fatalf("refused replays created groups: %v", g)
	}
	// A declared group by suffix is expanded; --create allows a new group.
	out, _, err := runKraite(t.Context(), "replay", "--group", "sink.audit", "--topic", "user-data-stream", "--from", "earliest", "--dry-run")
	if err != nil || !strings.Contains(out, "group kraite.sink.audit") {
		t.Fatalf("declared group by suffix: %v\n%s", err, out)
	}
	if _, _, err := runKraite(t.Context(), "replay", "--group", "brand-new", "--topic", "user-data-stream", "--from", "earliest",
		"--create", "--progress=false"); err != nil {
		t.Fatalf("--create: %v", err)
	}
	if got := e.committedTotal(t, "brand-new"); got != 0 {
		t.Fatalf("--create from earliest committed %d, want 0", got)
	}
}
