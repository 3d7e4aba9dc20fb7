package regime

import "time"

// Band is a regime band: Calm < 25 <= Elevated < 50 <= Fragile < 75 <= Critical.
type Band string

// The four bands, in order.
const (
	Calm     Band = "Calm"
	Elevated Band = "Elevated"
	Fragile  Band = "Fragile"
	Critical Band = "Critical"
)

// DefaultHysteresis is how far (in score points) the score must fall below
// a band's lower bound before the band is left downwards; it keeps a score
// hovering at a boundary from flapping the band every second.
const DefaultHysteresis = 3.0

// DefaultDownHold is how long the score must point to a lower band before
// the band moves down (Config.DownHold).
const DefaultDownHold = 30 * time.Minute

var bandFloors = []struct {
	b     Band
	floor float64
}{{Critical, 75}, {Fragile, 50}, {Elevated, 25}, {Calm, 0}}

// BandOf maps a score to its band.
func BandOf(score float64) Band {
	for _, f := range bandFloors {
		if score >= f.floor {
			return f.b
		}
	}
	return Calm
}

func (b Band) rank() int {
	switch b {
	case Elevated:
		return 1
	case Fragile:
		return 2
	case Critical:
		return 3
	default:
		return 0
	}
}

// NextBand is the band after a new score: up as soon as the score reaches a
// higher band, down only once the score is hysteresis points below the
// current band's floor (then to the band of score+hysteresis).
func NextBand(cur Band, score, hysteresis float64) Band {
	up := BandOf(score)
	if up.rank() > cur.rank() {
		return up
	}
	down := BandOf(score + hysteresis)
	if down.rank() < cur.rank() {
		return down
	}
	if cur == "" {
		return up
	}
	return cur
}
