package regime

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
)

// marketFile is one ../shared/market-data CSV grouped into evaluations.
type marketFile struct {
	name  string
	times []int64
	ticks [][]Tick
	step  time.Duration
}

func loadMarketFile(t testing.TB, path string) marketFile {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mf := marketFile{name: filepath.Base(path)}
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ",")
		if len(parts) != 3 {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		ts, err1 := strconv.ParseInt(parts[0], 10, 64)
		p, err2 := strconv.ParseFloat(parts[2], 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("%s: bad line %q", path, sc.Text())
		}
		if n := len(mf.times); n == 0 || mf.times[n-1] != ts {
			mf.times = append(mf.times, ts)
			mf.ticks = append(mf.ticks, nil)
		}
		mf.ticks[len(mf.ticks)-1] = append(mf.ticks[len(mf.ticks)-1], Tick{Symbol: parts[1], Price: p})
	}
	if len(mf.times) > 1 {
		mf.step = time.Duration(mf.times[1]-mf.times[0]) * time.Millisecond
	}
	return mf
}

func marketFiles(t testing.TB) []marketFile {
	t.Helper()
	paths := testkit.SharedFiles(t, "market-data/*.csv")
	var out []marketFile
	for _, p := range paths {
		out = append(out, loadMarketFile(t, p))
	}
	return out
}

// configFor adapts the defaults to a file: candles arrive every step, so a
// symbol is stale only after two missed candles; the 2020 files use the
// implied BTC price (real BTCUSDT stops mid-crash in that source).
func configFor(mf marketFile) ScoreConfig {
	c := DefaultScoreConfig()
	c.StaleAfter = 2 * mf.step
	c.DegradedAfter = 2 * mf.step
	if strings.Contains(mf.name, "2020") {
		c.Reference = "BTCUSDT_IMPLIED"
	}
	return c
}

type replayResult struct {
	peak      regimestate.Inputs
	peakAt    int64
	peakBand  regimestate.Band
	bands     []regimestate.Band
	maxInputs regimestate.Inputs
}

func replayFile(mf marketFile, c ScoreConfig) replayResult {
	var m Market
	var r replayResult
	r.peak.Score = -1
	band := regimestate.Calm
	for i, at := range mf.times {
		in := c.Update(&m, at, mf.ticks[i])
		if in.Score > r.peak.Score {
			r.peak, r.peakAt = in, at
		}
		r.maxInputs.BTCShort = max(r.maxInputs.BTCShort, in.BTCShort)
		r.maxInputs.BTCLong = max(r.maxInputs.BTCLong, in.BTCLong)
		r.maxInputs.Breadth = max(r.maxInputs.Breadth, in.Breadth)
		r.maxInputs.VolRatio = max(r.maxInputs.VolRatio, in.VolRatio)
		r.maxInputs.StaleShare = max(r.maxInputs.StaleShare, in.StaleShare)
		if nb := regimestate.NextBand(band, in.Score, DefaultHysteresis); nb != band {
			band = nb
			r.bands = append(r.bands, band)
		}
	}
	r.peakBand = regimestate.BandOf(r.peak.Score)
	return r
}

// TestCalibrationCrashesRankFarAboveCalmDays replays every market-data file
// through the pure scoring core and asserts that every crash day reaches
// Critical while every calm day stays Calm, with a wide gap between the
// lowest crash peak and the highest calm peak. Run with -v for the table.
func TestCalibrationCrashesRankFarAboveCalmDays(t *testing.T) {
	files := marketFiles(t)
	minCrash, maxCalm := 101.0, -1.0
	t.Logf("%-22s %4s %7s %-8s %8s %8s %8s %8s %8s  %s", "file", "step", "peak", "band", "btc15", "btc60", "breadth", "vol", "stale", "peak at (UTC)")
	for _, mf := range files {
		r := replayFile(mf, configFor(mf))
		x := r.maxInputs
		t.Logf("%-22s %4s %7.2f %-8s %7.2f%% %7.2f%% %8.2f %8.2f %8.2f  %s", mf.name, mf.step, r.peak.Score, r.peakBand,
			100*x.BTCShort, 100*x.BTCLong, x.Breadth, x.VolRatio, x.StaleShare, time.UnixMilli(r.peakAt).UTC().Format("2006-01-02 15:04"))
		crash := strings.HasPrefix(mf.name, "crash-")
		switch {
		case crash:
			minCrash = min(minCrash, r.peak.Score)
			if r.peakBand != regimestate.Critical {
				t.Errorf("%s: crash peaks at %.2f (%s), want Critical", mf.name, r.peak.Score, r.peakBand)
			}
		default:
			maxCalm = max(maxCalm, r.peak.Score)
			if r.peakBand != regimestate.Calm {
				t.Errorf("%s: calm day peaks at %.2f (%s), want Calm", mf.name, r.peak.Score, r.peakBand)
			}
		}
	}
	t.Logf("lowest crash peak %.2f, highest calm peak %.2f, gap %.2f", minCrash, maxCalm, minCrash-maxCalm)
	if minCrash-maxCalm < 50 {
		t.Errorf("gap between crash and calm peaks is %.2f points, want at least 50", minCrash-maxCalm)
	}
	_ = fmt.Sprint
}

// TestCalibrationOneSymbolCrashingAloneIsNeverCritical takes every calm
// day and crashes one altcoin alone (-60 % over ten minutes at noon, and
// no recovery), replayed at the file's cadence (the whole day) and at 1 s
// (three hours either side of the fall): the band never
// reaches Critical and the gate never closes. A single token's collapse is
// not a market crash.
func TestCalibrationOneSymbolCrashingAloneIsNeverCritical(t *testing.T) {
	for _, mf := range marketFiles(t) {
		if !strings.HasPrefix(mf.name, "calm-") {
			continue
		}
		tp := tapeOf(mf)
		victim := ""
		for _, s := range tp.syms {
			if s != tp.ref && s != "BTCUSDT" {
				victim = s
				break
			}
		}
		noon := tp.times[0] - tp.times[0]%(24*hour) + 12*hour
		for i, at := range tp.times {
			f := min(max(float64(at-noon)/float64(10*minute), 0), 1)
			for j, s := range tp.syms {
				if s == victim {
					tp.closes[i][j] *= 1 - 0.6*f
				}
			}
			for k := range mf.ticks[i] {
				if mf.ticks[i][k].Symbol == victim {
					mf.ticks[i][k].Price *= 1 - 0.6*f
				}
			}
		}
		r := replayFile(mf, configFor(mf))
		if r.peakBand == regimestate.Critical || slices.Contains(r.bands, regimestate.Critical) {
			t.Errorf("%s with %s crashing alone: peak %.2f (%s) at the file's cadence", mf.name, victim, r.peak.Score, r.peakBand)
		}
		c := tp.replay(cadenceConfig(tp), noon-3*hour, noon+3*hour, time.Second, nil)
		t.Logf("%s, %s -60%% alone: peak %.2f (max breadth %.3f) at %s, %.2f at 1 s", mf.name, victim, r.peak.Score, r.maxInputs.Breadth, mf.step, c.peak)
		if len(c.criticalEntries) > 0 || len(c.episodes) > 0 {
			t.Errorf("%s with %s crashing alone at 1 s: peak %.2f, gate closed %s", mf.name, victim, c.peak, c)
		}
	}
}
