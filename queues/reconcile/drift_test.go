package reconcile

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/queues/positions"
	"github.com/kraite/stream/topics"
)

// A position the exchange reports differently from what the orders explain,
// for longer than the grace period, raises exactly one priority alert per
// episode; a disagreement younger than the grace raises none.
func TestPositionDriftRaisesOnePriorityAlertPerEpisode(t *testing.T) {
	b := testkit.Broker(t, "kraite.")
	d := dbtest.MySQL(t)
	ctx := context.Background()
	now := time.Now()
	book := &positions.Book{DB: d, Now: func() time.Time { return now }}
	if _, err := d.ExecContext(ctx, `INSERT INTO orders (exchange, account, order_id, symbol, side, position_side, cum_qty, status,
		event_time, transaction_time, status_rank) VALUES ('binance', 'acct-1', 1, 'BTCUSDT', 'BUY', 'BOTH', '0.5', 'FILLED', 1, 1, 5)`); err != nil {
		t.Fatal(err)
	}
	if err := book.Refold(ctx, "binance", "acct-1", "BTCUSDT"); err != nil {
		t.Fatal(err)
	}
	// The exchange says 0.7: 0.2 nobody can explain.
	if err := book.RecordExchange(ctx, "binance", "acct-1", "stream",
		[]topics.ExchangePosition{{Symbol: "BTCUSDT", Amount: "0.7", EventMs: 10}}); err != nil {
		t.Fatal(err)
	}
	prod, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	prio := testkit.NewReader(t, b.Addr(), topics.Priority.Name("kraite."))

	if err := raisePositionDrifts(ctx, prod, "kraite.", book, "binance", "acct-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute)
	for range 2 { // the next sweep alerts; the one after does not repeat it
		if err := raisePositionDrifts(ctx, prod, "kraite.", book, "binance", "acct-1", time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	var recs []*kgo.Record
	testkit.Eventually(t, 15*time.Second, "the alert on the priority queue", func() bool {
		recs = prio.Poll(t)
		return len(recs) >= 1
	})
	time.Sleep(300 * time.Millisecond)
	if recs = prio.Poll(t); len(recs) != 1 {
		t.Fatalf("%d alerts, want 1", len(recs))
	}
	var j topics.Job
	if err := json.Unmarshal(recs[0].Value, &j); err != nil {
		t.Fatal(err)
	}
	var dr positions.Drift
	if err := json.Unmarshal(j.Payload, &dr); err != nil {
		t.Fatal(err)
	}
	if j.Type != positions.JobDrift || j.Account != "acct-1" || string(recs[0].Key) != "acct-1" ||
		dr.Symbol != "BTCUSDT" || dr.Amount != "0.5" || dr.ExchangeAmount != "0.7" {
		t.Fatalf("alert %+v with drift %+v", j, dr)
	}
}

// The order sync's unexplained drift (orders the exchange does not know)
// becomes one drift-alert job on kraite.priority carrying the report.
func TestAnOrderSyncDriftBecomesAPriorityAlert(t *testing.T) {
	b := testkit.Broker(t, "kraite.")
	prod, err := kgo.NewClient(kclient.ProducerOpts([]string{b.Addr()}, nil)...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	job := topics.Job{ID: "order-sync@1000/acct-1", Type: JobOrderSync, Account: "acct-1", ScheduledMs: 1000}
	rep := Report{Account: "acct-1", UnknownToBroker: []string{"BTCUSDT 424242"}}
	if err := raiseDrift(context.Background(), prod, "kraite.", job, rep); err != nil {
		t.Fatal(err)
	}
	prio := testkit.NewReader(t, b.Addr(), topics.Priority.Name("kraite."))
	var recs []*kgo.Record
	testkit.Eventually(t, 15*time.Second, "the drift alert", func() bool { recs = prio.Poll(t); return len(recs) == 1 })
	var j topics.Job
	if err := json.Unmarshal(recs[0].Value, &j); err != nil {
		t.Fatal(err)
	}
	var got Report
	if err := json.Unmarshal(j.Payload, &got); err != nil {
		t.Fatal(err)
	}
	if j.Type != JobDrift || j.ID != "drift@"+job.ID || string(recs[0].Key) != "acct-1" ||
		len(got.UnknownToBroker) != 1 || got.UnknownToBroker[0] != "BTCUSDT 424242" {
		t.Fatalf("alert %+v, report %+v", j, got)
	}
}
