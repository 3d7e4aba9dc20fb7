package consume

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/sinks/internal/sinktest"
	"github.com/kraite/stream/topics"
)

// Settle writes the good values, quarantines the value the database
// refuses together with the records refused before the write (one
// quarantine record each, with its cause), and fails only on an outage,
// quarantining nothing then.
func TestSettle(t *testing.T) {
	env := sinktest.Start(t)
	d := dbtest.MySQL(t)
	ctx := context.Background()
	mustExec(t, d, "CREATE TABLE settle (s VARCHAR(8) NOT NULL)")
	l, err := New(Config{Kafka: env.Kafka(), Topic: topics.Orders.Name(env.Prefix), Group: "settle"}, sinktest.Logger())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Client().Close()
	topic := topics.Orders.Name(env.Prefix)
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Offset: int64(i), Value: fmt.Appendf(nil, "%d", i)})
	}
	write := func(ctx context.Context, vals []string) (int, error) {
		err := d.InTx(ctx, func(tx *sql.Tx) error {
			for _, v := range vals {
				if _, err := tx.ExecContext(ctx, "INSERT INTO settle (s) VALUES (?)", v); err != nil {
					return err
				}
			}
			return nil
		})
		return len(vals), err
	}
	b := Settled[string]{Recs: recs, Start: time.Now(),
		Rejected: []Rejected{{Rec: recs[0], Cause: errors.New("not an order event")}}}
	for i, r := range recs[1:] {
		v := fmt.Sprintf("v%d", i)
		if i == 4 {
			v = "far too long for eight" // ER_DATA_TOO_LONG: the record's fault
		}
		b.Items = append(b.Items, Item[string]{Val: v, Rec: r})
	}
	if err := Settle(ctx, l, nil, sinktest.Logger(), env.Prefix, "settle", "settle row", b, write); err != nil {
		t.Fatal(err)
	}
	if n := dbtest.Count(t, d, "FROM settle"); n != 8 {
		t.Fatalf("%d rows written, want the 8 good ones", n)
	}
	q := env.Quarantined(t, 2, 10*time.Second)
	if len(q) != 2 {
		t.Fatalf("%d records quarantined, want 2: %v", len(q), q)
	}
	if c := q[sinktest.Pos{Partition: 0, Offset: 0}].Error; c == "" {
		t.Errorf("the record refused before the write is not in quarantine: %v", q)
	}
	if c := q[sinktest.Pos{Partition: 0, Offset: 5}].Error; c == "" {
		t.Errorf("the value the database refused is not in quarantine: %v", q)
	}

	// An outage is no record's fault: an error, and nothing quarantined.
	outage := func(context.Context, []string) (int, error) { return 0, errors.New("connection refused") }
	b2 := Settled[string]{Recs: recs[:2], Start: time.Now(), Items: []Item[string]{{Val: "x", Rec: recs[1]}},
		Rejected: []Rejected{{Rec: recs[0], Cause: errors.New("bad")}}}
	if err := Settle(ctx, l, nil, sinktest.Logger(), env.Prefix, "settle", "settle row", b2, outage); err == nil {
		t.Fatal("an outage was settled")
	}
	if q := env.Consume(t, topics.Quarantine.Name(env.Prefix), 3, 2*time.Second); len(q) != 2 {
		t.Errorf("quarantine has %d records after the outage, want still 2", len(q))
	}
}
