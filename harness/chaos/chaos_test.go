package chaos

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/testkit"
)

var accts = []string{"acct-0001", "acct-0002", "acct-0003"}

func TestScheduleHasEveryFaultOncePerCycleInfrastructureFirst(t *testing.T) {
	plan, err := Schedule(ScheduleConfig{Run: 60 * time.Second, Accounts: accts, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(plan) != len(AllKinds()) {
		t.Fatalf("%d faults planned, want one of each of %d kinds: %v", len(plan), len(AllKinds()), plan)
	}
	from, to := Window(60 * time.Second)
	seen := map[Kind]bool{}
	var lastInfraEnd, firstStream time.Duration = 0, time.Hour
	for i, f := range plan {
		if f.Seq != i+1 {
			t.Fatalf("seq %d at index %d", f.Seq, i)
		}
		if seen[f.Kind] {
			t.Fatalf("%s planned twice", f.Kind)
		}
		seen[f.Kind] = true
		if f.At < from || f.At > to {
			t.Fatalf("%s at %s is outside the window %s..%s", f, f.At, from, to)
		}
		if f.Kind.IsStream() {
			firstStream = min(firstStream, f.At)
			if f.Account == "" {
				t.Fatalf("%s has no account", f)
			}
		} else {
			lastInfraEnd = max(lastInfraEnd, f.At+f.For)
			if f.Account != "" {
				t.Fatalf("%s names an account", f)
			}
		}
	}
	if plan[0].Kind != KillWorker {
		t.Fatalf("the kill is not first: %v", plan[0])
	}
	if lastInfraEnd > firstStream {
		t.Fatalf("an infrastructure fault lasts until %s, after the first stream fault at %s", lastInfraEnd, firstStream)
	}
	for _, f := range plan {
		switch f.Kind {
		case SocketSilence, DatabaseOutage, CoordinatorLoss, Rebalance:
			if f.For <= 0 {
				t.Fatalf("%s has no duration", f)
			}
		case LostFrames, ProduceErrors:
			if f.N <= 0 {
				t.Fatalf("%s has no count", f)
			}
		}
	}
	again, _ := Schedule(ScheduleConfig{Run: 60 * time.Second, Accounts: accts, Seed: 1})
	other, _ := Schedule(ScheduleConfig{Run: 60 * time.Second, Accounts: accts, Seed: 2})
	if !equalPlans(plan, again) {
		t.Fatal("the same seed planned differently")
	}
	if equalPlans(plan, other) {
		t.Fatal("another seed planned the same")
	}
}

func equalPlans(a, b []Fault) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestLongRunsRepeatTheCycleAndSpreadAccounts(t *testing.T) {
	plan, err := Schedule(ScheduleConfig{Run: 10 * time.Minute, Accounts: accts, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	count := map[Kind]int{}
	hit := map[string]int{}
	for _, f := range plan {
		count[f.Kind]++
		if f.Account != "" {
			hit[f.Account]++
		}
	}
	cycles := count[KillWorker]
	if cycles < 3 {
		t.Fatalf("%d cycles in 10 minutes, want at least 3", cycles)
	}
	for _, k := range AllKinds() {
		if count[k] != cycles {
			t.Fatalf("%s planned %d times in %d cycles", k, count[k], cycles)
		}
	}
	for _, a := range accts {
		if hit[a] == 0 {
			t.Fatalf("no stream fault on %s: %v", a, hit)
		}
	}
}

func TestScheduleLeavesOutKindsAndRefusesNonsense(t *testing.T) {
	kinds := []Kind{SocketDrop, KillWorker}
	plan, err := Schedule(ScheduleConfig{Run: time.Minute, Accounts: accts, Kinds: kinds})
	if err != nil || len(plan) != 2 {
		t.Fatalf("plan %v, err %v", plan, err)
	}
	if _, err := Schedule(ScheduleConfig{Run: 5 * time.Second, Accounts: accts}); err == nil {
		t.Fatal("a 5s run was planned")
	}
	if _, err := Schedule(ScheduleConfig{Run: time.Minute, Accounts: accts, Kinds: []Kind{"meteor"}}); err == nil {
		t.Fatal("an unknown kind was planned")
	}
	if _, err := Schedule(ScheduleConfig{Run: time.Minute, Kinds: []Kind{SocketDrop}}); err == nil {
		t.Fatal("a stream fault was planned without accounts")
	}
}

// testInjector applies nothing; each fault recovers after a fixed delay,
// fails to inject, or never recovers, by kind.
type testInjector struct {
	injected atomic.Int32
}

func (ti *testInjector) Inject(ctx context.Context, f Fault) (Injected, error) {
	ti.injected.Add(1)
	switch f.Kind {
	case MalformedFrame:
		return Injected{}, errors.New("no socket to inject into")
	case SocketDrop:
		return Injected{Target: f.Account, Measure: "never", Recovered: func(context.Context) (bool, error) {
			return false, errors.New("still down")
		}}, nil
	}
	if f.For > 0 {
		backoff.Until(ctx, time.Now().Add(f.For))
	}
	due := time.Now().Add(300 * time.Millisecond)
	return Injected{Target: f.Account, Measure: "a delay", Recovered: func(context.Context) (bool, error) {
		return time.Now().After(due), nil
	}}, nil
}

func TestDriveInjectsOnTimeAndMeasuresRecoveryFromTheEndOfTheFault(t *testing.T) {
	plan := []Fault{
		{Seq: 1, Kind: DatabaseOutage, At: 100 * time.Millisecond, For: 400 * time.Millisecond},
		{Seq: 2, Kind: LostFrames, At: 200 * time.Millisecond, Account: "a", N: 2},
		{Seq: 3, Kind: MalformedFrame, At: 0, Account: "a"},
		{Seq: 4, Kind: SocketDrop, At: 0, Account: "b"},
		{Seq: 5, Kind: SocketSilence, At: time.Hour, Account: "c"},
	}
	inj := &testInjector{}
	start := time.Now()
	run := Drive(context.Background(), start, plan, inj, 20*time.Millisecond, nil)
	testkit.Eventually(t, 30*time.Second, "faults 1 and 2 to recover (3, 4 and 5 never do)", func() bool { return run.Pending() <= 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	out := run.Wait(ctx)
	if len(out) != 5 {
		t.Fatalf("%d outcomes", len(out))
	}
	o := out[0]
	if !o.Injected || !o.Recovered || time.Duration(o.Lasted) < 400*time.Millisecond ||
		time.Duration(o.RecoveredAfter) < 300*time.Millisecond || o.InjectedAt.Before(start.Add(100*time.Millisecond)) {
		t.Fatalf("outage outcome %+v", o)
	}
	if !out[1].Recovered || out[1].Measure != "a delay" {
		t.Fatalf("lost frames outcome %+v", out[1])
	}
	if out[2].Injected || !strings.Contains(out[2].Error, "no socket") {
		t.Fatalf("failed injection %+v", out[2])
	}
	if !out[3].Injected || out[3].Recovered || out[3].Error != "still down" {
		t.Fatalf("unrecovered fault %+v", out[3])
	}
	if out[4].Injected || inj.injected.Load() != 4 {
		t.Fatalf("a fault due after the run was injected: %+v", out[4])
	}
	r := Report{Faults: out, Converged: true}
	if r.Pass() || len(r.Failures()) != 3 {
		t.Fatalf("failures %v", r.Failures())
	}
}

func TestProxyCutsAndRefusesConnectionsUntilUp(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	p, err := StartProxy(echo.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	roundTrip := func(c net.Conn) error {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write([]byte("ping")); err != nil {
			return err
		}
		buf := make([]byte, 4)
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if string(buf) != "ping" {
			return errors.New("garbled")
		}
		return nil
	}
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	if n := p.Down(); n != 1 {
		t.Fatalf("cut %d connections, want 1", n)
	}
	if err := roundTrip(c); err == nil {
		t.Fatal("a cut connection still works")
	}
	c2, err := net.Dial("tcp", p.Addr())
	if err == nil {
		if roundTrip(c2) == nil {
			t.Fatal("a new connection works while the proxy is down")
		}
		c2.Close()
	}
	p.Up()
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := roundTrip(c3); err != nil {
		t.Fatalf("after Up: %v", err)
	}
	if p.Cut() != 1 {
		t.Fatalf("cut %d in total", p.Cut())
	}
}

func TestSecondsMarshalAsSeconds(t *testing.T) {
	b, err := json.Marshal(struct {
		D Seconds `json:"d"`
	}{Seconds(1500 * time.Millisecond)})
	if err != nil || string(b) != `{"d":1.500}` {
		t.Fatalf("%s %v", b, err)
	}
	var back struct {
		D Seconds `json:"d"`
	}
	if err := json.Unmarshal(b, &back); err != nil || time.Duration(back.D) != 1500*time.Millisecond {
		t.Fatalf("%v %v", back.D, err)
	}
}

func TestReportTextSaysPassOrWhyItFailed(t *testing.T) {
	r := Report{For: Seconds(time.Minute), Accounts: 3, Seed: 1, Database: "mysql://root@x/db", Converged: true,
		Result: Result{FramesPushed: 10, FramesStored: 10},
		Faults: []Outcome{{Fault: Fault{Seq: 1, Kind: SocketDrop, At: 6 * time.Second, Account: "acct-0001"},
			Injected: true, Recovered: true, RecoveredAfter: Seconds(1200 * time.Millisecond), Target: "acct-0001", Measure: "next frame stored"}}}
	var b bytes.Buffer
	r.WriteText(&b)
	for _, want := range []string{"frames pushed       10", "events lost         0", "socket-drop", "1.2s", "PASS: 0 lost, 0 duplicates, 1/1"} {
		if !strings.Contains(b.String(), want) {
			t.Fatalf("report lacks %q:\n%s", want, b.String())
		}
	}
	r.Result.Lost.Orders = 2
	r.Result.Findings = []Finding{{Name: "positions", Lost: 1}}
	b.Reset()
	r.WriteText(&b)
	if !strings.Contains(b.String(), "FAIL: 3 events lost") || !strings.Contains(b.String(), "positions 1") {
		t.Fatalf("failing report:\n%s", b.String())
	}
	var js bytes.Buffer
	if err := r.WriteJSON(&js); err != nil || !strings.Contains(js.String(), `"recovered_after_s": 1.200`) {
		t.Fatalf("json %v:\n%s", err, js.String())
	}
}

func TestWeightProxyHidesTheIPsWeightAndPassesTheRest(t *testing.T) {
	sim, err := simulator.New(simulator.Config{Accounts: 1, OrderInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()
	base := "http://" + ln.Addr().String()
	p, err := StartWeightProxy(base)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	get := func(url string) *http.Response {
		t.Helper()
		resp, err := http.Get(url + "/fapi/v1/exchangeInfo")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	if direct := get(base); direct.Header.Get("X-MBX-USED-WEIGHT-1M") == "" {
		t.Fatal("the simulator reports no used weight; the test proves nothing")
	}
	via := get(p.URL())
	if via.StatusCode != 200 || via.Header.Get("X-MBX-USED-WEIGHT-1M") != "" {
		t.Fatalf("through the proxy: http %d, used weight %q", via.StatusCode, via.Header.Get("X-MBX-USED-WEIGHT-1M"))
	}
	sim.RateLimit(1)
	if limited := get(p.URL()); limited.StatusCode != 429 {
		t.Fatalf("a 429 did not pass through: http %d", limited.StatusCode)
	}
}
