package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binance"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/processors/dispatch"
	"github.com/kraite/stream/topics"
)

// Dist is a latency distribution.
type Dist struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

func dist(d []time.Duration) Dist {
	if len(d) == 0 {
		return Dist{}
	}
	slices.Sort(d)
	p := func(q float64) time.Duration { return d[min(len(d)-1, int(float64(len(d))*q))] }
	return Dist{N: len(d), P50: p(0.50), P90: p(0.90), P99: p(0.99), Max: d[len(d)-1]}
}

func (d Dist) String() string {
	if d.N == 0 {
		return "no samples"
	}
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x)/float64(time.Millisecond)) }
	return fmt.Sprintf("n %6d  p50 %7s  p90 %7s  p99 %7s  max %7s ms", d.N, ms(d.P50), ms(d.P90), ms(d.P99), ms(d.Max))
}

// Path is one measured path or stage.
type Path struct {
	Name string
	Dist Dist
}

// Phase is one measured pipeline (the new cycle or the baseline).
type Phase struct {
	Name string
	// Run numbers the phase's run (Config.Repeat), from 1.
	Run                   int
	LoadBefore, LoadAfter string
	Window                time.Duration
	// Frames is every user-data frame the simulator wrote to a socket in
	// the window; PerSec their rate.
	Frames int
	PerSec float64
	// Paths: frame -> api_data_stream row, -> orders row, -> positions
	// transition. Stages: the steps between.
	Paths, Stages []Path
	// OrderFrames are the window's order frames dispatch routes to the
	// orders topic; RowVersionsSeen how many of the orders (not algo) among
	// them were timed to a row version at theirs or newer (the poller reads
	// versions every 100 ms: one replaced sooner times its frame by the
	// next version, erring high).
	OrderFrames, RowVersionsSeen int
	// OrdersTableFrames are the order frames (not algo) among OrderFrames.
	OrdersTableFrames int
	// Missing counts window frames that did not arrive: on the user-data
	// topic, in api_data_stream, on the orders topic (order frames), and
	// orders rows left behind an order frame of the window.
	MissingTopic, MissingAudit, MissingOrdersTopic, MissingOrdersRow int
	// NoExchangeTime counts window frames with neither T nor E (accounted
	// for, not timed).
	NoExchangeTime int
	UntimedSample  string
}

// Missing is the sum of the missing counts.
func (p Phase) Missing() int {
	return p.MissingTopic + p.MissingAudit + p.MissingOrdersTopic + p.MissingOrdersRow
}

// Path returns the named path or stage.
func (p Phase) Path(name string) Dist {
	for _, x := range append(slices.Clone(p.Paths), p.Stages...) {
		if x.Name == name {
			return x.Dist
		}
	}
	return Dist{}
}

// Names of the paths.
const (
	PathAuditRow   = "frame -> api_data_stream row"
	PathOrdersRow  = "frame -> orders row"
	PathTransition = "frame -> positions transition"
)

// Names of the stages.
const (
	StageProducer   = "frame -> producer (received_at)"
	StageAck        = "producer -> broker ack"
	StageDispatch   = "frame -> orders topic (dispatch)"
	StageOrdersSink = "orders topic -> orders row (orders sink)"
	StageOutbox     = "orders row -> transition (outbox)"
	StageAuditSink  = "user-data record -> api row (audit sink)"
)

func (p Phase) print(w io.Writer) {
	fmt.Fprintf(w, "  %s: %d frames in %s (%.0f frames/s), load %s -> %s\n", p.Name, p.Frames, p.Window.Round(time.Millisecond), p.PerSec, p.LoadBefore, p.LoadAfter)
	for _, x := range p.Paths {
		fmt.Fprintf(w, "    %-44s %s\n", x.Name, x.Dist)
	}
	fmt.Fprintln(w, "    stages:")
	for _, x := range p.Stages {
		fmt.Fprintf(w, "    %-44s %s\n", "  "+x.Name, x.Dist)
	}
	fmt.Fprintf(w, "    accounted for: %d frames (%d without an exchange time, untimed), %d order frames on the orders topic (%d for the orders table, %d of them timed to their row); missing %d "+
		"(user-data topic %d, api_data_stream %d, orders topic %d, orders row behind %d)\n",
		p.Frames, p.NoExchangeTime, p.OrderFrames, p.OrdersTableFrames, p.RowVersionsSeen, p.Missing(), p.MissingTopic, p.MissingAudit, p.MissingOrdersTopic, p.MissingOrdersRow)
	if p.UntimedSample != "" {
		fmt.Fprintf(w, "    an untimed frame: %s\n", p.UntimedSample)
	}
}

// printRatio prints baseline/new of the paths' p50 and p99 of one run.
func (r Report) printRatio(w io.Writer, run int) {
	var n, b *Phase
	for i := range r.Phases {
		switch p := &r.Phases[i]; {
		case p.Run != run:
		case p.Name == PhaseNew:
			n = p
		case p.Name == PhaseBaseline:
			b = p
		}
	}
	if n == nil || b == nil {
		return
	}
	for _, name := range []string{PathAuditRow, PathOrdersRow, PathTransition} {
		x, y := n.Path(name), b.Path(name)
		if x.P50 <= 0 || x.P99 <= 0 {
			continue
		}
		fmt.Fprintf(w, "  ratio baseline/new, %-32s p50 %.2fx  p99 %.2fx\n", name+":",
			float64(y.P50)/float64(x.P50), float64(y.P99)/float64(x.P99))
	}
}

// Spread is one figure over the runs of a phase: the median, least and
// greatest of the per-run values.
type Spread struct {
	Runs             int
	Median, Min, Max time.Duration
}

func (s Spread) String() string {
	if s.Runs == 0 {
		return "no runs"
	}
	ms := func(x time.Duration) string { return fmt.Sprintf("%.1f", float64(x)/float64(time.Millisecond)) }
	return fmt.Sprintf("%s [%s .. %s]", ms(s.Median), ms(s.Min), ms(s.Max))
}

// Spread is the spread over the runs of the phase named phase of one
// figure (q) of a path or stage; runs without samples are left out.
func (r Report) Spread(phase, path string, q func(Dist) time.Duration) Spread {
	var v []time.Duration
	for _, p := range r.Phases {
		if d := p.Path(path); p.Name == phase && d.N > 0 {
			v = append(v, q(d))
		}
	}
	if len(v) == 0 {
		return Spread{}
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return Spread{Runs: len(v), Median: med, Min: v[0], Max: v[len(v)-1]}
}

// P50 picks the p50 of a Dist (for Spread).
func P50(d Dist) time.Duration { return d.P50 }

// P99 picks the p99 of a Dist (for Spread).
func P99(d Dist) time.Duration { return d.P99 }

// spreadPaths are the paths and stages the spread summary shows.
var spreadPaths = []string{PathAuditRow, PathOrdersRow, PathTransition, StageDispatch, StageOrdersSink, StageAuditSink}

// printSpread prints, per phase and path, the median and range of the
// per-run p99s and p50s, then the ratios of the medians.
func (r Report) printSpread(w io.Writer) {
	var names []string
	for _, p := range r.Phases {
		if !slices.Contains(names, p.Name) {
			names = append(names, p.Name)
		}
	}
	for _, name := range names {
		var loads []string
		for _, p := range r.Phases {
			if p.Name == name {
				loads = append(loads, p.LoadBefore+" -> "+p.LoadAfter)
			}
		}
		s := r.Spread(name, PathAuditRow, P99)
		fmt.Fprintf(w, "  %s over %d runs: median [min .. max] of the per-run figures, ms (load: %s)\n", name, s.Runs, strings.Join(loads, "; "))
		for _, path := range spreadPaths {
			fmt.Fprintf(w, "    %-44s p99 %-22s p50 %s\n", path, r.Spread(name, path, P99), r.Spread(name, path, P50))
		}
	}
	if !slices.Contains(names, PhaseNew) || !slices.Contains(names, PhaseBaseline) {
		return
	}
	for _, path := range []string{PathAuditRow, PathOrdersRow, PathTransition} {
		n50, n99 := r.Spread(PhaseNew, path, P50), r.Spread(PhaseNew, path, P99)
		b50, b99 := r.Spread(PhaseBaseline, path, P50), r.Spread(PhaseBaseline, path, P99)
		if n50.Median <= 0 || n99.Median <= 0 {
			continue
		}
		fmt.Fprintf(w, "  ratio baseline/new of the medians, %-32s p50 %.2fx  p99 %.2fx\n", path+":",
			float64(b50.Median)/float64(n50.Median), float64(b99.Median)/float64(n99.Median))
	}
}

// frame is one user-data frame the simulator wrote to a socket.
type frame struct {
	account, data string
	ref           int64 // ms: T, else E
	order         bool  // ORDER_TRADE_UPDATE or ALGO_UPDATE
	algo          bool
	id            int64 // order id or algo id
	e             int64
	t             int64
	status, exec  string
}

func (f frame) key() string { return f.account + "\x00" + f.data }

// verKey names one version of an order: the frame that produced it.
type verKey struct {
	account string
	algo    bool
	id      int64
	e       int64
	status  string
}

func (f frame) ver() verKey { return verKey{f.account, f.algo, f.id, f.e, f.status} }

type frameSet []frame

// byPayload counts the frames per key.
func (fs frameSet) byPayload() map[string]int {
	out := make(map[string]int, len(fs))
	for _, f := range fs {
		out[f.key()]++
	}
	return out
}

// frameBody is what the bench reads of a frame. encoding/json matches a key
// without an exact field case-insensitively: the absorbers keep TRADE_LITE's
// trade id "t" out of T (and an "I" out of the order id).
type frameBody struct {
	T       int64           `json:"T"`
	TradeID json.RawMessage `json:"t"`
	O       struct {
		ID     int64           `json:"i"`
		UpperI json.RawMessage `json:"I"`
		AlgoID int64           `json:"aid"`
		Status string          `json:"X"`
		Exec   string          `json:"x"`
	} `json:"o"`
}

func parseFrame(account string, data []byte) frame {
	f := frame{account: account, data: string(data)}
	env, err := binance.ParseEnvelope(data)
	if err != nil {
		return f
	}
	f.e, f.ref = env.EventTime, env.EventTime
	var b frameBody
	if json.Unmarshal(env.Payload, &b) == nil {
		f.t = b.T
		if b.T > 0 {
			f.ref = b.T
		}
		switch env.Event {
		case binance.EventOrderTradeUpdate:
			f.order, f.id, f.status, f.exec = true, b.O.ID, b.O.Status, b.O.Exec
		case binance.EventAlgoUpdate:
			f.order, f.algo, f.id, f.status, f.exec = true, true, b.O.AlgoID, b.O.Status, "ALGO_"+b.O.Status
		}
	}
	return f
}

// windowFrames is every user-data frame written to a socket in [from, to).
func windowFrames(sim *simulator.Simulator, from, to time.Time) frameSet {
	var out frameSet
	for _, a := range sim.Accounts() {
		for _, p := range sim.PushedFrames(a.ID) {
			if !p.At.Before(from) && p.At.Before(to) {
				out = append(out, parseFrame(a.ID, p.Data))
			}
		}
	}
	return out
}

// ordered reports whether the order frame f should reach the orders table
// (dispatch routes it and it is no algo order).
func (f frame) ordered(allow map[string]bool) bool { return f.order && !f.algo && allow[f.exec] }

func allowlist() map[string]bool {
	allow := map[string]bool{}
	for _, x := range dispatch.DefaultBinanceAllowlist() {
		allow[x] = true
	}
	return allow
}

// behind reports whether the stored version v is older than frame f's.
func (f frame) behind(v orderVer, ok bool) bool {
	return !ok || v.e < f.e || (v.e == f.e && v.t < f.t)
}

// rowsBehind counts the order frames whose orders row is not at their
// version or newer.
func (fs frameSet) rowsBehind(final map[orderKey]orderVer) int {
	allow := allowlist()
	n := 0
	for _, f := range fs {
		if f.ordered(allow) {
			v, ok := final[orderKey{f.account, f.id}]
			if f.behind(v, ok) {
				n++
			}
		}
	}
	return n
}

func missingAudit(want map[string]int, got map[string][]time.Time) int {
	n := 0
	for k, c := range want {
		n += max(0, c-len(got[k]))
	}
	return n
}

// readAudit reads the written_at of every frame row received since since,
// by account and payload.
func readAudit(ctx context.Context, d *db.DB, since time.Time) (map[string][]time.Time, error) {
	rows, err := d.QueryContext(ctx, "SELECT account, payload, written_at FROM api_data_stream WHERE kind = ? AND received_at >= ? ORDER BY id",
		topics.KindFrame, since.UTC())
	if err != nil {
		return nil, fmt.Errorf("reading api_data_stream: %w", err)
	}
	defer rows.Close()
	out := map[string][]time.Time{}
	for rows.Next() {
		var acct, payload string
		var at db.NullTime
		if err := rows.Scan(&acct, &payload, &at); err != nil {
			return nil, fmt.Errorf("reading api_data_stream: %w", err)
		}
		k := acct + "\x00" + payload
		out[k] = append(out[k], at.Time)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading api_data_stream: %w", err)
	}
	return out, nil
}

// rowPoller records the orders row versions it sees (each with its
// written_at), polling the rows written since the last poll. A version
// replaced between two polls is not seen; the frame it came from is then
// timed by the next version seen (a later written_at: the figure errs
// high, never low).
type rowPoller struct {
	d    *db.DB
	mu   sync.Mutex
	seen map[orderKey][]seenVer
	have map[seenVer]bool
}

type seenVer struct {
	account string
	id      int64
	v       orderVer
	at      time.Time
}

func newRowPoller(d *db.DB) *rowPoller {
	return &rowPoller{d: d, seen: map[orderKey][]seenVer{}, have: map[seenVer]bool{}}
}

func (p *rowPoller) run(ctx context.Context, every time.Duration) error {
	since := time.Now().Add(-time.Second)
	for {
		newest, err := p.poll(ctx, since)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if newest.After(since.Add(time.Second)) {
			since = newest.Add(-time.Second) // a transaction that started earlier may commit later
		}
		if !backoff.Sleep(ctx, every) {
			return ctx.Err()
		}
	}
}

func (p *rowPoller) poll(ctx context.Context, since time.Time) (time.Time, error) {
	rows, err := p.d.QueryContext(ctx, "SELECT account, order_id, event_time, transaction_time, written_at FROM orders WHERE written_at >= ?", since.UTC())
	if err != nil {
		return since, fmt.Errorf("polling orders: %w", err)
	}
	defer rows.Close()
	newest := since
	p.mu.Lock()
	defer p.mu.Unlock()
	for rows.Next() {
		var s seenVer
		var at db.NullTime
		if err := rows.Scan(&s.account, &s.id, &s.v.e, &s.v.t, &at); err != nil {
			return since, fmt.Errorf("polling orders: %w", err)
		}
		s.at = at.Time
		if !p.have[s] {
			p.have[s] = true
			k := orderKey{s.account, s.id}
			p.seen[k] = append(p.seen[k], s)
		}
		if at.Time.After(newest) {
			newest = at.Time
		}
	}
	if err := rows.Err(); err != nil {
		return since, fmt.Errorf("polling orders: %w", err)
	}
	return newest, nil
}

// firstAtOrAfter is the written_at of the first version seen that is at
// frame f's version or newer.
func (p *rowPoller) firstAtOrAfter(f frame) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var best time.Time
	found := false
	for _, s := range p.seen[orderKey{f.account, f.id}] {
		if !f.behind(s.v, true) && (!found || s.at.Before(best)) {
			best, found = s.at, true
		}
	}
	return best, found
}

type orderKey struct {
	account string
	id      int64
}

type orderVer struct{ e, t int64 }

// readOrders reads the final version of every orders row.
func readOrders(ctx context.Context, d *db.DB) (map[orderKey]orderVer, error) {
	rows, err := d.QueryContext(ctx, "SELECT account, order_id, event_time, transaction_time FROM orders")
	if err != nil {
		return nil, fmt.Errorf("reading orders: %w", err)
	}
	defer rows.Close()
	out := map[orderKey]orderVer{}
	for rows.Next() {
		var k orderKey
		var v orderVer
		if err := rows.Scan(&k.account, &k.id, &v.e, &v.t); err != nil {
			return nil, fmt.Errorf("reading orders: %w", err)
		}
		out[k] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading orders: %w", err)
	}
	return out, nil
}

// readTopic reads every record of topic up to its end offsets with cl (a
// direct client that keeps control records and reads nothing else
// meanwhile, so a partition ending in a transaction marker is read to its
// end). A read that stalls anyway (kclient.ErrTailStalled) ends with what
// it read.
func readTopic(ctx context.Context, cl *kgo.Client, topic string) ([]*kgo.Record, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var out []*kgo.Record
	err := kclient.ReadTail(ctx, cl, topic, 0, func(r *kgo.Record) { out = append(out, r) })
	if err != nil && !errors.Is(err, kclient.ErrTailStalled) {
		return nil, err
	}
	return out, nil
}

func ms(t int64) time.Time { return time.UnixMilli(t) }

// firstRecordAt is the timestamp of the first record of each order version
// among recs; event reads a record's order event (nil: not one).
func firstRecordAt(recs []*kgo.Record, event func(*kgo.Record) *topics.OrderEvent) map[verKey]time.Time {
	out := map[verKey]time.Time{}
	for _, r := range recs {
		e := event(r)
		if e == nil {
			continue
		}
		k := verKey{e.Account, e.AlgoID > 0, e.OrderID, e.EventTime, e.Status}
		if e.AlgoID > 0 {
			k.id = e.AlgoID
		}
		if _, ok := out[k]; !ok {
			out[k] = r.Timestamp
		}
	}
	return out
}

// measure fills the paths, stages and missing counts of p.
func (p *Phase) measure(frames frameSet, udRecs, orderRecs, posRecs []*kgo.Record, audited map[string][]time.Time,
	rows *rowPoller, final map[orderKey]orderVer, acks []time.Duration) {
	// The user-data topic: frame -> producer (received_at), per key in order.
	recAt := map[string][]*kgo.Record{}
	for _, r := range udRecs {
		if topics.Header(r, topics.HeaderKind) != topics.KindFrame {
			continue
		}
		k := topics.Header(r, topics.HeaderAccount) + "\x00" + string(r.Value)
		recAt[k] = append(recAt[k], r)
	}
	allow := allowlist()
	var producer, auditRow, auditSink []time.Duration
	for _, f := range frames {
		if f.ref <= 0 {
			p.NoExchangeTime++ // accounted for below, timed by nothing
			if p.UntimedSample == "" {
				p.UntimedSample = f.data[:min(len(f.data), 160)]
			}
		}
		k := f.key()
		var rec *kgo.Record
		if rs := recAt[k]; len(rs) > 0 {
			rec, recAt[k] = rs[0], rs[1:]
			if f.ref > 0 {
				producer = append(producer, topics.ParseReceivedAt(rec).Sub(ms(f.ref)))
			}
		} else {
			p.MissingTopic++
		}
		if ws := audited[k]; len(ws) > 0 {
			at := ws[0]
			audited[k] = ws[1:]
			if f.ref > 0 {
				auditRow = append(auditRow, at.Sub(ms(f.ref)))
			}
			if rec != nil {
				auditSink = append(auditSink, at.Sub(rec.Timestamp))
			}
		} else {
			p.MissingAudit++
		}
	}

	// The orders topic: frame -> dispatch, the orders row, the transition.
	orderAt := firstRecordAt(orderRecs, func(r *kgo.Record) *topics.OrderEvent {
		var e topics.OrderEvent
		if json.Unmarshal(r.Value, &e) != nil {
			return nil
		}
		return &e
	})
	transAt := firstRecordAt(posRecs, func(r *kgo.Record) *topics.OrderEvent {
		var pe topics.PositionEvent
		if json.Unmarshal(r.Value, &pe) != nil || pe.Kind != topics.PositionOrderTransition {
			return nil
		}
		return pe.Order
	})
	var disp, ordersRow, ordersSink, transition, outbox []time.Duration
	for _, f := range frames {
		if !f.order || !allow[f.exec] {
			continue
		}
		p.OrderFrames++
		k := f.ver()
		at, ok := orderAt[k]
		if !ok {
			p.MissingOrdersTopic++
			continue
		}
		if f.ref > 0 {
			disp = append(disp, at.Sub(ms(f.ref)))
		}
		if f.ordered(allow) {
			p.OrdersTableFrames++
			if v, ok := final[orderKey{f.account, f.id}]; f.behind(v, ok) {
				p.MissingOrdersRow++
			}
			if w, ok := rows.firstAtOrAfter(f); ok {
				p.RowVersionsSeen++
				if f.ref > 0 {
					ordersRow = append(ordersRow, w.Sub(ms(f.ref)))
				}
				ordersSink = append(ordersSink, w.Sub(at))
				if tr, ok := transAt[k]; ok {
					outbox = append(outbox, tr.Sub(w))
				}
			}
		}
		if tr, ok := transAt[k]; ok && f.ref > 0 {
			transition = append(transition, tr.Sub(ms(f.ref)))
		}
	}
	p.Paths = []Path{
		{PathAuditRow, dist(auditRow)},
		{PathOrdersRow, dist(ordersRow)},
		{PathTransition, dist(transition)},
	}
	p.Stages = []Path{
		{StageProducer, dist(producer)},
		{StageAck, dist(acks)},
		{StageDispatch, dist(disp)},
		{StageOrdersSink, dist(ordersSink)},
		{StageOutbox, dist(outbox)},
		{StageAuditSink, dist(auditSink)},
	}
}
