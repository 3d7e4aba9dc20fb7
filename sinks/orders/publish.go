package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// publishPending publishes unpublished outbox rows in id order and marks
// them published. A failure is logged and retried after the next batch (or
// on the next start); consumers of the positions topic may see a transition
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
func (s *Sink) publishOnce(ctx context.Context, limit int) (int, error) {
	q := s.db.Rebind(fmt.Sprintf("SELECT id, payload FROM order_outbox WHERE published_at IS NULL ORDER BY id LIMIT %d", limit))
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("reading pending transitions: %w", err)
	}
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
			rows.Close()
			return 0, fmt.Errorf("reading pending transitions: %w", err)
		}
		ids = append(ids, id)
		for line := range strings.SplitSeq(payload, "\n") {
			var key struct {
				Account string `json:"account"`
			}
			if err := json.Unmarshal([]byte(line), &key); err != nil {
				rows.Close()
				return 0, fmt.Errorf("reading outbox row %d: %w", id, err)
			}
			recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(key.Account), Value: []byte(line)})
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading pending transitions: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	if err := s.loop.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("producing %d transitions: %w", len(recs), err)
	}
	mark := s.db.Rebind("UPDATE order_outbox SET published_at = ? WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")")
	if _, err := s.db.ExecContext(ctx, mark, append([]any{time.Now().UTC()}, ids...)...); err != nil {
		return 0, fmt.Errorf("marking %d outbox rows published: %w", len(ids), err)
	}
	return len(ids), nil
}
