package ops

import (
	"errors"
	"log/slog"
	"testing"
)

func TestResultsAreWhatTheProbesSay(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	s.Ready("b", func() error { return errors.New("stalled") })
	s.Ready("a", func() error { return nil })
	s.Health("a", func() error { return nil })
	r := s.Results(true)
	if len(r) != 2 || r[0].Name != "a" || r[0].Err != nil || r[1].Name != "b" || r[1].Err == nil || r[1].Err.Error() != "stalled" {
		t.Fatalf("readiness: %+v", r)
	}
	if h := s.Results(false); len(h) != 1 || h[0].Name != "a" || h[0].Err != nil {
		t.Fatalf("liveness: %+v", h)
	}
}
