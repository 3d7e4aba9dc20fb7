package chaos

import (
	"bufio"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/orderstatus"
	"github.com/kraite/stream/topics"
)

// Source is the simulator's ground truth (*simulator.Simulator is one).
type Source interface {
	Orders(account string) []simulator.Order
	AlgoOrders(account string) []simulator.AlgoOrder
	PushedFrames(account string) []simulator.Pushed
}

// Snapshot is the ground truth at one moment.
type Snapshot struct {
	Accounts []string
	Orders   map[string][]simulator.Order
	Algos    map[string][]simulator.AlgoOrder
	// Pushed is every user-data frame written to a socket; nil when the
	// frames are not known (a simulator in another process), and then
	// frames and fills are not compared.
	Pushed map[string][]simulator.Pushed
	// Positions are the exchange's positions when the source knows them
	// (PositionSource); nil otherwise, and then PositionsCheck compares
	// nothing.
	Positions map[string][]simulator.Position
}

// PositionSource is a Source that also knows the positions.
type PositionSource interface {
	Positions(account string) []simulator.Position
}

// SnapshotOf reads src for accounts; frames says whether to read the frame log.
func SnapshotOf(src Source, accounts []string, frames bool) Snapshot {
	s := Snapshot{Accounts: append([]string(nil), accounts...), Orders: map[string][]simulator.Order{},
		Algos: map[string][]simulator.AlgoOrder{}}
	if frames {
		s.Pushed = map[string][]simulator.Pushed{}
	}
	ps, hasPositions := src.(PositionSource)
	if hasPositions {
		s.Positions = map[string][]simulator.Position{}
	}
	for _, a := range accounts {
		s.Orders[a] = src.Orders(a)
		s.Algos[a] = src.AlgoOrders(a)
		if hasPositions {
			s.Positions[a] = ps.Positions(a)
		}
		if frames {
			s.Pushed[a] = src.PushedFrames(a)
		}
	}
	return s
}

// Drop is a socket drop the comparison must know about: frames written to
// the dropped socket in the instant before it was closed may never have been
// read (an abrupt close can reset the connection), so such a frame, when it
// is not stored, counts as unread at a drop (its events come back from REST
// through the gap backfill, which the order comparison checks) and not as
// lost.
type Drop struct {
	Account string    `json:"account"`
	At      time.Time `json:"at"`
}

// unreadWindow is how long before a drop a written frame may be unread.
const unreadWindow = time.Second

// Check is one more comparison of the database with the ground truth, run
// after the built-in ones (orders, algo orders, fills, frames, transitions).
// The positions table plugs in here: its Run reads the table and the
// exchange's positions and reports what is missing (Lost) or doubled.
type Check struct {
	Name string
	Run  func(ctx context.Context, d *db.DB, s Snapshot) (Finding, error)
}

// Finding is what one Check found.
type Finding struct {
	Name       string   `json:"name"`
	Checked    int      `json:"checked"`
	Lost       int      `json:"lost"`
	Duplicates int      `json:"duplicates"`
	Details    []string `json:"details,omitempty"`
}

// Options tune Compare.
type Options struct {
	Exchange   string // default topics.ExchangeBinance
	Drops      []Drop
	Checks     []Check
	MaxDetails int // differences listed (default 20)
	// Overlaps: a frame pushed to several sockets of one account (a
	// make-before-break hand-over keeps the old socket open while the new
	// one connects) counts as stored when one copy is; it is doubled only
	// when stored more often than pushed. Without it every push must be
	// stored.
	Overlaps bool
}

// Lost counts events the database lacks or holds in another state.
type Lost struct {
	Orders     int `json:"orders"`      // missing, or another status or cumulative quantity
	AlgoOrders int `json:"algo_orders"` // missing, or another status
	Fills      int `json:"fills"`       // a TRADE frame pushed without its fill row
	Frames     int `json:"frames"`      // a frame pushed and not in the audit table
}

// Duplicates counts events applied more than once.
type Duplicates struct {
	Fills       int `json:"fills"`       // a (order, trade) stored twice, or fills adding up to more than the order executed
	AuditRows   int `json:"audit_rows"`  // a pushed frame stored more often than it was pushed
	Transitions int `json:"transitions"` // a status transition recorded twice
}

// Result is the comparison of the database with the ground truth.
type Result struct {
	FramesPushed int `json:"frames_pushed"`
	FramesStored int `json:"frames_stored"`
	// FramesUnread were written just before a socket drop and never read;
	// see Drop.
	FramesUnread int `json:"frames_unread_at_drop"`
	// FramesOverlap are extra pushes of a frame pushed to several sockets
	// and stored fewer times (Options.Overlaps).
	FramesOverlap int        `json:"frames_overlap,omitempty"`
	Orders        int        `json:"orders_compared"`
	AlgoOrders    int        `json:"algo_orders_compared"`
	Fills         int        `json:"fills_compared"`
	Transitions   int        `json:"transitions_compared"`
	Lost          Lost       `json:"lost"`
	Duplicates    Duplicates `json:"duplicates"`
	// Phantom rows are orders or algo orders the exchange never reported.
	Phantom int `json:"phantom_rows"`
	// Regressions are transitions out of a final status (FILLED ->
	// PARTIALLY_FILLED): a row moved backwards, however briefly.
	Regressions int       `json:"status_regressions"`
	Findings    []Finding `json:"checks,omitempty"`
	Details     []string  `json:"details,omitempty"`
}

// LostTotal is every lost event, the Checks' included.
func (r Result) LostTotal() int {
	n := r.Lost.Orders + r.Lost.AlgoOrders + r.Lost.Fills + r.Lost.Frames
	for _, f := range r.Findings {
		n += f.Lost
	}
	return n
}

// DuplicateTotal is every duplicate applied, the Checks' included.
func (r Result) DuplicateTotal() int {
	n := r.Duplicates.Fills + r.Duplicates.AuditRows + r.Duplicates.Transitions
	for _, f := range r.Findings {
		n += f.Duplicates
	}
	return n
}

// OK is true when nothing is lost, doubled, unknown to the exchange or
// moved backwards.
func (r Result) OK() bool {
	return r.LostTotal() == 0 && r.DuplicateTotal() == 0 && r.Phantom == 0 && r.Regressions == 0
}

type cmp struct {
	r   *Result
	max int
}

func (c *cmp) detail(format string, args ...any) {
	if len(c.r.Details) < c.max {
		c.r.Details = append(c.r.Details, fmt.Sprintf(format, args...))
	}
}

// Compare compares the database with the snapshot: every order and algo
// order in its state, every pushed frame stored once in the audit table,
// every pushed TRADE frame's fill stored once, and every status transition
// recorded once; then the extra Checks.
func Compare(ctx context.Context, d *db.DB, s Snapshot, o Options) (Result, error) {
	if o.Exchange == "" {
		o.Exchange = topics.ExchangeBinance
	}
	if o.MaxDetails <= 0 {
		o.MaxDetails = 20
	}
	var r Result
	c := &cmp{r: &r, max: o.MaxDetails}
	inSnap := map[string]bool{}
	for _, a := range s.Accounts {
		inSnap[a] = true
	}
	if err := c.orders(ctx, d, s, o.Exchange, inSnap); err != nil {
		return r, err
	}
	if err := c.algos(ctx, d, s, o.Exchange, inSnap); err != nil {
		return r, err
	}
	unread := map[string]bool{} // account/hash of frames unread at a drop
	if s.Pushed != nil {
		var err error
		if unread, err = c.frames(ctx, d, s, o, inSnap); err != nil {
			return r, err
		}
		if err := c.fills(ctx, d, s, o.Exchange, inSnap, unread); err != nil {
			return r, err
		}
	}
	if err := c.transitions(ctx, d, o.Exchange, inSnap); err != nil {
		return r, err
	}
	for _, ch := range o.Checks {
		f, err := ch.Run(ctx, d, s)
		if err != nil {
			return r, fmt.Errorf("check %s: %w", ch.Name, err)
		}
		if f.Name == "" {
			f.Name = ch.Name
		}
		r.Findings = append(r.Findings, f)
	}
	return r, nil
}

type row struct {
	status, cum string
}

func query(ctx context.Context, d *db.DB, q string, scan func(*sql.Rows) error, args ...any) error {
	rows, err := d.QueryContext(ctx, d.Rebind(q), args...)
	if err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%s: %w", q, err)
	}
	return nil
}

type rowKey struct {
	account string
	id      int64
}

func (c *cmp) orders(ctx context.Context, d *db.DB, s Snapshot, exchange string, inSnap map[string]bool) error {
	got := map[rowKey]row{}
	err := query(ctx, d, "SELECT account, order_id, status, cum_qty FROM orders WHERE exchange = ?", func(rows *sql.Rows) error {
		var k rowKey
		var r row
		var cum sql.NullString
		if err := rows.Scan(&k.account, &k.id, &r.status, &cum); err != nil {
			return err
		}
		r.cum = cum.String
		if inSnap[k.account] {
			got[k] = r
		}
		return nil
	}, exchange)
	if err != nil {
		return err
	}
	for _, a := range s.Accounts {
		for _, o := range s.Orders[a] {
			c.r.Orders++
			k := rowKey{a, o.OrderID}
			r, ok := got[k]
			delete(got, k)
			switch {
			case !ok:
				c.r.Lost.Orders++
				c.detail("%s order %d (%s %s): missing, exchange has %s cum %s", a, o.OrderID, o.Symbol, o.Type, o.Status, o.ExecutedQty)
			case r.status != o.Status || !binance.SameDecimal(r.cum, o.ExecutedQty):
				c.r.Lost.Orders++
				c.detail("%s order %d: database %s cum %s, exchange %s cum %s", a, o.OrderID, r.status, r.cum, o.Status, o.ExecutedQty)
			}
		}
	}
	for k, r := range got {
		c.r.Phantom++
		c.detail("%s order %d: in the database (%s) but unknown to the exchange", k.account, k.id, r.status)
	}
	return nil
}

func (c *cmp) algos(ctx context.Context, d *db.DB, s Snapshot, exchange string, inSnap map[string]bool) error {
	got := map[rowKey]string{}
	err := query(ctx, d, "SELECT account, algo_id, status FROM algo_orders WHERE exchange = ?", func(rows *sql.Rows) error {
		var k rowKey
		var st string
		if err := rows.Scan(&k.account, &k.id, &st); err != nil {
			return err
		}
		if inSnap[k.account] {
			got[k] = st
		}
		return nil
	}, exchange)
	if err != nil {
		return err
	}
	for _, a := range s.Accounts {
		for _, g := range s.Algos[a] {
			c.r.AlgoOrders++
			k := rowKey{a, g.AlgoID}
			st, ok := got[k]
			delete(got, k)
			switch {
			case !ok:
				c.r.Lost.AlgoOrders++
				c.detail("%s algo order %d (%s): missing, exchange has %s", a, g.AlgoID, g.OrderType, g.Status)
			case st != g.Status:
				c.r.Lost.AlgoOrders++
				c.detail("%s algo order %d: database %s, exchange %s", a, g.AlgoID, st, g.Status)
			}
		}
	}
	for k, st := range got {
		c.r.Phantom++
		c.detail("%s algo order %d: in the database (%s) but unknown to the exchange", k.account, k.id, st)
	}
	return nil
}

func hashOf(b []byte) string {
	h := sha256.Sum256(b)
	return string(h[:])
}

// frames matches the pushed frames with the audit table's frame rows as
// multisets per account, and returns the frames unread at a drop.
func (c *cmp) frames(ctx context.Context, d *db.DB, s Snapshot, o Options, inSnap map[string]bool) (map[string]bool, error) {
	stored := map[string]int{} // account + hash
	err := query(ctx, d, "SELECT account, payload FROM api_data_stream WHERE exchange = ? AND kind = ?", func(rows *sql.Rows) error {
		var a string
		var p []byte
		if err := rows.Scan(&a, &p); err != nil {
			return err
		}
		if inSnap[a] {
			stored[a+"\x00"+hashOf(p)]++
		}
		return nil
	}, o.Exchange, topics.KindFrame)
	if err != nil {
		return nil, err
	}
	drops := map[string][]time.Time{}
	for _, dr := range o.Drops {
		drops[dr.Account] = append(drops[dr.Account], dr.At)
	}
	nearDrop := func(a string, at time.Time) bool {
		for _, t := range drops[a] {
			if !at.Before(t.Add(-unreadWindow)) && !at.After(t.Add(100*time.Millisecond)) {
				return true
			}
		}
		return false
	}
	unread := map[string]bool{}
	for _, a := range s.Accounts {
		pushed := map[string][]simulator.Pushed{}
		var order []string
		for _, p := range s.Pushed[a] {
			k := a + "\x00" + hashOf(p.Data)
			if _, ok := pushed[k]; !ok {
				order = append(order, k)
			}
			pushed[k] = append(pushed[k], p)
		}
		for _, k := range order {
			ps := pushed[k]
			n, st := len(ps), stored[k]
			delete(stored, k)
			c.r.FramesPushed += n
			c.r.FramesStored += min(n, st)
			if st > n {
				c.r.Duplicates.AuditRows += st - n
				c.detail("%s frame stored %d times, pushed %d: %.120s", a, st, n, ps[0].Data)
			}
			for i := st; i < n; i++ { // pushed and not stored
				if o.Overlaps && st > 0 {
					c.r.FramesOverlap++
					continue
				}
				if nearDrop(a, ps[i].At) {
					c.r.FramesUnread++
					unread[k] = true
					continue
				}
				c.r.Lost.Frames++
				c.detail("%s frame pushed on %s at %s not stored: %.120s", a, ps[i].ConnID, ps[i].At.Format("15:04:05.000"), ps[i].Data)
			}
		}
	}
	for k, n := range stored { // stored, never pushed
		a, _, _ := strings.Cut(k, "\x00")
		c.r.Duplicates.AuditRows += n
		c.detail("%s: %d frame rows in the audit table that the exchange never pushed", a, n)
	}
	return unread, nil
}

// tradeFrame is the part of an ORDER_TRADE_UPDATE a fill check needs. The
// upper-case twins are declared so that encoding/json, which also matches
// keys case-insensitively, never puts "X" (status) into x or "T" into t.
type tradeFrame struct {
	Event     string          `json:"e"`
	EventTime json.RawMessage `json:"E"`
	O         struct {
		OrderID int64           `json:"i"`
		TradeID int64           `json:"t"`
		TxTime  json.RawMessage `json:"T"`
		Exec    string          `json:"x"`
		Status  string          `json:"X"`
	} `json:"o"`
}

func (c *cmp) fills(ctx context.Context, d *db.DB, s Snapshot, exchange string, inSnap, unread map[string]bool) error {
	type fk struct {
		account      string
		order, trade int64
	}
	stored := map[rowKey]map[int64]int{}
	sums := map[rowKey]*big.Rat{}
	err := query(ctx, d, "SELECT account, order_id, trade_id, qty FROM order_fills WHERE exchange = ?", func(rows *sql.Rows) error {
		var k rowKey
		var trade int64
		var qty string
		if err := rows.Scan(&k.account, &k.id, &trade, &qty); err != nil {
			return err
		}
		if !inSnap[k.account] {
			return nil
		}
		if stored[k] == nil {
			stored[k] = map[int64]int{}
			sums[k] = new(big.Rat)
		}
		stored[k][trade]++
		if q, ok := new(big.Rat).SetString(qty); ok {
			sums[k].Add(sums[k], q)
		}
		return nil
	}, exchange)
	if err != nil {
		return err
	}
	for k, trades := range stored {
		for t, n := range trades {
			c.r.Fills++
			if n > 1 {
				c.r.Duplicates.Fills += n - 1
				c.detail("%s order %d trade %d: %d fill rows", k.account, k.id, t, n)
			}
		}
	}
	seen := map[fk]bool{}
	for _, a := range s.Accounts {
		for _, p := range s.Pushed[a] {
			var f tradeFrame
			if json.Unmarshal(p.Data, &f) != nil || f.Event != "ORDER_TRADE_UPDATE" || f.O.Exec != "TRADE" || f.O.TradeID <= 0 {
				continue
			}
			key := fk{account: a, order: f.O.OrderID, trade: f.O.TradeID}
			if seen[key] {
				continue
			}
			seen[key] = true
			if stored[rowKey{a, f.O.OrderID}][f.O.TradeID] > 0 || unread[a+"\x00"+hashOf(p.Data)] {
				continue
			}
			c.r.Lost.Fills++
			c.detail("%s order %d trade %d: TRADE frame pushed, no fill row", a, f.O.OrderID, f.O.TradeID)
		}
		for _, o := range s.Orders[a] {
			sum, ok := sums[rowKey{a, o.OrderID}]
			exec, ok2 := new(big.Rat).SetString(o.ExecutedQty)
			if ok && ok2 && sum.Cmp(exec) > 0 {
				c.r.Duplicates.Fills++
				c.detail("%s order %d: fills add up to %s, the exchange executed %s", a, o.OrderID, sum.FloatString(8), o.ExecutedQty)
			}
		}
	}
	return nil
}

// transitions counts status transitions recorded more than once in the
// orders sink's outbox. A repeated PARTIALLY_FILLED (another fill, From ==
// To) is not a status transition and may repeat.
func (c *cmp) transitions(ctx context.Context, d *db.DB, exchange string, inSnap map[string]bool) error {
	type tk struct {
		key orderstatus.Key
		to  string
	}
	seen := map[tk]int{}
	err := query(ctx, d, "SELECT payload FROM order_outbox", func(rows *sql.Rows) error {
		var payload string
		if err := rows.Scan(&payload); err != nil {
			return err
		}
		sc := bufio.NewScanner(strings.NewReader(payload))
		sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
		for sc.Scan() {
			var ev topics.PositionEvent
			if json.Unmarshal(sc.Bytes(), &ev) != nil || ev.Order == nil || ev.From == ev.To {
				continue
			}
			if ev.Kind != "" && ev.Kind != topics.PositionOrderTransition {
				continue
			}
			k := orderstatus.KeyOf(ev.Order)
			if k.Exchange != "" && k.Exchange != exchange || !inSnap[k.Account] {
				continue
			}
			seen[tk{k, ev.To}]++
			if ev.From != "" && orderstatus.Final(k.Kind, ev.From) {
				c.r.Regressions++
				c.detail("%s %s %d: moved out of its final status %s to %s (event %s E=%d from %s offset %d)", k.Account, k.Kind, k.ID,
					ev.From, ev.To, ev.Order.ExecutionType, ev.Order.EventTime, ev.Order.Source, ev.Order.SourceOffset)
			}
		}
		return sc.Err()
	})
	if err != nil {
		return err
	}
	keys := make([]tk, 0, len(seen))
	for k := range seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].key.ID < keys[j].key.ID })
	for _, k := range keys {
		n := seen[k]
		c.r.Transitions += n
		if n > 1 {
			c.r.Duplicates.Transitions += n - 1
			c.detail("%s %s %d: transition to %s recorded %d times", k.key.Account, k.key.Kind, k.key.ID, k.to, n)
		}
	}
	return nil
}

// CaughtUp reports whether the database holds every order and algo order
// of the snapshot at a state at least as new as the snapshot's (a later
// status, or the same status with at least the cumulative quantity), and
// names the first that it does not.
func CaughtUp(ctx context.Context, d *db.DB, exchange, account string, orders []simulator.Order, algos []simulator.AlgoOrder) (bool, string, error) {
	if exchange == "" {
		exchange = topics.ExchangeBinance
	}
	got := map[int64]row{}
	err := query(ctx, d, "SELECT order_id, status, cum_qty FROM orders WHERE exchange = ? AND account = ?", func(rows *sql.Rows) error {
		var id int64
		var r row
		var cum sql.NullString
		if err := rows.Scan(&id, &r.status, &cum); err != nil {
			return err
		}
		r.cum = cum.String
		got[id] = r
		return nil
	}, exchange, account)
	if err != nil {
		return false, "", err
	}
	for _, o := range orders {
		r, ok := got[o.OrderID]
		if !ok {
			return false, fmt.Sprintf("order %d missing", o.OrderID), nil
		}
		rs, rt := orderstatus.Rank(orderstatus.KindOrder, r.status), orderstatus.Rank(orderstatus.KindOrder, o.Status)
		if rs < rt || rs == rt && (r.status != o.Status || decCmp(r.cum, o.ExecutedQty) < 0) {
			return false, fmt.Sprintf("order %d at %s %s, exchange was at %s %s", o.OrderID, r.status, r.cum, o.Status, o.ExecutedQty), nil
		}
	}
	gotAlgo := map[int64]string{}
	err = query(ctx, d, "SELECT algo_id, status FROM algo_orders WHERE exchange = ? AND account = ?", func(rows *sql.Rows) error {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return err
		}
		gotAlgo[id] = st
		return nil
	}, exchange, account)
	if err != nil {
		return false, "", err
	}
	for _, g := range algos {
		st, ok := gotAlgo[g.AlgoID]
		if !ok {
			return false, fmt.Sprintf("algo order %d missing", g.AlgoID), nil
		}
		rs, rt := orderstatus.Rank(orderstatus.KindAlgo, st), orderstatus.Rank(orderstatus.KindAlgo, g.Status)
		if rs < rt || rs == rt && st != g.Status {
			return false, fmt.Sprintf("algo order %d at %s, exchange was at %s", g.AlgoID, st, g.Status), nil
		}
	}
	return true, "", nil
}

// decCmp compares two decimal strings; an unparsable one sorts first.
func decCmp(a, b string) int {
	x, ok1 := new(big.Rat).SetString(strings.TrimSpace(a))
	y, ok2 := new(big.Rat).SetString(strings.TrimSpace(b))
	switch {
	case ok1 && ok2:
		return x.Cmp(y)
	case ok2:
		return -1
	case ok1:
		return 1
	}
	return strings.Compare(a, b)
}
