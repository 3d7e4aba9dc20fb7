package regime

import "time"

// DefaultHysteresis is how far (in score points) the score must fall below
// a band's lower bound before the band is left downwards; it keeps a score
// hovering at a boundary from flapping the band every second.
const DefaultHysteresis = 3.0

// DefaultDownHold is how long the score must point to a lower band before
// the band moves down (Config.DownHold).
const DefaultDownHold = 30 * time.Minute
