package dispatch

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kraite/stream/processors/internal/gokastats"
)

// RegisterStats registers on reg a collector of r's goka statistics
// (kraite_goka_*, labelled with the processor's group), read at scrape
// time; see processors/internal/gokastats.
func RegisterStats(reg prometheus.Registerer, r *Runner) error {
	return gokastats.Register(reg, r.Processor())
}
