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
//     successful sweep) also GET /fapi/v1/allOrders over the window for
//     every symbol the account is known to trade (the endpoint needs a
//     symbol): the database's symbols, the open orders' and the open
//     positions' (GET /fapi/v2/account), and the symbols of the window's
//     income (GET /fapi/v1/income, 30 weight a page of 1,000, the one
//     history that lists every symbol: an order filled and closed while its
//     frames were lost, in a symbol the account holds nothing else in,
//     leaves no open order or position behind but pays commission or
//     realizes profit); likewise
//     GET /fapi/v1/allAlgoOrders. Orders and algo orders opened and closed
//     entirely while their frames were lost appear nowhere else. This costs
//     10 weight per symbol and 7-day window; with many accounts the
//     client's budget paces the sweep. An order that never filled, in a
//     symbol the account has nothing else in, leaves no trace any read
//     without its symbol can find.
//
// # Never forgetting a window
//
// A periodic sweep reads from the end of the account's last successful
// sweep (its sync point, in order_sync_state), not from its own scheduled
// time: frames lost at T followed by a REST outage of any length are read
// once REST answers again. A long window is walked in windows the exchange
// accepts (under 7 days, a full page of 1000 split in halves); a window
// older than the exchange keeps (90 days) is reported, logged and raised as
// a drift alert, never silently skipped. A sync point that cannot be right
// (ahead of the exchange's clock, absurdly old) is ignored and logged; the
// sweep then reads the fallback look-back. The sync point advances only
// after a sweep's frames and alerts are durable (see OrderSyncHandler).
//
// The REST client keeps the weight budget (a worker's waits at
// binanceapi.BackgroundBudget of the IP's minute limit and never calls
// during a 418 ban); a 429 fails the sync, and the worker retries it with
// backoff. A history read of one symbol the exchange refuses on its merits
// (a delisted contract) is reported, not retried, and the sync goes on.
package reconcile

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/internal/validate"
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

	// The exchange's history limits; zero means the default (see
	// DefaultMaxWindow, DefaultPageLimit, DefaultHistory, DefaultOverlap).
	MaxWindow time.Duration // longest window of one allOrders request
	PageLimit int           // limit of one history request (1..1000)
	History   time.Duration // how far back the exchange keeps orders
	Overlap   time.Duration // how far before the sync point a sweep starts
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
	// FromMs and UntilMs are the window of order history read, in exchange
	// time (zero when none was). UntilMs is the server time read before
	// the sync's reads: what a sweep's sync point becomes.
	FromMs  int64 `json:",omitempty"`
	UntilMs int64 `json:",omitempty"`
	// SyncPoint says where a sweep's window started and why.
	SyncPoint string `json:",omitempty"`
	// HistoryLost names the part of the window the exchange no longer
	// keeps: orders there may be missing from the database for good.
	HistoryLost string `json:",omitempty"`
	// Truncated lists history windows still answering a full page at a
	// second's width: items there may be missing.
	Truncated []string `json:",omitempty"`
	// IncomeSymbols are the symbols only the window's commissions named
	// (no stored order, open order or position did).
	IncomeSymbols []string `json:",omitempty"`
}

// NeedsAlert is true when the sync found something it cannot repair: an
// order the exchange does not know, history the exchange no longer keeps,
// a truncated history window.
func (r Report) NeedsAlert() bool {
	return len(r.UnknownToBroker) > 0 || r.HistoryLost != "" || len(r.Truncated) > 0
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
	return r.sync(ctx, acct, func(context.Context, int64, *Report) (int64, error) {
		if since.IsZero() {
			return 0, nil
		}
		return since.UnixMilli(), nil
	})
}

// startFunc picks the start of a sync's history window (exchange ms; 0
// for none), given the exchange's time before the sync's reads.
type startFunc func(ctx context.Context, readAt int64, rep *Report) (int64, error)

func (r *Reconciler) sync(ctx context.Context, acct Account, start startFunc) (Report, error) {
	rep := Report{Account: acct.ID}
	readAt, err := r.serverTime(ctx)
	if err != nil {
		return rep, err
	}
	from, err := start(ctx, readAt, &rep)
	if err != nil {
		return rep, err
	}
	var exOpen []binanceapi.Order
	if err := r.REST.Signed(ctx, "GET", "/fapi/v1/openOrders", acct.Key, nil, &exOpen); err != nil {
		return rep, fmt.Errorf("reading open orders of %s: %w", acct.ID, err)
	}
	var exAlgos []binanceapi.AlgoOrder
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
	if from != 0 {
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
		w := span{r.bound(acct.ID, from, readAt, &rep), readAt}
		traded, err := r.tradedSymbols(ctx, acct, w, &rep)
		if err != nil {
			return rep, err
		}
		for _, sym := range traded {
			if !symbols[sym] {
				symbols[sym] = true
				rep.IncomeSymbols = append(rep.IncomeSymbols, sym)
			}
		}
		fs, err := r.window(ctx, acct, symbols, w, seenOrder, seenAlgo, dbAll, readAt, &rep)
		if err != nil {
			return rep, err
		}
		frames = append(frames, fs...)
		rep.SymbolsScanned, rep.FromMs, rep.UntilMs = len(symbols), w.from, w.to
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
		kind := orderstatus.KindOrder
		if k.algo {
			kind = orderstatus.KindAlgo
		}
		if orderstatus.Open(kind, d.status) {
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
		var g binanceapi.AlgoOrder
		if err := r.REST.Signed(ctx, "GET", "/fapi/v1/algoOrder", acct.Key, p, &g); err != nil {
			return nil, fmt.Errorf("reading algo order %d of %s: %w", k.id, acct.ID, err)
		}
		return algoFrame(g, readAt), nil
	}
	p.Set("orderId", itoa(k.id))
	var o binanceapi.Order
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

// maxIncomePages bounds the income pages one sync reads (1,000 entries
// each, 30 weight): 20,000 entries in one window is far beyond what a gap
// or a sweep period holds; past it the window is reported truncated.
const maxIncomePages = 20

// incomeEntry is what the sync reads of an income entry: only its symbol
// and time, so a change in a field it does not use cannot fail the sync.
type incomeEntry struct {
	Symbol string `json:"symbol"`
	Time   int64  `json:"time"`
}

// tradedSymbols lists the symbols of the account's income in w (GET
// /fapi/v1/income, every symbol and every type at once, oldest first: a
// fill's commission, a closing fill's realized profit even when the fee
// was zero, a held position's funding), page by page. Whatever it cannot
// read completely is reported in rep.Truncated (a drift alert), never
// skipped silently: a page past the window or going backwards, over 1,000
// entries in one ms, a symbol that is not one, more pages than
// maxIncomePages, a read refused on its merits.
func (r *Reconciler) tradedSymbols(ctx context.Context, acct Account, w span, rep *Report) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	dropped := 0
	for from, page := w.from, 0; from <= w.to; page++ {
		if page == maxIncomePages {
			rep.Truncated = append(rep.Truncated, fmt.Sprintf("income %d..%d (over %d entries)", from, w.to, maxIncomePages*1000))
			break
		}
		q := url.Values{"startTime": {strconv.FormatInt(from, 10)}, "endTime": {strconv.FormatInt(w.to, 10)}, "limit": {"1000"}}
		var got []incomeEntry
		if err := r.REST.Signed(ctx, "GET", "/fapi/v1/income", acct.Key, q, &got); err != nil {
			if binanceapi.IsPermanent(err) {
				// Refused on its merits (a key without the permission, an
				// exchange without the endpoint): no retry can help, and
				// the rest of the sync still can.
				rep.Truncated = append(rep.Truncated, fmt.Sprintf("income %d..%d unreadable: %v", from, w.to, err))
				break
			}
			return nil, fmt.Errorf("reading the income of %s: %w", acct.ID, err)
		}
		if len(got) > 1000 {
			rep.Truncated = append(rep.Truncated, fmt.Sprintf("income %d..%d: %d entries in a page of at most 1000", from, w.to, len(got)))
			break
		}
		for _, in := range got {
			switch {
			case in.Symbol == "" || seen[in.Symbol]: // a transfer; a symbol already listed
			case !validSymbol(in.Symbol):
				dropped++
			default:
				seen[in.Symbol] = true
				out = append(out, in.Symbol)
			}
		}
		if len(got) < 1000 {
			break
		}
		last := got[len(got)-1].Time
		if last > w.to || last < from {
			rep.Truncated = append(rep.Truncated, fmt.Sprintf("income %d..%d: a full page ends at %d, outside the window", from, w.to, last))
			break
		}
		if last == from {
			rep.Truncated = append(rep.Truncated, fmt.Sprintf("income at %d: over 1000 entries in one ms", from))
			last = from + 1
		}
		from = last
	}
	if dropped > 0 {
		rep.Truncated = append(rep.Truncated, fmt.Sprintf("income: %d entries name a symbol that is not one", dropped))
	}
	slices.Sort(out)
	return out, nil
}

// validSymbol is what a USD-M symbol looks like (validate.Symbol: BTCUSDT,
// 1000PEPEUSDT, BTCUSDT_250328, 币安人生USDT): an answer's garbage symbol
// must not become a history read.
func validSymbol(s string) bool { return validate.Symbol(s) == nil }

// positions reads the account's open positions (5 weight).
func (r *Reconciler) positions(ctx context.Context, acct Account) ([]topics.ExchangePosition, error) {
	var info struct {
		Positions []binanceapi.AccountPosition `json:"positions"`
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

// bound keeps a window's start within what the exchange can answer: not
// after its clock, not older than its history (said loudly: the orders
// there are lost to the sweep).
func (r *Reconciler) bound(account string, from, readAt int64, rep *Report) int64 {
	if from > readAt {
		r.Log.Warn("an order-sync window starts after the exchange's time: reading the overlap only",
			"account", account, "from_ms", from, "exchange_time_ms", readAt)
		from = readAt - r.overlap().Milliseconds()
	}
	oldest := readAt - r.history().Milliseconds()
	switch {
	case from < oldest:
		rep.HistoryLost = fmt.Sprintf("orders updated from %s to %s are older than the exchange's %s of history and cannot be read",
			time.UnixMilli(from).UTC().Format(time.RFC3339), time.UnixMilli(oldest).UTC().Format(time.RFC3339), r.history())
		r.Log.Error("the order-sync window reaches beyond the exchange's history: orders there may be missing for good",
			"account", account, "from_ms", from, "oldest_ms", oldest)
		return oldest
	case readAt-from > unfilledCancelsKept.Milliseconds():
		r.Log.Warn("the order-sync window is longer than 3 days: orders canceled or expired without a fill are no longer listed after 3 days",
			"account", account, "from_ms", from, "exchange_time_ms", readAt)
	}
	return from
}

// window reads every order and algo order updated in w, per symbol
// (allOrders and allAlgoOrders, 5 weight each per window), and returns the
// frames of those the database does not already agree with.
func (r *Reconciler) window(ctx context.Context, acct Account, symbols map[string]bool, w span,
	skip, skipAlgo map[int64]bool, stored map[key]dbOrder, readAt int64, rep *Report) ([][]byte, error) {
	list := make([]string, 0, len(symbols))
	for s := range symbols {
		list = append(list, s)
	}
	sort.Strings(list)
	var frames [][]byte
	for _, sym := range list {
		truncated := func(path string) func(span) {
			return func(s span) {
				rep.Truncated = append(rep.Truncated, fmt.Sprintf("%s %s %d-%d", path, sym, s.from, s.to))
				r.Log.Error("an order history window is still a full page at a second's width: items may be missing",
					"account", acct.ID, "symbol", sym, "path", path, "from_ms", s.from, "to_ms", s.to)
			}
		}
		orders, algos := map[int64]binanceapi.Order{}, map[int64]binanceapi.AlgoOrder{}
		for _, win := range windows(w.from, w.to, r.maxWindow()) {
			if err := readHistory(ctx, r, acct, "/fapi/v1/allOrders", sym, win, func(page []binanceapi.Order) {
				for _, o := range page {
					if prev, ok := orders[o.OrderID]; !ok || o.UpdateTime >= prev.UpdateTime {
						orders[o.OrderID] = o
					}
				}
			}, truncated("allOrders")); err != nil {
				if !unreadable(rep, "allOrders", sym, err) {
					return nil, err
				}
				break
			}
			// Algo orders opened and closed entirely while frames were lost
			// are in no open list either.
			if err := readHistory(ctx, r, acct, "/fapi/v1/allAlgoOrders", sym, win, func(page []binanceapi.AlgoOrder) {
				for _, g := range page {
					if prev, ok := algos[g.AlgoID]; !ok || g.UpdateTime >= prev.UpdateTime {
						algos[g.AlgoID] = g
					}
				}
			}, truncated("allAlgoOrders")); err != nil {
				if !unreadable(rep, "allAlgoOrders", sym, err) {
					return nil, err
				}
				break
			}
		}
		for _, id := range sortedKeys(orders) {
			o := orders[id]
			d, ok := stored[key{false, id}]
			if skip[id] || (ok && d.status == o.Status && binance.SameDecimal(d.cumQty, o.ExecutedQty)) {
				continue // already published above, or the database already agrees
			}
			frames = append(frames, orderFrame(o, readAt))
		}
		for _, id := range sortedKeys(algos) {
			g := algos[id]
			d, ok := stored[key{true, id}]
			if skipAlgo[id] || (ok && d.status == g.AlgoStatus) {
				continue
			}
			frames = append(frames, algoFrame(g, readAt))
		}
	}
	return frames, nil
}

// unreadable records a history read of one symbol the exchange refused on
// its merits (-1121: a delisted or settled contract the database or the
// commissions still name) and reports true: no retry can read it, and the
// sync goes on with the other symbols, the report naming what it could not
// read (a drift alert), where failing would stop the account's every sweep
// on that symbol. Any other error is false: the sync fails and is retried.
func unreadable(rep *Report, path, sym string, err error) bool {
	if !binanceapi.IsPermanent(err) {
		return false
	}
	rep.Truncated = append(rep.Truncated, fmt.Sprintf("%s %s unreadable: %v", path, sym, err))
	return true
}

func sortedKeys[V any](m map[int64]V) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
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
