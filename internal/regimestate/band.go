package regimestate

// Band is a regime band: Calm < 25 <= Elevated < 50 <= Fragile < 75 <= Critical.
type Band string

// The four bands, in order.
const (
	Calm     Band = "Calm"
	Elevated Band = "Elevated"
	Fragile  Band = "Fragile"
	Critical Band = "Critical"
)

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

// Rank is the band's order: Calm 0, Elevated 1, Fragile 2, Critical 3
// (and 0 for anything else).
func (b Band) Rank() int {
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
	if up.Rank() > cur.Rank() {
		return up
	}
	down := BandOf(score + hysteresis)
	if down.Rank() < cur.Rank() {
		return down
	}
	if cur == "" {
		return up
	}
	return cur
}
