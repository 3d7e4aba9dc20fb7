package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/hostile"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// TestHostileRecordsStopCrashCorruptAndOpenNothing is issue 10's
// hostile-record suite: `kraite dev` runs on MariaDB, and every record of
// harness/hostile's catalogue is produced into the system's own topics, as
// anyone with write access could. Afterwards no process exited, every
// consumer's lag drained, mark prices still advance, no absurd value is in
// any table, each hostile record that must be is in quarantine with its
// reason, a narrowed allowlist and an active block override survived their
// garbage records, and a crash after all of it still closes the gate.
func TestHostileRecordsStopCrashCorruptAndOpenNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("the hostile-record suite runs the whole pipeline")
	}
	dir := t.TempDir()
	devStart := time.Now()
	d := dbtest.MySQL(t)
	t.Setenv("KRAITE_DATABASE_URL", dbtest.URL(d))
	out := &syncBuffer{}
	brokerAddr, opsAddr, stop := startDevOpsOut(t, dir, out, "--accounts", "2", "--order-interval", "200ms", "--mark-interval", "500ms")
	defer stop()
	m := regexp.MustCompile(`simulator\s+http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no simulator address in:\n%s", out)
	}
	sim := m[1]
	t.Setenv("KRAITE_BROKERS", brokerAddr)
	quarantine := testkit.NewReader(t, brokerAddr, topics.Quarantine.Name("kraite."))
	rejected := testkit.NewReader(t, brokerAddr, topics.OpenIntentsRejected.Name("kraite."))
	allowed := testkit.NewReader(t, brokerAddr, topics.Positions.Name("kraite."))
	defer func() {
		if t.Failed() {
			for _, r := range quarantine.Poll(t) {
				t.Logf("quarantine: %.600s", r.Value)
			}
			t.Logf("dev output:\n%s", tail(out.String(), 8000))
		}
	}()
	testkit.Eventually(t, 90*time.Second, "orders and mark prices flowing", func() bool {
		return dbtest.Count(t, d, "FROM orders") > 0 && dbtest.Count(t, d, "FROM exchange_symbols WHERE mark_price IS NOT NULL") > 100
	})

	prod, err := kgo.NewClient(append(kclient.ProducerOpts([]string{brokerAddr}, nil), kgo.RecordPartitioner(kgo.ManualPartitioner()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	adm := kadm.NewClient(prod)
	start := time.Now()
	all := hostile.Catalogue(start)

	// Phase 1: the data records, with the default allowlist (TRADE
	// dispatched), so absurd fills meet dispatch and the orders sink.
	produced, err := hostile.Produce(context.Background(), prod, "kraite.", hostile.DataOnly(all))
	if err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 90*time.Second, "every consumer group to move past the hostile data records", func() bool {
		behind, err := hostile.Behind(context.Background(), adm, "kraite.", produced)
		return err == nil && len(behind) == 0
	})

	// Phase 2: the operator narrows the allowlist and blocks the gate;
	// then garbage on both control topics, a real TRADE and a valid intent.
	mustRun(t, "allowlist", "set", "binance", "CANCELED", "EXPIRED")
	mustRun(t, "regime", "override", "block", "--for", "1h", "--reason", "hostile drill")
	var control []hostile.Record
	for _, r := range all {
		if r.Topic.Suffix == topics.Allowlist.Suffix || r.Topic.Suffix == topics.RegimeOverrides.Suffix {
			control = append(control, r)
		}
	}
	more, err := hostile.Produce(context.Background(), prod, "kraite.", control)
	if err != nil {
		t.Fatal(err)
	}
	produced = append(produced, more...)
	time.Sleep(time.Second) // the Views read the garbage before the TRADE and the intent arrive

	// A real TRADE after the garbage allowlist record must not be
	// dispatched (the allowlist is still CANCELED, EXPIRED).
	trade := []byte(fmt.Sprintf(`{"e":"ORDER_TRADE_UPDATE","E":%[1]d,"T":%[1]d,"o":{"s":"BTCUSDT","c":"after-garbage","S":"BUY","o":"MARKET","f":"GTC","q":"0.001","p":"0","ap":"50000","sp":"0","x":"TRADE","X":"FILLED","i":8888888881,"l":"0.001","z":"0.001","L":"50000","N":"USDT","n":"0.01","T":%[1]d,"t":8888888882,"b":"0","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"MARKET","ps":"BOTH","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}`, time.Now().UnixMilli()))
	tradeRec := &kgo.Record{Topic: topics.UserDataStream.Name("kraite."), Partition: groupadmin.AccountPartition(nil, topics.UserDataStream.Name("kraite."), hostile.Account, int(topics.UserDataStream.Partitions)),
		Key: []byte(hostile.Account), Value: trade, Headers: topics.FrameHeaders(topics.ExchangeBinance, hostile.Account, "hostile", topics.KindFrame, topics.SourceStream, time.Now())}
	if err := prod.ProduceSync(context.Background(), tradeRec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// A valid intent after the garbage override must still be refused.
	mustRun(t, "open", "--account", hostile.Account, "--symbol", "BTCUSDT", "--side", "BUY", "--size", "0.01", "--client-id", "after-garbage-override")

	testkit.Eventually(t, 90*time.Second, "every consumer group to move past the hostile control records", func() bool {
		behind, err := hostile.Behind(context.Background(), adm, "kraite.", produced)
		return err == nil && len(behind) == 0
	})
	testkit.Eventually(t, 60*time.Second, "dispatch past the TRADE and the orders sink caught up", func() bool {
		return committedPast(t, adm, topics.GroupDispatch.Name("kraite."), tradeRec) && groupLag(t, adm, topics.GroupSinkOrders.Name("kraite."), topics.Orders.Name("kraite.")) == 0
	})
	if n := dbtest.Count(t, d, "FROM orders WHERE client_order_id = 'after-garbage'"); n != 0 {
		t.Fatal("a TRADE was dispatched after a garbage allowlist record: the allowlist failed open")
	}
	st := &syncBuffer{}
	if err := newApp(nil, st, st).main(context.Background(), []string{"regime", "status"}); err != nil ||
		!strings.Contains(st.String(), "override_block (opens refused)") || !strings.Contains(st.String(), "the newest record is unreadable") {
		t.Fatalf("regime status after the garbage override (%v):\n%s", err, st)
	}

	// Each record that must be is in quarantine, with its reason.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		missing := hostile.NotQuarantined(quarantine.Poll(t), "kraite.", produced)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not quarantined as they must be:\n  %s", strings.Join(missing, "\n  "))
		}
	}
	for _, q := range quarantine.Poll(t) {
		if len(q.Value) > topics.MaxQuarantineBytes {
			t.Errorf("a quarantine record of %d bytes", len(q.Value))
		}
	}

	// The processes are alive and nothing in the tables is absurd.
	if code, body := getBody(opsAddr, "/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d after the hostile records:\n%s", code, body)
	}
	noAbsurdValues(t, d)
	// Absurd fills and the record on the wrong partition changed nothing.
	if n := dbtest.Count(t, d, "FROM orders WHERE client_order_id IN ('hostile-3', 'hostile-4', 'hostile-5', 'hostile-6', 'hostile-7')"); n != 0 {
		t.Fatalf("%d hostile fills reached the orders table", n)
	}
	// The gate refused the intent sent after the garbage override, the
	// backdated one and the 1e9 one; none of them was allowed.
	// The forged open_allowed was refused by the positions worker's own
	// validation, before it posted anything.
	reasons := map[string]string{}
	testkit.Eventually(t, 30*time.Second, "the intents to be refused", func() bool {
		for _, r := range rejected.Poll(t) {
			var rj topics.RejectedIntent
			if json.Unmarshal(r.Value, &rj) == nil {
				reasons[rj.Intent.ClientID] = rj.Reason
			}
		}
		return reasons["after-garbage-override"] != "" && reasons["hostile-backdated"] != "" && reasons["hostile-1e9"] != "" && reasons["hostile-forged"] != ""
	})
	t.Logf("refusals: %v", reasons)
	for id, want := range map[string]string{"hostile-backdated": "stale_intent", "hostile-1e9": "invalid_intent", "hostile-forged": "size_above_max"} {
		if reasons[id] != want {
			t.Errorf("%s refused as %q, want %q", id, reasons[id], want)
		}
	}
	if n := dbtest.Count(t, d, "FROM orders WHERE client_order_id = 'hostile-forged'"); n != 0 {
		t.Fatal("the forged 1e9 order reached the exchange")
	}
	for _, r := range allowed.Poll(t) {
		var pe topics.PositionEvent
		if json.Unmarshal(r.Value, &pe) == nil && pe.Intent != nil && strings.HasPrefix(pe.Intent.ClientID, "hostile-") || pe.Intent != nil && pe.Intent.ClientID == "after-garbage-override" {
			t.Fatalf("the gate allowed %s", pe.Intent.ClientID)
		}
	}

	// Mark prices still advance, on every venue.
	since := time.Now()
	testkit.Eventually(t, 30*time.Second, "mark prices written after the hostile records", func() bool {
		var newest time.Time
		err := d.QueryRowContext(context.Background(), "SELECT MAX(mark_price_synced_at) FROM exchange_symbols").Scan(&newest)
		return err == nil && newest.After(since)
	})

	// The regime still follows real ticks: with the override cleared, a crash
	// closes the gate.
	mustRun(t, "regime", "override", "clear", "--reason", "drill over")
	// The regime samples BTC once a minute; it needs a sample from before
	// the crash to see the fall.
	time.Sleep(time.Until(devStart.Add(80 * time.Second)))
	adminFault(t, sim, map[string]any{"fault": "crash", "pct": 30, "duration": "20s"})
	testkit.Eventually(t, 120*time.Second, "the crash to close the gate", func() bool {
		st := &syncBuffer{}
		err := newApp(nil, st, st).main(context.Background(), []string{"regime", "status"})
		return err == nil && strings.Contains(st.String(), "opens refused")
	})
}

func committedPast(t *testing.T, adm *kadm.Client, group string, rec *kgo.Record) bool {
	t.Helper()
	offs, err := adm.FetchOffsetsForTopics(context.Background(), group, rec.Topic)
	if err != nil {
		return false
	}
	o, ok := offs.Lookup(rec.Topic, rec.Partition)
	return ok && o.At > rec.Offset
}

func groupLag(t *testing.T, adm *kadm.Client, group, topic string) int64 {
	t.Helper()
	lags, err := adm.Lag(context.Background(), group)
	if err != nil {
		return -1
	}
	var n int64
	for _, l := range lags {
		for _, ml := range l.Lag.Sorted() {
			if ml.Topic == topic && ml.Lag > 0 {
				n += ml.Lag
			}
		}
	}
	return n
}

func mustRun(t *testing.T, args ...string) {
	t.Helper()
	out := &syncBuffer{}
	if err := newApp(nil, out, out).main(context.Background(), args); err != nil {
		t.Fatalf("kraite %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// noAbsurdValues checks the tables the sinks write for values no exchange
// sends: non-positive or huge prices, negative quantities.
func noAbsurdValues(t *testing.T, d *db.DB) {
	t.Helper()
	for _, q := range []string{
		"FROM exchange_symbols WHERE mark_price IS NOT NULL AND (mark_price <= 0 OR mark_price > 100000000)",
		"FROM orders WHERE CAST(cum_qty AS DECIMAL(65,18)) < 0 OR CAST(cum_qty AS DECIMAL(65,18)) > 1000000000 OR CAST(orig_qty AS DECIMAL(65,18)) < 0",
		"FROM order_fills WHERE CAST(qty AS DECIMAL(65,18)) <= 0 OR CAST(price AS DECIMAL(65,18)) < 0",
	} {
		if n := dbtest.Count(t, d, q); n != 0 {
			t.Errorf("%d rows %s", n, q)
		}
	}
}
