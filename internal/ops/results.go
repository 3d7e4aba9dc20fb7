package ops

import "sort"

// Result is the outcome of one registered check.
type Result struct {
	Name string
	Err  error // nil: ok
}

// Results runs the readiness checks (ready true) or the liveness checks
// and returns their outcomes sorted by name: what /readyz or /healthz
// would say, for in-process readers such as the status page.
func (s *Server) Results(ready bool) []Result {
	s.mu.Lock()
	checks := s.health
	if ready {
		checks = s.ready
	}
	out := make([]Result, 0, len(checks))
	cs := make([]Check, 0, len(checks))
	for n, c := range checks {
		out = append(out, Result{Name: n})
		cs = append(cs, c)
	}
	s.mu.Unlock()
	for i := range out {
		out[i].Err = cs[i]()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
