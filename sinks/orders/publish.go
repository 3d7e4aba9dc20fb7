package orders

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/topics"
)

// publishPending publishes unpublished transitions in id order and marks
// them published. A failure is logged and retried after the next batch (or
// on the next start); consumers of the positions topic may see a transition
// twice only if we crash between the publish and the mark.
func (s *Sink) publishPending(ctx context.Context) {
	for {
		n, err := s.publishOnce(ctx, 500)
		if err != nil {
			if ctx.Err() == nil {
				s.log.Warn("publishing transitions", "err", err)
			}
			return
		}
		if n < 500 {
			return
		}
	}
}

func (s *Sink) publishOnce(ctx context.Context, limit int) (int, error) {
	q := s.db.Rebind(fmt.Sprintf("SELECT id, account, payload FROM order_transitions WHERE published_at IS NULL ORDER BY id LIMIT %d", limit))
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
			id               int64
			account, payload string
		)
		if err := rows.Scan(&id, &account, &payload); err != nil {
			rows.Close()
			return 0, fmt.Errorf("reading pending transitions: %w", err)
		}
		ids = append(ids, id)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(account), Value: []byte(payload)})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reading pending transitions: %w", err)
	}
	if len(recs) == 0 {
		return 0, nil
	}
	if err := s.loop.Client().ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return 0, fmt.Errorf("producing %d transitions: %w", len(recs), err)
	}
	mark := s.db.Rebind("UPDATE order_transitions SET published_at = ? WHERE id IN (" + strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ") + ")")
	if _, err := s.db.ExecContext(ctx, mark, append([]any{time.Now().UTC()}, ids...)...); err != nil {
		return 0, fmt.Errorf("marking %d transitions published: %w", len(ids), err)
	}
	return len(recs), nil
}
