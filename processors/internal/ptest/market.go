package ptest

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
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
	for i := 0; i < s.Len(); i++ {
		at, b := s.AppendFrame(nil, i)
		times, frames = append(times, at), append(frames, b)
	}
	return times, frames
}

// Len is the number of frames of the scenario.
func (s Scenario) Len() int { return int(s.End/s.Step) + 1 }

// AppendFrame appends frame i of the scenario to dst and returns its
// event time: the JSON encoding of the markPrice elements (the same bytes
// as json.Marshal, TestAppendFrameIsJSONMarshal), written by hand so a
// day of 568 symbols renders in seconds without being held in memory.
func (s Scenario) AppendFrame(dst []byte, i int) (int64, []byte) {
	off := time.Duration(i) * s.Step
	at := s.Start.Add(off).UnixMilli()
	dst = append(dst, '[')
	for j := range s.Symbols {
		if j > 0 {
			dst = append(dst, ',')
		}
		p := s.price(off, j)
		dst = append(dst, `{"e":"markPriceUpdate","E":`...)
		dst = strconv.AppendInt(dst, at, 10)
		dst = append(dst, `,"s":"`...)
		if j == 0 {
			dst = append(dst, "BTCUSDT"...)
		} else {
			dst = append(dst, "ALT"...)
			if j < 10 {
				dst = append(dst, '0')
			}
			dst = strconv.AppendInt(dst, int64(j), 10)
			dst = append(dst, "USDT"...)
		}
		dst = append(dst, `","p":"`...)
		dst = strconv.AppendFloat(dst, p, 'f', 8, 64)
		dst = append(dst, `","i":"0","r":"0.0001","T":`...)
		dst = strconv.AppendInt(dst, at, 10)
		dst = append(dst, '}')
	}
	return at, append(dst, ']')
}

// price is symbol j's mark price at offset off.
func (s Scenario) price(off time.Duration, j int) float64 {
	base, drop := 10+float64(j), s.AltDrop
	if j == 0 {
		base, drop = 60000, s.BTCDrop
	}
	return base * (1 - drop*s.crashShare(off)) * (1 + 0.0003*math.Sin(float64(off/s.Step)*0.7+float64(j)))
}

// marshalFrame is frame i through json.Marshal (the reference of
// AppendFrame's test).
func (s Scenario) marshalFrame(i int) []byte {
	off := time.Duration(i) * s.Step
	at := s.Start.Add(off).UnixMilli()
	arr := make([]markPrice, s.Symbols)
	for j := range arr {
		sym := fmt.Sprintf("ALT%02dUSDT", j)
		if j == 0 {
			sym = "BTCUSDT"
		}
		arr[j] = markPrice{E: "markPriceUpdate", ET: at, S: sym, P: fmt.Sprintf("%.8f", s.price(off, j)), I: "0", R: "0.0001", T: at}
	}
	b, _ := json.Marshal(arr) // plain strings and ints: cannot fail
	return b
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
