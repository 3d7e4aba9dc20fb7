package orders

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/topics"
)

// publishEvery is how often the publisher looks for outbox rows no batch
// of this member announced: rows of other members or of a previous run,
// and rows of a round that failed.
const publishEvery = time.Second

// drainTimeout bounds the last publishing round when the sink stops.
const drainTimeout = 10 * time.Second

// publisher publishes the outbox off the write cycle: its own goroutine
// runs a round whenever a batch wrote transitions (kick) and every
// publishEvery. A round claims rows as publishOnce describes, so the
// rounds of several members, and of this member's successive rounds,
// publish every row once and in id order; a batch's rows get their ids
// when its transaction runs, after every earlier batch of the same
// partition (and so of the same account) committed, so id order keeps
// each account's transitions in order.
type publisher struct {
	kick chan struct{}
	stop chan struct{}
	done chan struct{}
}

// startPublisher starts the publisher on a context that the caller's
// cancellation does not cancel (a round in flight finishes: a cancelled
// produce could leave records sent but their rows unmarked); stop ends it
// between rounds.
func (s *Sink) startPublisher(ctx context.Context) (stop func(drain bool)) {
	p := &publisher{kick: s.pubKick, stop: make(chan struct{}), done: make(chan struct{})}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	go func() {
		defer close(p.done)
		t := time.NewTicker(publishEvery)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-p.kick:
			case <-t.C:
			}
			s.publishPending(pctx)
		}
	}()
	var once sync.Once
	return func(drain bool) {
		once.Do(func() {
			close(p.stop)
			timer := time.AfterFunc(drainTimeout, cancel)
			<-p.done
			if drain { // what the last batches wrote, before the client closes
				s.publishPending(pctx)
			}
			timer.Stop()
			cancel()
		})
	}
}

// kickPublisher tells the publisher that a batch wrote transitions.
func (s *Sink) kickPublisher() {
	select {
	case s.pubKick <- struct{}{}:
	default:
	}
}

// publishPending publishes unpublished outbox rows in id order and marks
// them published. A failure is logged and retried by the next round (or on
// the next start); consumers of the positions topic may see a transition
// twice only if we crash between the publish and the mark.
func (s *Sink) publishPending(ctx context.Context) {
	for {
		n, err := s.publishOnce(ctx, publishRows)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("publishing transitions", "err", err)
			}
			return
		}
		if n < publishRows {
			return
		}
	}
}

// publishRows is the number of outbox rows (each up to outboxRecords
// transitions) published per round.
const publishRows = 4

// publishOnce publishes up to limit outbox rows and returns how many rows
// it published.
//
// The members of the group share one database and each publishes after its
// own commits, so rows are claimed: the oldest unpublished rows are read
// FOR UPDATE (SQLite: its BEGIN IMMEDIATE transaction) and marked in the
// same transaction as they are produced. A second member waits for the
// claim, then finds those rows published: every row is produced once, in id
// order.
func (s *Sink) publishOnce(ctx context.Context, limit int) (int, error) {
	if s.cfg.DiscardTransitions {
		return 0, s.discardPending(ctx)
	}
	q := fmt.Sprintf("SELECT id, payload FROM order_outbox WHERE published_at IS NULL ORDER BY id LIMIT %d", limit)
	if s.db.Dialect != db.SQLite {
		q += " FOR UPDATE"
	}
	// READ COMMITTED (MySQL): the claim then locks the rows it reads and
	// no gap, so this member's write loop can append to the outbox while a
	// round produces (REPEATABLE READ's next-key lock past the last
	// unpublished row would hold its insert until the round commits).
	var opts *sql.TxOptions
	if s.db.Dialect == db.MySQL {
		opts = &sql.TxOptions{Isolation: sql.LevelReadCommitted}
	}
	var published int
	err := s.db.InTxWith(ctx, opts, func(tx *sql.Tx) error {
		ids, recs, err := s.pendingIn(ctx, tx, s.db.Rebind(q))
		if err != nil || len(ids) == 0 {
			return err
		}
		if err := s.loop.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
			return fmt.Errorf("producing %d transitions: %w", len(recs), err)
		}
		mark := s.db.Rebind("UPDATE order_outbox SET published_at = ? WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")")
		if _, err := tx.ExecContext(ctx, mark, append([]any{time.Now().UTC()}, ids...)...); err != nil {
			return fmt.Errorf("marking %d outbox rows published: %w", len(ids), err)
		}
		published = len(ids)
		return nil
	})
	return published, err
}

// pendingIn reads the claimed outbox rows and turns them into records.
func (s *Sink) pendingIn(ctx context.Context, tx *sql.Tx, q string) ([]any, []*kgo.Record, error) {
	rows, err := tx.QueryContext(ctx, q)
	if err != nil {
		return nil, nil, fmt.Errorf("reading pending transitions: %w", err)
	}
	defer rows.Close()
	var (
		ids  []any
		recs []*kgo.Record
	)
	topic := topics.Positions.Name(s.cfg.Prefix)
	for rows.Next() {
		var (
			id      int64
			payload string
		)
		if err := rows.Scan(&id, &payload); err != nil {
			return nil, nil, fmt.Errorf("reading pending transitions: %w", err)
		}
		ids = append(ids, id)
		for line := range strings.SplitSeq(payload, "\n") {
			var key struct {
				Account string `json:"account"`
			}
			if err := json.Unmarshal([]byte(line), &key); err != nil {
				return nil, nil, fmt.Errorf("reading outbox row %d: %w", id, err)
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key.Account), Value: []byte(line)})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("reading pending transitions: %w", err)
	}
	return ids, recs, nil
}

// discardPending marks every unpublished outbox row published without
// producing it (Config.DiscardTransitions).
func (s *Sink) discardPending(ctx context.Context) error {
	q := s.db.Rebind("UPDATE order_outbox SET published_at = ? WHERE published_at IS NULL")
	if _, err := s.db.ExecContext(ctx, q, time.Now().UTC()); err != nil {
		return fmt.Errorf("marking discarded transitions published: %w", err)
	}
	return nil
}
