package regime

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/processors/internal/ptest"
	"github.com/kraite/stream/topics"
)

// tape is a market-data file as a price path per symbol: the candle
// closes at their end times, linearly interpolated in between, so it can
// be replayed at any cadence (the live feed pushes every second).
type tape struct {
	name    string
	syms    []string
	times   []int64     // candle end times, ascending
	closes  [][]float64 // [time][symbol], NaN when the symbol has no candle
	ref     string
	stepDur time.Duration
}

func tapeOf(mf marketFile) tape {
	tp := tape{name: mf.name, times: mf.times, stepDur: mf.step, ref: configFor(mf).Reference}
	idx := map[string]int{}
	for _, ticks := range mf.ticks {
		for _, tk := range ticks {
			if _, ok := idx[tk.Symbol]; !ok {
				idx[tk.Symbol] = len(tp.syms)
				tp.syms = append(tp.syms, tk.Symbol)
			}
		}
	}
	for _, ticks := range mf.ticks {
		row := make([]float64, len(tp.syms))
		for i := range row {
			row[i] = math.NaN()
		}
		for _, tk := range ticks {
			row[idx[tk.Symbol]] = tk.Price
		}
		tp.closes = append(tp.closes, row)
	}
	return tp
}

// silence removes symbols from the feed during [from, to).
type silence struct {
	from, to int64
	drop     func(sym string) bool
}

// episode is one closing of the gate: from the first record whose gate
// refuses opens to the first that allows them again (0 when still closed).
type episode struct {
	closedAt, openedAt int64
	why                []string // gate statuses seen while closed
}

type cadenceRun struct {
	criticalEntries []int64 // event times the band entered Critical
	degradedEntries []int64 // event times the gate became degraded
	episodes        []episode
	changes         int
	peak            float64
	lastGate        string
}

// replay feeds the tape at one record per cadence over [from, to] through
// the processor's step (the same function as Step, without the copy).
func (tp tape) replay(cfg Config, from, to int64, cadence time.Duration, sil *silence) cadenceRun {
	st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	var run cadenceRun
	dropped := make([]bool, len(tp.syms))
	if sil != nil {
		for i, s := range tp.syms {
			dropped[i] = sil.drop(s)
		}
	}
	k := 0
	ticks := make([]Tick, 0, len(tp.syms))
	closed := false
	for at := from; at <= to; at += cadence.Milliseconds() {
		for k+1 < len(tp.times) && tp.times[k+1] <= at {
			k++
		}
		if at < tp.times[0] {
			continue
		}
		quiet := sil != nil && at >= sil.from && at < sil.to
		ticks = ticks[:0]
		for i, sym := range tp.syms {
			if quiet && dropped[i] {
				continue
			}
			p := tp.closes[k][i]
			if math.IsNaN(p) {
				continue
			}
			if k+1 < len(tp.times) && !math.IsNaN(tp.closes[k+1][i]) {
				f := float64(at-tp.times[k]) / float64(tp.times[k+1]-tp.times[k])
				p += f * (tp.closes[k+1][i] - p)
			}
			ticks = append(ticks, Tick{Symbol: sym, Price: p, AtMs: at})
		}
		if len(ticks) == 0 {
			continue // nothing on the feed, no record
		}
		var ch *topics.RegimeChange
		st, ch = step(cfg, st, at, ticks, nil)
		run.peak = max(run.peak, st.Score)
		if ch == nil {
			continue
		}
		run.changes++
		if ch.To == string(regimestate.Critical) && ch.From != string(regimestate.Critical) {
			run.criticalEntries = append(run.criticalEntries, at)
		}
		if ch.Gate == regimestate.GateDegraded && run.lastGate != regimestate.GateDegraded {
			run.degradedEntries = append(run.degradedEntries, at)
		}
		switch allowed := regimestate.Allowed(st.Gate); {
		case !allowed && !closed:
			run.episodes = append(run.episodes, episode{closedAt: at})
			closed = true
		case allowed && closed:
			run.episodes[len(run.episodes)-1].openedAt = at
			closed = false
		}
		if closed {
			e := &run.episodes[len(run.episodes)-1]
			if !slices.Contains(e.why, st.Gate) {
				e.why = append(e.why, st.Gate)
			}
		}
		run.lastGate = st.Gate
	}
	return run
}

func utc(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("01-02 15:04:05")
}

func (r cadenceRun) String() string {
	var b strings.Builder
	for _, e := range r.episodes {
		b.WriteString("[" + utc(e.closedAt) + " .. " + utc(e.openedAt) + " " + strings.Join(e.why, ",") + "] ")
	}
	return b.String()
}

func cadenceConfig(tp tape) Config {
	cfg := DefaultConfig(nil, "kraite.")
	cfg.Score.Reference = tp.ref
	return cfg
}

// crashStarts is, per crash file, the onset of its main leg: twenty
// minutes before the full feed enters Critical at 1 s cadence.
var crashStarts = map[string]string{
	"crash-2020-03-12.csv": "2020-03-13T01:33:00Z",
	"crash-2021-05-19.csv": "2021-05-19T12:24:00Z",
	"crash-2022-05-09.csv": "2022-05-11T12:25:00Z",
	"crash-2022-11-08.csv": "2022-11-08T19:07:00Z",
	"crash-2024-08-05.csv": "2024-08-05T06:02:00Z",
	"crash-2025-10-10.csv": "2025-10-10T20:55:00Z",
}

func crashTapes(t *testing.T) []struct {
	tape
	start int64
} {
	t.Helper()
	var out []struct {
		tape
		start int64
	}
	for _, mf := range marketFiles(t) {
		if !strings.HasPrefix(mf.name, "crash-") {
			continue
		}
		s, ok := crashStarts[mf.name]
		if !ok {
			t.Fatalf("%s: no crash start", mf.name)
		}
		at, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, struct {
			tape
			start int64
		}{tapeOf(mf), at.UnixMilli()})
	}
	return out
}

const (
	minute = int64(60_000)
	hour   = 60 * minute
)

// TestCadenceCrashEntersCriticalOnce replays each crash at 1 s cadence
// (1m/5m closes interpolated to seconds, six hours of warm-up) and checks
// that the gate closes once for its main leg and that the band never
// re-enters Critical within 45 minutes of entering it: a re-entry is a new
// wave (2022-05-11 13:47, an hour after the first, after the score had
// fallen to 1), not a flap. Before, one crash gave 3 entries and 24 changes.
func TestCadenceCrashEntersCriticalOnce(t *testing.T) {
	for _, c := range crashTapes(t) {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := c.replay(cadenceConfig(c.tape), c.start-6*hour, c.start+3*hour, time.Second, nil)
			t.Logf("peak %.1f, %d changes, Critical entered %v, gate closed %s", r.peak, r.changes, utcs(r.criticalEntries), r)
			in := 0
			for i, e := range r.criticalEntries {
				if e >= c.start-30*minute && e <= c.start+2*hour {
					in++
				}
				if i > 0 && e-r.criticalEntries[i-1] < 45*minute {
					t.Errorf("Critical entered again %s after entering at %s", time.Duration(e-r.criticalEntries[i-1])*time.Millisecond, utc(r.criticalEntries[i-1]))
				}
			}
			if in == 0 {
				t.Error("the main leg never entered Critical")
			}
			closings := 0
			for _, e := range r.episodes {
				if e.closedAt >= c.start-30*minute && e.closedAt <= c.start+2*hour {
					closings++
				}
			}
			if closings != 1 {
				t.Errorf("the gate closed %d times for the main leg, want once", closings)
			}
			if r.changes > 16 {
				t.Errorf("%d band or gate changes in nine hours", r.changes)
			}
		})
	}
}

func utcs(ms []int64) []string {
	var out []string
	for _, x := range ms {
		out = append(out, utc(x))
	}
	return out
}

// TestCadenceGateClosesWhenTheFeedIsHalfSilent replays each crash at 1 s
// cadence with the reference silent, or every other symbol silent, from
// the crash's onset for 90 minutes: the gate must close within a minute of
// the onset (degraded) and stay closed while the feed is half silent, with
// one closing and one entry into degraded per crash.
func TestCadenceGateClosesWhenTheFeedIsHalfSilent(t *testing.T) {
	for _, c := range crashTapes(t) {
		for _, v := range []struct {
			name string
			drop func(ref string) func(string) bool
		}{
			{"reference silent", func(ref string) func(string) bool {
				return func(s string) bool { return s == ref || s == "BTCUSDT" }
			}},
			{"altcoins silent", func(ref string) func(string) bool {
				return func(s string) bool { return s != ref && s != "BTCUSDT" }
			}},
		} {
			t.Run(c.name+"/"+v.name, func(t *testing.T) {
				t.Parallel()
				sil := &silence{from: c.start, to: c.start + 90*minute, drop: v.drop(c.ref)}
				r := c.replay(cadenceConfig(c.tape), c.start-6*hour, c.start+3*hour, time.Second, sil)
				t.Logf("peak %.1f, %d changes, gate closed %s", r.peak, r.changes, r)
				var during []episode
				for _, e := range r.episodes {
					if e.openedAt == 0 || e.openedAt > sil.from {
						during = append(during, e)
					}
				}
				if len(during) == 0 {
					t.Fatal("the gate never closed")
				}
				first := during[0]
				if first.closedAt > sil.from+minute {
					t.Errorf("gate closed at %s, more than a minute after the onset %s", utc(first.closedAt), utc(sil.from))
				}
				if first.openedAt != 0 && first.openedAt < sil.to {
					t.Errorf("gate reopened at %s while the feed was half silent (until %s)", utc(first.openedAt), utc(sil.to))
				}
				if n := len(r.degradedEntries); n != 1 {
					t.Errorf("%d entries into degraded, want 1: %v", n, r.degradedEntries)
				}
				if len(during) > 1 && during[1].closedAt < c.start+2*hour {
					t.Errorf("the gate closed again at %s, %d closings in the crash", utc(during[1].closedAt), len(during))
				}
			})
		}
	}
}

// TestCadenceCalmDaysStayCalmAndOpen replays every calm day at 1 s cadence:
// no band change after the first Calm, gate open throughout.
func TestCadenceCalmDaysStayCalmAndOpen(t *testing.T) {
	for _, mf := range marketFiles(t) {
		if !strings.HasPrefix(mf.name, "calm-") {
			continue
		}
		tp := tapeOf(mf)
		t.Run(tp.name, func(t *testing.T) {
			t.Parallel()
			r := tp.replay(cadenceConfig(tp), tp.times[0], tp.times[len(tp.times)-1], time.Second, nil)
			t.Logf("peak %.2f", r.peak)
			if r.changes != 1 || len(r.episodes) != 0 || regimestate.BandOf(r.peak) != regimestate.Calm {
				t.Errorf("calm day: peak %.2f, %d changes, gate closed %s", r.peak, r.changes, r)
			}
		})
	}
}

// TestStateStaysSmall: 500 symbols for 65 minutes (the reference's
// samples fill its hour): the table value, written on every record, stays
// under 1 KB whatever the symbols (the market is not in it), and a
// checkpoint (state and market) under 80 bytes per symbol; the 5-minute
// samples the moving average replaced took about 200 (101,660 bytes for
// 500 symbols at 1 s cadence after 100 minutes, 38,292 now).
func TestStateStaysSmall(t *testing.T) {
	sc := ptest.Crash()
	sc.Symbols, sc.Step, sc.End = 500, 10*time.Second, 65*time.Minute
	_, frames := sc.Frames()
	cfg := DefaultConfig(nil, "kraite.")
	st := State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	for _, f := range frames {
		at, ticks, err := DecodeTicks(f)
		if err != nil {
			t.Fatal(err)
		}
		st, _ = step(cfg, st, at, ticks, nil)
	}
	st.Partition, st.Next = 2, 1_000_000_000
	value, err := StateCodec{}.Encode(&st)
	if err != nil {
		t.Fatal(err)
	}
	ck, err := CheckpointCodec{}.Encode(&Checkpoint{State: st, Market: st.Market})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("table value: %d bytes; checkpoint: %d bytes for %d symbols", len(value), len(ck), len(st.Market.Symbols))
	if len(value) > 1024 || len(ck) > 80*500 {
		t.Fatalf("table value %d bytes, checkpoint %d bytes for 500 symbols", len(value), len(ck))
	}
}
