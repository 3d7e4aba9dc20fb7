package gate

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/lovoo/goka"
	"github.com/lovoo/goka/tester"

	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

const prefix = "kraite."

type gateTest struct {
	tt                  *tester.Tester
	positions, rejected *tester.QueueTracker
}

func newGateTest(t *testing.T) *gateTest {
	t.Helper()
	tt := tester.New(t)
	cfg := DefaultConfig(nil, prefix)
	cfg.ViewOptions = []goka.ViewOption{goka.WithViewTester(tt)}
	p, err := New(cfg, goka.WithTester(tt))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("processor run: %v", err)
		}
	})
	if err := p.WaitForReady(t.Context()); err != nil {
		t.Fatal(err)
	}
	return &gateTest{tt: tt, positions: tt.NewQueueTracker(string(PositionsTopic(prefix))),
		rejected: tt.NewQueueTracker(string(RejectedTopic(prefix)))}
}

func (g *gateTest) send(t *testing.T, in topics.OpenIntent) {
	t.Helper()
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	g.tt.Consume(string(InputTopic(prefix)), in.Account, b)
}

func TestGateRoutesIntentsByTheRegimeTable(t *testing.T) {
	g := newGateTest(t)
	open, reduce := intent(false), intent(true)
	open.CreatedMs, reduce.CreatedMs = now, now

	g.tt.SetTableValue(regime.Table(prefix), "binance", state(regime.Critical, 0))
	g.send(t, open)
	g.send(t, reduce)
	_, v, ok := g.rejected.Next()
	if !ok {
		t.Fatal("open in Critical was not rejected")
	}
	rej := v.(*topics.RejectedIntent)
	if rej.Band != "Critical" || rej.Score != 80 || rej.Reason == "" || rej.Intent.ClientID != "c1" {
		t.Fatalf("rejected record %+v", rej)
	}
	_, v, ok = g.positions.Next()
	if !ok || !v.(*topics.PositionEvent).Intent.Reduce || v.(*topics.PositionEvent).Kind != KindOpenAllowed {
		t.Fatalf("reduction not passed: %+v", v)
	}

	g.tt.SetTableValue(regime.Table(prefix), "binance", state(regime.Calm, 0))
	g.send(t, open)
	if _, v, ok := g.positions.Next(); !ok || v.(*topics.PositionEvent).Band != "Calm" {
		t.Fatalf("open in Calm not allowed: %+v", v)
	}
	if _, _, ok := g.rejected.Next(); ok {
		t.Fatal("unexpected rejection")
	}
}

func TestGateQuarantinesUndecodableIntents(t *testing.T) {
	g := newGateTest(t)
	q := g.tt.NewQueueTracker(string(QuarantineTopic(prefix)))
	g.tt.Consume(string(InputTopic(prefix)), "a", []byte("{"), tester.WithHeaders(goka.Headers{"source": []byte("strategy-7")}))
	_, v, ok := q.Next()
	if !ok {
		t.Fatal("bad intent not quarantined")
	}
	// The same record as dispatch's quarantine: headers kept, the consumer named.
	if r := v.(*topics.QuarantineRecord); r.Headers["source"] != "strategy-7" || r.Consumer != string(Group(prefix)) || r.Value != "{" {
		t.Fatalf("quarantine record %+v", r)
	}
}

func TestNewRefusesAConfigWithoutBrokersOrViewOptions(t *testing.T) {
	_, err := New(DefaultConfig(nil, prefix))
	if err == nil || !strings.Contains(err.Error(), "ViewOptions") {
		t.Fatalf("New without brokers or view options: %v", err)
	}
}
