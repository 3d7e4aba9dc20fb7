package statuspage

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/groupadmin"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/topics"
)

// discover starts following every topic that exists and is not followed
// yet (the regime table appears only once the regime processor ran).
func (c *Collector) discover(ctx context.Context, cl *kgo.Client, adm *kadm.Client) error {
	var missing []follow
	for _, f := range c.st.n.follows(c.cfg.Quarantine) {
		if !c.st.isFollowing(f.topic) {
			missing = append(missing, f)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	add := map[string]map[int32]kgo.Offset{}
	for _, f := range missing {
		// A topic that does not exist yet, or a partition whose offsets
		// the broker cannot give now (a Kafka error code), is tried again
		// at the next refresh; a failed request is this section's error.
		t, err := kclient.TailOffsets(ctx, adm, f.topic, f.tail)
		var kerrCode *kerr.Error
		switch {
		case errors.As(err, &kerrCode):
			continue
		case err != nil:
			return err
		}
		from, ok := t.Offsets(), true
		if f.topic == c.st.n.quarantine {
			// Quarantine growth and refused control records need the
			// last hour, not only the newest records shown.
			after, err := adm.ListOffsetsAfterMilli(ctx, time.Now().Add(-lookback).UnixMilli(), f.topic)
			if err != nil {
				return fmt.Errorf("listing offsets of the last %s of %s: %w", lookback, f.topic, err)
			}
			from, ok = sinceOffsets(from, t.End, after[f.topic])
		}
		if ok {
			add[f.topic] = from
		}
	}
	if len(add) > 0 {
		cl.AddConsumePartitions(add)
		for t := range add {
			c.st.setFollowing(t)
		}
	}
	return nil
}

// sinceOffsets moves each partition's start back to the first record of
// the lookback (after), but no further than maxScan records before its
// end. ok is false while any partition's offset is unknown.
func sinceOffsets(from map[int32]kgo.Offset, ends map[int32]int64, after map[int32]kadm.ListedOffset) (map[int32]kgo.Offset, bool) {
	out := make(map[int32]kgo.Offset, len(from))
	for p, o := range from {
		a, ok := after[p]
		if !ok || a.Err != nil {
			return nil, false
		}
		tail := o.EpochOffset().Offset
		at := a.Offset
		if at < 0 { // nothing after: the end
			at = ends[p]
		}
		at = max(at, ends[p]-maxScan)
		out[p] = kgo.NewOffset().At(min(tail, at))
	}
	return out, true
}

// KraiteGroups keeps the consumer groups of this deployment: those the
// catalog declares under this prefix (topics.LookupGroup: topics.Groups
// and a running `kraite rebuild`'s groups, topics.RebuildGroup). Another deployment's groups (another prefix)
// and foreign tools' groups are left out. The scheduler's group is left
// out too: it only elects the leader (it reads the lease topic directly and
// commits nothing), so its "lag" would be the whole lease topic, which
// means nothing. Sorted.
func KraiteGroups(groups []string, prefix string) []string {
	var out []string
	for _, g := range groups {
		if !strings.HasPrefix(g, prefix) {
			continue
		}
		if spec, known := topics.LookupGroup(prefix, g); known && !spec.Elects {
			out = append(out, g)
		}
	}
	sort.Strings(out)
	return out
}

func (c *Collector) refreshLag(ctx context.Context, adm *kadm.Client) error {
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("listing groups: %w", err)
	}
	groups := KraiteGroups(listed.Groups(), c.cfg.Prefix)
	if len(groups) == 0 {
		c.st.setLag(nil, time.Now())
		return nil
	}
	sts, err := groupadmin.Status(ctx, adm, groups...)
	if err != nil {
		return err
	}
	c.st.setLag(sts, time.Now())
	return nil
}

func (c *Collector) refreshQuarantineTotal(ctx context.Context, adm *kadm.Client) error {
	topic := c.st.n.quarantine
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return fmt.Errorf("listing end offsets of %s: %w", topic, err)
	}
	var (
		n    int64
		errs []error
	)
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Errorf("end offset of %s/%d: %w", o.Topic, o.Partition, o.Err))
			return
		}
		n += o.Offset
	})
	if err := errors.Join(errs...); err != nil {
		return err
	}
	c.st.setQuarantineTotal(n)
	return nil
}

// driftRow is a position whose observed amount has disagreed with the
// exchange's for longer than the grace.
type driftRow struct {
	exchange, account, symbol, side string
	amount, exchangeAmount          string
	since                           int64 // ms
}

// maxDrifts bounds the drifting positions read per refresh (all are counted).
const maxDrifts = 20

// driftSQL and driftCountSQL are constant SQL with one bound parameter.
const (
	driftSQL = "SELECT exchange, account, symbol, position_side, amount, COALESCE(exchange_amount, ''), drift_since " +
		"FROM positions WHERE drift_since > 0 AND drift_since <= ? ORDER BY drift_since, exchange, account, symbol LIMIT 20"
	driftCountSQL = "SELECT COUNT(*) FROM positions WHERE drift_since > 0 AND drift_since <= ?"
)

func (c *Collector) refreshDrifts(ctx context.Context) error {
	now := time.Now()
	rows, n, err := queryDrifts(ctx, c.cfg.DB, now.Add(-c.cfg.DriftGrace))
	if err != nil {
		return err
	}
	c.st.setDrifts(rows, n, now)
	return nil
}

func queryDrifts(ctx context.Context, d *db.DB, cut time.Time) ([]driftRow, int64, error) {
	var n int64
	if err := d.QueryRowContext(ctx, d.Rebind(driftCountSQL), cut.UnixMilli()).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("counting drifting positions: %w", err)
	}
	if n == 0 {
		return nil, 0, nil
	}
	rows, err := d.QueryContext(ctx, d.Rebind(driftSQL), cut.UnixMilli())
	if err != nil {
		return nil, 0, fmt.Errorf("reading drifting positions: %w", err)
	}
	defer rows.Close()
	var out []driftRow
	for rows.Next() {
		var r driftRow
		if err := rows.Scan(&r.exchange, &r.account, &r.symbol, &r.side, &r.amount, &r.exchangeAmount, &r.since); err != nil {
			return nil, 0, fmt.Errorf("reading drifting positions: %w", err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, 0, fmt.Errorf("reading drifting positions: %w", err)
	}
	return out, n, nil
}

// venueRow is the mark-price state of one venue in exchange_symbols.
type venueRow struct {
	venue   string
	symbols int64
	priced  int64
	newest  time.Time // zero when no row has a price yet
}

// venuesSQL is constant SQL: nothing from outside becomes SQL text.
const venuesSQL = "SELECT exchange, COUNT(*), COUNT(mark_price), MAX(mark_price_synced_at) " +
	"FROM exchange_symbols GROUP BY exchange ORDER BY exchange"

func (c *Collector) refreshVenues(ctx context.Context) error {
	rows, err := queryVenues(ctx, c.cfg.DB)
	if err != nil {
		return err
	}
	c.st.setVenues(rows, time.Now())
	return nil
}

func queryVenues(ctx context.Context, d *db.DB) ([]venueRow, error) {
	rows, err := d.QueryContext(ctx, venuesSQL)
	if err != nil {
		return nil, fmt.Errorf("reading mark-price freshness from exchange_symbols: %w", err)
	}
	defer rows.Close()
	var out []venueRow
	for rows.Next() {
		var (
			v  venueRow
			nt db.NullTime
		)
		if err := rows.Scan(&v.venue, &v.symbols, &v.priced, &nt); err != nil {
			return nil, fmt.Errorf("reading mark-price freshness from exchange_symbols: %w", err)
		}
		if nt.Valid {
			v.newest = nt.Time
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading mark-price freshness from exchange_symbols: %w", err)
	}
	return out, nil
}
