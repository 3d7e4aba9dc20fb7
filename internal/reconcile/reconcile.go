// Package reconcile is the order-sync safety net and gap backfill: it
// compares what the database holds for an account with what the exchange's
// REST API says, and publishes every missing or stale state to the
// user-data-stream topic as a frame with kind=backfill and source=backfill,
// so recovered events take exactly the path streamed ones take (dispatch,
// allowlist, orders sink and its forward-only guard). Nothing is written to
// the database from here.
//
// # What one sync asks
//
//   - GET /fapi/v1/openOrders and /fapi/v1/openAlgoOrders (40 weight each
//     without a symbol): every open order the database lacks or holds in
//     another state is published.
//   - For every order (and algo order) the database holds open that the
//     exchange no longer lists as open: GET /fapi/v1/order (algoOrder), 1
//     weight each, and its final state is published.
//   - For a window (a gap without a socket, or the time since the previous
//     sweep) also GET /fapi/v1/allOrders from the window's start for every
//     symbol the account is known to trade (the endpoint needs a symbol):
//     the database's symbols, the open orders' and the open positions'
//     (GET /fapi/v2/account); likewise GET /fapi/v1/allAlgoOrders. Orders
//     and algo orders opened and closed entirely while their frames were
//     lost appear nowhere else. This costs 10 weight per symbol; with many
//     accounts the client's budget paces the sweep.
//
// The REST client keeps the weight budget (it waits before 80% of the
// minute's limit and never calls during a 418 ban); a 429 fails the sync,
// and the worker retries it with backoff.
package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/topics"
)

// Account is what a sync needs to know about an account.
type Account struct {
	ID  string
	Key binanceapi.Credentials
}

// Reconciler syncs accounts of one exchange.
type Reconciler struct {
	Exchange string
	Prefix   string
	REST     *binanceapi.Client
	DB       *db.DB
	Producer *kgo.Client
	Log      *slog.Logger
}

// Report says what one sync found.
type Report struct {
	Account         string
	ExchangeOpen    int
	DatabaseOpen    int
	Published       int
	SymbolsScanned  int
	UnknownToBroker []string // orders the database holds that the exchange does not know
	// Positions are the account's open positions as GET /fapi/v2/account
	// listed them (read on sweeps with a window), at the exchange time
	// PositionsAtMs (the server time read before the sync's reads).
	Positions     []topics.ExchangePosition `json:",omitempty"`
	PositionsRead bool                      `json:"-"`
	PositionsAtMs int64                     `json:",omitempty"`
}

type dbOrder struct {
	id       int64
	symbol   string
	status   string
	cumQty   string
	isAlgo   bool
	algoStat string
}

// Sync reconciles one account. since, when not zero, is the start of a gap:
// orders updated since then are also read per symbol.
func (r *Reconciler) Sync(ctx context.Context, acct Account, since time.Time) (Report, error) {
	rep := Report{Account: acct.ID}
	readAt, err := r.serverTime(ctx)
	if err != nil {
		return rep, err
	}
	var exOpen []restOrder
	if err := r.REST.Signed(ctx, "GET", "/fapi/v1/openOrders", acct.Key, nil, &exOpen); err != nil {
		return rep, fmt.Errorf("reading open orders of %s: %w", acct.ID, err)
	}
	var exAlgos []restAlgo
	if err := r.REST.Signed(ctx, "GET", "/fapi/v1/openAlgoOrders", acct.Key, nil, &exAlgos); err != nil {
		return rep, fmt.Errorf("reading open algo orders of %s: %w", acct.ID, err)
	}
	dbAll, symbols, err := r.stored(ctx, acct.ID)
	if err != nil {
		return rep, err
	}
	dbOpen := openOnly(dbAll)
	rep.ExchangeOpen, rep.DatabaseOpen = len(exOpen)+len(exAlgos), len(dbOpen)

	var frames [][]byte
	seenOrder, seenAlgo := map[int64]bool{}, map[int64]bool{}
	for _, o := range exOpen {
		seenOrder[o.OrderID] = true
		symbols[o.Symbol] = true
		if d, ok := dbOpen[key{false, o.OrderID}]; !ok || d.status != o.Status || !binance.SameDecimal(d.cumQty, o.ExecutedQty) {
			frames = append(frames, orderFrame(o, readAt))
		}
	}
	for _, g := range exAlgos {
		seenAlgo[g.AlgoID] = true
		if d, ok := dbOpen[key{true, g.AlgoID}]; !ok || d.status != g.AlgoStatus {
			frames = append(frames, algoFrame(g, readAt))
		}
	}
	// Open in the database, no longer open on the exchange: read the final state.
	for k, d := range dbOpen {
		if (!k.algo && seenOrder[k.id]) || (k.algo && seenAlgo[k.id]) {
			continue
		}
		f, err := r.final(ctx, acct, k, d.symbol, readAt)
		if err != nil {
			var ae *binanceapi.APIError
			if errors.As(err, &ae) && (ae.Code == -2013 || ae.Code == -2011) {
				rep.UnknownToBroker = append(rep.UnknownToBroker, fmt.Sprintf("%s %d", d.symbol, k.id))
				continue
			}
			return rep, err
		}
		frames = append(frames, f)
	}
	if !since.IsZero() {
		// Open positions name symbols the database may never have seen
		// (an account's first order in a symbol, entirely lost).
		ps, err := r.positions(ctx, acct)
		if err != nil {
			return rep, err
		}
		for _, p := range ps {
			symbols[p.Symbol] = true
		}
		rep.Positions, rep.PositionsRead, rep.PositionsAtMs = ps, true, readAt
		fs, n, err := r.window(ctx, acct, symbols, since, seenOrder, seenAlgo, dbAll, readAt)
		if err != nil {
			return rep, err
		}
		frames = append(frames, fs...)
		rep.SymbolsScanned = n
	}
	if err := r.publish(ctx, acct.ID, frames); err != nil {
		return rep, err
	}
	rep.Published = len(frames)
	return rep, nil
}

type key struct {
	algo bool
	id   int64
}

// openOnly keeps the orders and algo orders that are still open.
func openOnly(all map[key]dbOrder) map[key]dbOrder {
	out := map[key]dbOrder{}
	for k, d := range all {
		switch {
		case !k.algo && (d.status == "NEW" || d.status == "PARTIALLY_FILLED"):
			out[k] = d
		case k.algo && (d.status == "NEW" || d.status == "TRIGGERING" || d.status == "TRIGGERED"):
			out[k] = d
		}
	}
	return out
}

// stored returns the account's orders and algo orders in the database, and
// every symbol the account has orders in.
func (r *Reconciler) stored(ctx context.Context, account string) (map[key]dbOrder, map[string]bool, error) {
	out := map[key]dbOrder{}
	symbols := map[string]bool{}
	q := r.DB.Rebind("SELECT order_id, symbol, status, cum_qty FROM orders WHERE exchange = ? AND account = ?")
	if err := r.scan(ctx, q, account, func(rows *sql.Rows) error {
		var d dbOrder
		if err := rows.Scan(&d.id, &d.symbol, &d.status, &d.cumQty); err != nil {
			return err
		}
		symbols[d.symbol] = true
		out[key{false, d.id}] = d
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("reading stored orders of %s: %w", account, err)
	}
	q = r.DB.Rebind("SELECT algo_id, symbol, status FROM algo_orders WHERE exchange = ? AND account = ?")
	if err := r.scan(ctx, q, account, func(rows *sql.Rows) error {
		d := dbOrder{isAlgo: true}
		if err := rows.Scan(&d.id, &d.symbol, &d.status); err != nil {
			return err
		}
		symbols[d.symbol] = true
		out[key{true, d.id}] = d
		return nil
	}); err != nil {
		return nil, nil, fmt.Errorf("reading stored algo orders of %s: %w", account, err)
	}
	return out, symbols, nil
}

func (r *Reconciler) scan(ctx context.Context, q, account string, fn func(*sql.Rows) error) error {
	rows, err := r.DB.QueryContext(ctx, q, r.Exchange, account)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := fn(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// final reads the current state of one order the database holds open.
func (r *Reconciler) final(ctx context.Context, acct Account, k key, symbol string, readAt int64) ([]byte, error) {
	p := url.Values{}
	p.Set("symbol", symbol)
	if k.algo {
		p.Set("algoId", itoa(k.id))
		var g restAlgo
		if err := r.REST.Signed(ctx, "GET", "/fapi/v1/algoOrder", acct.Key, p, &g); err != nil {
			return nil, fmt.Errorf("reading algo order %d of %s: %w", k.id, acct.ID, err)
		}
		return algoFrame(g, readAt), nil
	}
	p.Set("orderId", itoa(k.id))
	var o restOrder
	if err := r.REST.Signed(ctx, "GET", "/fapi/v1/order", acct.Key, p, &o); err != nil {
		return nil, fmt.Errorf("reading order %d of %s: %w", k.id, acct.ID, err)
	}
	return orderFrame(o, readAt), nil
}

// serverTime is the exchange's clock before any read of this sync (1 weight).
func (r *Reconciler) serverTime(ctx context.Context) (int64, error) {
	var t struct {
		ServerTime int64 `json:"serverTime"`
	}
	if err := r.REST.Public(ctx, "/fapi/v1/time", nil, &t); err != nil {
		return 0, fmt.Errorf("reading the exchange time: %w", err)
	}
	return t.ServerTime, nil
}

// positions reads the account's open positions (5 weight).
func (r *Reconciler) positions(ctx context.Context, acct Account) ([]topics.ExchangePosition, error) {
	var info struct {
		Positions []struct {
			Symbol       string `json:"symbol"`
			PositionAmt  string `json:"positionAmt"`
			EntryPrice   string `json:"entryPrice"`
			PositionSide string `json:"positionSide"`
		} `json:"positions"`
	}
	if err := r.REST.Signed(ctx, "GET", "/fapi/v2/account", acct.Key, nil, &info); err != nil {
		return nil, fmt.Errorf("reading positions of %s: %w", acct.ID, err)
	}
	var out []topics.ExchangePosition
	for _, p := range info.Positions {
		if amt, err := strconv.ParseFloat(p.PositionAmt, 64); err == nil && amt != 0 {
			out = append(out, topics.ExchangePosition{Symbol: p.Symbol, PositionSide: p.PositionSide,
				Amount: p.PositionAmt, EntryPrice: p.EntryPrice})
		}
	}
	return out, nil
}

// window reads every order and algo order updated since the gap's start,
// per symbol (allOrders and allAlgoOrders, 5 weight each).
func (r *Reconciler) window(ctx context.Context, acct Account, symbols map[string]bool, since time.Time,
	skip, skipAlgo map[int64]bool, stored map[key]dbOrder, readAt int64) ([][]byte, int, error) {
	list := make([]string, 0, len(symbols))
	for s := range symbols {
		list = append(list, s)
	}
	sort.Strings(list)
	var frames [][]byte
	for _, sym := range list {
		p := url.Values{}
		p.Set("symbol", sym)
		p.Set("startTime", itoa(since.UnixMilli()))
		p.Set("limit", "1000")
		var os []restOrder
		if err := r.REST.Signed(ctx, "GET", "/fapi/v1/allOrders", acct.Key, p, &os); err != nil {
			return nil, 0, fmt.Errorf("reading orders of %s in %s since the gap: %w", acct.ID, sym, err)
		}
		for _, o := range os {
			d, ok := stored[key{false, o.OrderID}]
			if skip[o.OrderID] || (ok && d.status == o.Status && binance.SameDecimal(d.cumQty, o.ExecutedQty)) {
				continue // already published above, or the database already agrees
			}
			frames = append(frames, orderFrame(o, readAt))
		}
		// Algo orders opened and closed entirely while frames were lost are
		// in no open list either.
		var gs []restAlgo
		if err := r.REST.Signed(ctx, "GET", "/fapi/v1/allAlgoOrders", acct.Key, p, &gs); err != nil {
			return nil, 0, fmt.Errorf("reading algo orders of %s in %s since the gap: %w", acct.ID, sym, err)
		}
		for _, g := range gs {
			d, ok := stored[key{true, g.AlgoID}]
			if skipAlgo[g.AlgoID] || (ok && d.status == g.AlgoStatus) {
				continue
			}
			frames = append(frames, algoFrame(g, readAt))
		}
	}
	return frames, len(list), nil
}

// publish produces frames to the account's partition as backfill, and waits
// for the acknowledgements: a sync is done only when its frames are durable.
func (r *Reconciler) publish(ctx context.Context, account string, frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}
	now := time.Now()
	recs := make([]*kgo.Record, len(frames))
	for i, f := range frames {
		recs[i] = &kgo.Record{
			Topic:   topics.UserDataStream.Name(r.Prefix),
			Key:     []byte(account),
			Value:   f,
			Headers: topics.FrameHeaders(r.Exchange, account, "", topics.KindBackfill, topics.SourceBackfill, now),
		}
	}
	if err := r.Producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("publishing %d backfill frames for %s: %w", len(frames), account, err)
	}
	r.Log.Info("backfilled", "account", account, "frames", len(frames))
	return nil
}
