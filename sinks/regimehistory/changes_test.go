package regimehistory

import (
	"bufio"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/processors/regime"
	"github.com/kraite/stream/topics"
)

const marketFile = "market-data/crash-2022-05-09.csv"

var (
	changesOnce sync.Once
	changes     []topics.RegimeChange
	changesErr  error
)

// realChanges are the change records the regime processor's pure step
// (regime.Step, what the processor runs per record) produces on the real
// 2022-05-09 crash from ../shared/market-data, with BTCUSDT silent for two
// hours in the middle so the feed goes degraded and recovers: bands, gate
// statuses, cooldowns, degraded reasons and inputs as the regime writes
// them.
func realChanges(t testing.TB) []topics.RegimeChange {
	t.Helper()
	path := testkit.SharedFiles(t, marketFile)[0]
	changesOnce.Do(func() { changes, changesErr = stepFile(path) })
	if changesErr != nil {
		t.Fatal(changesErr)
	}
	if len(changes) < 4 {
		t.Fatalf("only %d changes from %s", len(changes), marketFile)
	}
	return changes
}

func stepFile(path string) ([]topics.RegimeChange, error) {
	f, err := os.Open(filepath.Clean(path))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		times []int64
		ticks [][]regime.Tick
	)
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		parts := strings.Split(sc.Text(), ",")
		if len(parts) != 3 {
			continue
		}
		ts, err1 := strconv.ParseInt(parts[0], 10, 64)
		p, err2 := strconv.ParseFloat(parts[2], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		if n := len(times); n == 0 || times[n-1] != ts {
			times, ticks = append(times, ts), append(ticks, nil)
		}
		ticks[len(ticks)-1] = append(ticks[len(ticks)-1], regime.Tick{Symbol: parts[1], Price: p, AtMs: ts})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	cfg := regime.DefaultConfig(nil, "kraite.")
	st := regime.State{State: regimestate.State{Scope: topics.ExchangeBinance}}
	var out []topics.RegimeChange
	silentFrom, silentTo := len(times)/3, len(times)/3+24 // 24 five-minute steps: two hours
	for i, at := range times {
		tk := ticks[i]
		if i >= silentFrom && i < silentTo {
			var alts []regime.Tick
			for _, x := range tk {
				if x.Symbol != "BTCUSDT" {
					alts = append(alts, x)
				}
			}
			tk = alts
		}
		var ch *topics.RegimeChange
		st, ch = regime.Step(cfg, st, at, tk, nil)
		if ch != nil {
			out = append(out, *ch)
		}
	}
	return out, nil
}

// changeRecords renders changes as regime-changes records (key = scope).
func changeRecords(t testing.TB, prefix string, cs []topics.RegimeChange) []*kgo.Record {
	t.Helper()
	out := make([]*kgo.Record, 0, len(cs))
	for _, c := range cs {
		out = append(out, &kgo.Record{Topic: topics.RegimeChanges.Name(prefix), Key: []byte(c.Scope), Value: mustJSON(t, c)})
	}
	return out
}
