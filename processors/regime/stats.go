package regime

import (
	"github.com/prometheus/client_golang/prometheus"
)

// RegisterStats registers on reg a collector of r's goka statistics
// (kraite_goka_*, labelled with the processor's group), read at scrape
// time (see processors/internal/gokastats), and the alerts of its guarded
// overrides View (kraite_control_alert,
// kraite_control_records_refused_total; see lookups.Guard).
func RegisterStats(reg prometheus.Registerer, r *Runner) error { return r.RegisterStats(reg) }
