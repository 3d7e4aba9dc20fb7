package regime

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kraite/stream/processors/internal/gokastats"
)

// RegisterStats registers on reg a collector of r's goka statistics
// (kraite_goka_*, labelled with the processor's group), read at scrape
// time (see processors/internal/gokastats), and the alerts of its guarded
// overrides View (kraite_control_alert,
// kraite_control_records_refused_total; see lookups.Guard).
func RegisterStats(reg prometheus.Registerer, r *Runner) error {
	if err := gokastats.Register(reg, r.Processor()); err != nil {
		return err
	}
	for _, g := range r.Guards() {
		if err := reg.Register(g); err != nil {
			return fmt.Errorf("registering control alerts of %s: %w", g.Table(), err)
		}
	}
	return nil
}
