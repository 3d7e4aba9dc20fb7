package ptest

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Scenario describes a synthetic market for regime tests: Symbols symbols
// (BTCUSDT first) ticking every Step; quiet until CrashAt, then BTC falls
// BTCDrop and every other symbol AltDrop, linearly over CrashFor, then
// quiet again until End. Noise is a deterministic ±0.03 % wiggle.
type Scenario struct {
	Start    time.Time
	Step     time.Duration
	Symbols  int
	CrashAt  time.Duration // offset from Start; 0 = no crash
	CrashFor time.Duration
	BTCDrop  float64
	AltDrop  float64
	End      time.Duration
}

// Crash is the scenario of the issue: BTC -12 % in 15 minutes with broad
// breadth (every alt -15 %), after 90 quiet minutes, then 4 quiet hours.
func Crash() Scenario {
	return Scenario{Start: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), Step: 30 * time.Second, Symbols: 30,
		CrashAt: 90 * time.Minute, CrashFor: 15 * time.Minute, BTCDrop: 0.12, AltDrop: 0.15, End: 6 * time.Hour}
}

type markPrice struct {
	E  string `json:"e"`
	ET int64  `json:"E"`
	S  string `json:"s"`
	P  string `json:"p"`
	I  string `json:"i"`
	R  string `json:"r"`
	T  int64  `json:"T"`
}

// Frames renders the scenario as raw !markPrice@arr frames with their
// event times (ms).
func (s Scenario) Frames() (times []int64, frames [][]byte) {
	for off := time.Duration(0); off <= s.End; off += s.Step {
		at := s.Start.Add(off).UnixMilli()
		arr := make([]markPrice, s.Symbols)
		for i := range arr {
			sym, base, drop := fmt.Sprintf("ALT%02dUSDT", i), 10+float64(i), s.AltDrop
			if i == 0 {
				sym, base, drop = "BTCUSDT", 60000, s.BTCDrop
			}
			p := base * (1 - drop*s.crashShare(off)) * (1 + 0.0003*math.Sin(float64(off/s.Step)*0.7+float64(i)))
			arr[i] = markPrice{E: "markPriceUpdate", ET: at, S: sym, P: fmt.Sprintf("%.8f", p), I: "0", R: "0.0001", T: at}
		}
		b, _ := json.Marshal(arr) // plain strings and ints: cannot fail
		times, frames = append(times, at), append(frames, b)
	}
	return times, frames
}

// crashShare is 0 before the crash, 1 after it, linear during it.
func (s Scenario) crashShare(off time.Duration) float64 {
	switch {
	case s.CrashAt == 0 || off <= s.CrashAt:
		return 0
	case off >= s.CrashAt+s.CrashFor:
		return 1
	default:
		return float64(off-s.CrashAt) / float64(s.CrashFor)
	}
}
