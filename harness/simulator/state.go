package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/kraite/stream/internal/binanceapi"
)

// # Persistent state
//
// With Config.StateFile set, the simulator keeps its whole exchange state in
// that file: the market walk, every account with its orders, algo orders,
// positions, wallet, id sequences, listenKeys and the random generators'
// states. New loads it when it exists, Run saves it every StateEvery and
// once more when it stops, so a restarted simulator continues where the
// last one stopped: ids continue, the ground truth (Orders, AlgoOrders,
// Positions) is the same, and a pipeline that stored what it reported finds
// nothing to repair. The frame log (PushedFrames) and the counters of the
// faults in progress are not kept: they describe one process's sockets.
//
// A state that cannot be read (corrupt JSON, a reference to an order that
// is not there, another seed) is an error that names the file: starting
// from the seed instead would reuse order ids the pipeline already stored
// with other contents, and silently. Removing the file is the explicit
// fresh start.
//
// A state saved periodically (not by a clean stop) may be up to StateEvery
// behind what the exchange reported before a crash: ids issued after it
// would come again. Loading such a state moves every id sequence on by
// uncleanSkip, so ids never repeat; the orders of those last seconds are
// lost from the ground truth (the pipeline's order sync will report them as
// drift, which is what a real exchange losing data would deserve).

// stateVersion is the format of the state file.
const stateVersion = 1

// maxStateBytes bounds the state file New reads.
const maxStateBytes = 1 << 30

// uncleanSkip is how far the id sequences move on after a crash.
const uncleanSkip = 100_000

// An account's order and algo ids are idx*1e9 + seq plus a base, its trade
// ids idx*1e8 + tradeSeq: a saved sequence at or beyond these (after the
// unclean skip) would give ids of the next account, or overflow.
const (
	maxSeq      = 1_000_000_000
	maxTradeSeq = 100_000_000
)

type stateFile struct {
	Version    int               `json:"version"`
	Seed       int64             `json:"seed"`
	SavedAt    time.Time         `json:"saved_at"`
	Clean      bool              `json:"clean"` // saved by a stop, not periodically
	Market     marketState       `json:"market"`
	Accounts   []accountState    `json:"accounts"`
	ListenKeys map[string]string `json:"listen_keys"` // every key issued -> account id
}

type marketState struct {
	RNG     []byte              `json:"rng"`
	Start   time.Time           `json:"start"`
	Last    time.Time           `json:"last"`
	Ticks   int64               `json:"ticks"`
	LogDev  []float64           `json:"log_dev"`
	Level   []float64           `json:"level"`
	Funding []float64           `json:"funding"`
	Crash   *crashState         `json:"crash,omitempty"`
	Minutes map[int64][]float64 `json:"minutes"`
}

type crashState struct {
	Start time.Time     `json:"start"`
	Over  time.Duration `json:"over"`
	Pct   float64       `json:"pct"`
}

type accountState struct {
	ID        string                   `json:"id"`
	Idx       int                      `json:"idx"`
	APIKey    string                   `json:"api_key"`
	APISecret string                   `json:"api_secret"`
	RNG       []byte                   `json:"rng"`
	KeyRNG    []byte                   `json:"key_rng"`
	Key       string                   `json:"key"`
	KeyExpiry time.Time                `json:"key_expiry"`
	KeyActive bool                     `json:"key_active"`
	Orders    []orderState             `json:"orders"`
	Algos     []algoState              `json:"algos"`
	Live      []int64                  `json:"live"`       // open order ids, in the order they opened
	LiveAlgos []int64                  `json:"live_algos"` // open algo ids
	Positions map[string]positionState `json:"positions"`
	Wallet    map[string]float64       `json:"wallet"`
	Seq       int64                    `json:"seq"`
	TradeSeq  int64                    `json:"trade_seq"`
	LastE     int64                    `json:"last_e"`
	LoseNext  int                      `json:"lose_next"`
	Income    []incomeState            `json:"income,omitempty"` // absent in state files of before it
}

type incomeState struct {
	Symbol  string  `json:"symbol"`
	Type    string  `json:"type"`
	Amount  float64 `json:"amount"`
	Time    int64   `json:"time"`
	TradeID int64   `json:"trade_id"`
}

type orderState struct {
	ID             int64   `json:"id"`
	ClientID       string  `json:"client_id"`
	Symbol         string  `json:"symbol"`
	Side           string  `json:"side"`
	Type           string  `json:"type"`
	OrigType       string  `json:"orig_type"`
	TIF            string  `json:"tif"`
	Price          float64 `json:"price"`
	StopPrice      float64 `json:"stop_price"`
	Lots           int64   `json:"lots"`
	Filled         int64   `json:"filled"`
	Avg            float64 `json:"avg"`
	Status         string  `json:"status"`
	LastX          string  `json:"last_x"`
	ER             string  `json:"er"`
	ReduceOnly     bool    `json:"reduce_only"`
	Created        int64   `json:"created"`
	Updated        int64   `json:"updated"`
	AlgoID         int64   `json:"algo_id"`
	NotionalFilled float64 `json:"notional_filled"`
}

type algoState struct {
	ID         int64   `json:"id"`
	ClientID   string  `json:"client_id"`
	Symbol     string  `json:"symbol"`
	Side       string  `json:"side"`
	Type       string  `json:"type"`
	Status     string  `json:"status"`
	RM         string  `json:"rm"`
	Trigger    float64 `json:"trigger"`
	Price      float64 `json:"price"`
	Lots       int64   `json:"lots"`
	ReduceOnly bool    `json:"reduce_only"`
	Created    int64   `json:"created"`
	Updated    int64   `json:"updated"`
	TT         int64   `json:"tt"`
	ActualID   int64   `json:"actual_id"`
}

type positionState struct {
	Lots     int64   `json:"lots"`
	Entry    float64 `json:"entry"`
	Realized float64 `json:"realized"`
}

// snapshotLocked copies the state (sharing the minute rows, which are never
// written again). Caller holds mu.
func (s *Simulator) snapshotLocked(clean bool) (*stateFile, error) {
	m := s.market
	rng, err := m.rngSrc.MarshalBinary()
	if err != nil {
		return nil, err
	}
	st := &stateFile{Version: stateVersion, Seed: s.cfg.Seed, SavedAt: time.Now().UTC(), Clean: clean,
		Market: marketState{RNG: rng, Start: m.start, Last: m.last, Ticks: m.ticks,
			LogDev: append([]float64(nil), m.logDev...), Level: append([]float64(nil), m.level...),
			Funding: append([]float64(nil), m.funding...), Minutes: make(map[int64][]float64, len(m.minutes))},
		ListenKeys: make(map[string]string, len(s.keyOwners))}
	if c := m.crash; c != nil {
		st.Market.Crash = &crashState{Start: c.start, Over: c.over, Pct: c.pct}
	}
	for b, row := range m.minutes {
		st.Market.Minutes[b] = row // never written again (recordMinute)
	}
	for k, a := range s.keyOwners {
		st.ListenKeys[k] = a.ID
	}
	for _, a := range s.accounts {
		as, err := a.snapshot()
		if err != nil {
			return nil, err
		}
		st.Accounts = append(st.Accounts, as)
	}
	return st, nil
}

func (a *account) snapshot() (accountState, error) {
	rng, err := a.rngSrc.MarshalBinary()
	if err != nil {
		return accountState{}, err
	}
	keyRng, err := a.keySrc.MarshalBinary()
	if err != nil {
		return accountState{}, err
	}
	as := accountState{ID: a.ID, Idx: a.idx, APIKey: a.APIKey, APISecret: a.APISecret, RNG: rng, KeyRNG: keyRng,
		Key: a.key, KeyExpiry: a.keyExpiry, KeyActive: a.keyActive,
		Positions: make(map[string]positionState, len(a.positions)), Wallet: make(map[string]float64, len(a.wallet)),
		Seq: a.seq, TradeSeq: a.tradeSeq, LastE: a.lastE, LoseNext: a.loseNext}
	for _, o := range a.orders {
		as.Orders = append(as.Orders, orderState{ID: o.id, ClientID: o.clientID, Symbol: o.sp.Symbol, Side: o.side,
			Type: o.typ, OrigType: o.origType, TIF: o.tif, Price: o.price, StopPrice: o.stopPrice, Lots: o.lots,
			Filled: o.filled, Avg: o.avg, Status: o.status, LastX: o.lastX, ER: o.er, ReduceOnly: o.reduceOnly,
			Created: o.created, Updated: o.updated, AlgoID: o.algoID(), NotionalFilled: o.notionalFilled})
	}
	for _, in := range a.income {
		as.Income = append(as.Income, incomeState{Symbol: in.sp.Symbol, Type: in.typ, Amount: in.amount, Time: in.t, TradeID: in.tradeID})
	}
	for _, g := range a.algos {
		gs := algoState{ID: g.id, ClientID: g.clientID, Symbol: g.sp.Symbol, Side: g.side, Type: g.typ,
			Status: g.status, RM: g.rm, Trigger: g.trigger, Price: g.price, Lots: g.lots, ReduceOnly: g.reduceOnly,
			Created: g.created, Updated: g.updated, TT: g.tt}
		if g.actual != nil {
			gs.ActualID = g.actual.id
		}
		as.Algos = append(as.Algos, gs)
	}
	for _, o := range a.live {
		as.Live = append(as.Live, o.id)
	}
	for _, g := range a.liveAlgos {
		as.LiveAlgos = append(as.LiveAlgos, g.id)
	}
	for sym, p := range a.positions {
		as.Positions[sym] = positionState{Lots: p.lots, Entry: p.entry, Realized: p.realized}
	}
	for q, v := range a.wallet {
		as.Wallet[q] = v
	}
	return as, nil
}

// SaveState writes the state to Config.StateFile now (atomically: a crash
// leaves the previous file or the new one, never half of one). Run calls it
// every StateEvery and when it stops; without a StateFile it does nothing.
func (s *Simulator) SaveState() error { return s.saveState(false) }

func (s *Simulator) saveState(clean bool) error {
	if s.cfg.StateFile == "" {
		return nil
	}
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	s.mu.Lock()
	st, err := s.snapshotLocked(clean)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("simulator state: %w", err)
	}
	data, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("simulator state: encoding: %w", err)
	}
	if err := writeFileAtomic(s.cfg.StateFile, data); err != nil {
		return fmt.Errorf("simulator state %s: %w", s.cfg.StateFile, err)
	}
	return nil
}

// writeFileAtomic writes data to a temporary file next to path (mode 0600:
// the state holds API secrets), syncs it, renames it over path and syncs
// the directory.
func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename there is nothing to remove
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// readStateFile reads path; a missing file is (nil, nil).
func readStateFile(path string) (*stateFile, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if fi.Size() > maxStateBytes {
		return nil, fmt.Errorf("%d bytes is more than the %d a state may have", fi.Size(), maxStateBytes)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return decodeState(data)
}

// decodeState parses a state file strictly: unknown fields, trailing data
// and another format version are errors.
func decodeState(data []byte) (*stateFile, error) {
	var st stateFile
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding: trailing data after the state")
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("format version %d, this simulator reads %d", st.Version, stateVersion)
	}
	return &st, nil
}

// restore replaces the fresh state New built from the seed with st. It
// checks every reference and leaves s unchanged on error. Caller holds mu
// or owns s.
func (s *Simulator) restore(st *stateFile) error {
	if st.Seed != s.cfg.Seed {
		return fmt.Errorf("saved with seed %d, not %d: start with --seed %d, or remove the file to start afresh from seed %d",
			st.Seed, s.cfg.Seed, st.Seed, s.cfg.Seed)
	}
	m := newMarket(s.cfg.Seed, s.cfg.Now())
	if err := m.restore(st.Market, s.cfg.Now()); err != nil {
		return fmt.Errorf("market: %w", err)
	}
	var (
		accounts []*account
		byID     = map[string]*account{}
		byKey    = map[string]*account{}
	)
	for i, as := range st.Accounts {
		a := newAccount(s.cfg.Seed, i+1, m)
		if as.Idx != a.idx || as.ID != a.ID || as.APIKey != a.APIKey || as.APISecret != a.APISecret {
			return fmt.Errorf("account %d (%q) is not the account %s this seed makes", i+1, as.ID, a.ID)
		}
		if err := a.restore(as, m, !st.Clean); err != nil {
			return fmt.Errorf("account %s: %w", a.ID, err)
		}
		accounts = append(accounts, a)
		byID[a.ID], byKey[a.APIKey] = a, a
	}
	owners := make(map[string]*account, len(st.ListenKeys))
	for k, id := range st.ListenKeys {
		a := byID[id]
		if a == nil {
			return fmt.Errorf("listenKey of unknown account %q", id)
		}
		owners[k] = a
	}
	s.market, s.accounts, s.byID, s.byAPIKey, s.keyOwners = m, accounts, byID, byKey, owners
	return nil
}

func (m *market) restore(ms marketState, now time.Time) error {
	n := len(m.specs)
	if len(ms.LogDev) != n || len(ms.Level) != n || len(ms.Funding) != n {
		return fmt.Errorf("%d/%d/%d prices for %d symbols", len(ms.LogDev), len(ms.Level), len(ms.Funding), n)
	}
	if err := m.rngSrc.UnmarshalBinary(ms.RNG); err != nil {
		return fmt.Errorf("random state: %w", err)
	}
	m.start, m.last, m.ticks = ms.Start, ms.Last, ms.Ticks
	copy(m.logDev, ms.LogDev)
	copy(m.level, ms.Level)
	copy(m.funding, ms.Funding)
	if c := ms.Crash; c != nil {
		m.crash = &crash{start: c.Start, over: c.Over, pct: c.Pct}
	}
	oldest := now.UnixMilli()/60000 - 2*24*60
	for b, row := range ms.Minutes {
		if len(row) != n {
			return fmt.Errorf("minute %d: %d prices for %d symbols", b, len(row), n)
		}
		if b > oldest {
			m.minutes[b] = append([]float64(nil), row...)
		}
	}
	return nil
}

func (a *account) restore(as accountState, m *market, unclean bool) error {
	if err := a.rngSrc.UnmarshalBinary(as.RNG); err != nil {
		return fmt.Errorf("random state: %w", err)
	}
	if err := a.keySrc.UnmarshalBinary(as.KeyRNG); err != nil {
		return fmt.Errorf("listenKey random state: %w", err)
	}
	if as.Seq < 0 || as.Seq >= maxSeq-uncleanSkip || as.TradeSeq < 0 || as.TradeSeq >= maxTradeSeq-uncleanSkip || as.LoseNext < 0 {
		return fmt.Errorf("sequence (%d, %d, %d) outside the account's id space", as.Seq, as.TradeSeq, as.LoseNext)
	}
	a.key, a.keyExpiry, a.keyActive = as.Key, as.KeyExpiry, as.KeyActive
	a.seq, a.tradeSeq, a.lastE, a.loseNext = as.Seq, as.TradeSeq, as.LastE, as.LoseNext
	if unclean {
		a.seq += uncleanSkip
		a.tradeSeq += uncleanSkip
	}
	for _, is := range as.Income {
		sp, ok := m.spec(is.Symbol)
		if !ok {
			return fmt.Errorf("income of trade %d: unknown symbol %q", is.TradeID, is.Symbol)
		}
		if (is.Type != binanceapi.IncomeCommission && is.Type != binanceapi.IncomeRealizedPnL) ||
			math.IsNaN(is.Amount) || math.IsInf(is.Amount, 0) {
			return fmt.Errorf("income of trade %d: type %q, amount %v", is.TradeID, is.Type, is.Amount)
		}
		a.income = append(a.income, income{sp: sp, typ: is.Type, amount: is.Amount, t: is.Time, tradeID: is.TradeID})
	}
	algoOf := map[*order]int64{}
	for _, os := range as.Orders {
		sp, ok := m.spec(os.Symbol)
		if !ok {
			return fmt.Errorf("order %d: unknown symbol %q", os.ID, os.Symbol)
		}
		if a.orderByID[os.ID] != nil {
			return fmt.Errorf("order %d listed twice", os.ID)
		}
		if os.Lots < 0 || os.Filled < 0 || os.Filled > os.Lots {
			return fmt.Errorf("order %d: filled %d of %d lots", os.ID, os.Filled, os.Lots)
		}
		o := &order{id: os.ID, clientID: os.ClientID, sp: sp, side: os.Side, typ: os.Type, origType: os.OrigType,
			tif: os.TIF, price: os.Price, stopPrice: os.StopPrice, lots: os.Lots, filled: os.Filled, avg: os.Avg,
			status: os.Status, lastX: os.LastX, er: os.ER, reduceOnly: os.ReduceOnly, created: os.Created,
			updated: os.Updated, notionalFilled: os.NotionalFilled}
		a.addOrder(o)
		if os.AlgoID != 0 {
			algoOf[o] = os.AlgoID
		}
	}
	for _, gs := range as.Algos {
		sp, ok := m.spec(gs.Symbol)
		if !ok {
			return fmt.Errorf("algo order %d: unknown symbol %q", gs.ID, gs.Symbol)
		}
		if a.algoByID[gs.ID] != nil {
			return fmt.Errorf("algo order %d listed twice", gs.ID)
		}
		g := &algoOrder{id: gs.ID, clientID: gs.ClientID, sp: sp, side: gs.Side, typ: gs.Type, status: gs.Status,
			rm: gs.RM, trigger: gs.Trigger, price: gs.Price, lots: gs.Lots, reduceOnly: gs.ReduceOnly,
			created: gs.Created, updated: gs.Updated, tt: gs.TT}
		if gs.ActualID != 0 {
			if g.actual = a.orderByID[gs.ActualID]; g.actual == nil {
				return fmt.Errorf("algo order %d: its order %d is not in the state", gs.ID, gs.ActualID)
			}
		} else if gs.Status == "TRIGGERED" {
			return fmt.Errorf("algo order %d: triggered without an order", gs.ID)
		}
		a.addAlgo(g)
	}
	for o, id := range algoOf {
		if o.algo = a.algoByID[id]; o.algo == nil {
			return fmt.Errorf("order %d: its algo order %d is not in the state", o.id, id)
		}
	}
	for _, id := range as.Live {
		o := a.orderByID[id]
		if o == nil || !o.open() || o.filled >= o.lots || slices.Contains(a.live, o) {
			return fmt.Errorf("open order %d is not an open order of the state, or listed twice", id)
		}
		a.live = append(a.live, o)
	}
	for _, id := range as.LiveAlgos {
		g := a.algoByID[id]
		if g == nil || !g.open() || slices.Contains(a.liveAlgos, g) {
			return fmt.Errorf("open algo order %d is not an open algo order of the state, or listed twice", id)
		}
		a.liveAlgos = append(a.liveAlgos, g)
	}
	for sym, ps := range as.Positions {
		if _, ok := m.spec(sym); !ok {
			return fmt.Errorf("position in unknown symbol %q", sym)
		}
		a.positions[sym] = &position{lots: ps.Lots, entry: ps.Entry, realized: ps.Realized}
	}
	if as.Wallet != nil {
		a.wallet = make(map[string]float64, len(as.Wallet))
		for q, v := range as.Wallet {
			a.wallet[q] = v
		}
	}
	return nil
}
