// Package ops serves what operators and orchestrators probe on every
// process: Prometheus /metrics, /healthz (the process is alive and its
// components are healthy) and /readyz (ready for traffic), plus any extra
// handlers a role mounts (the status page).
package ops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports a component's health; nil means healthy.
type Check func() error

// Server is the ops HTTP endpoint of one process.
type Server struct {
	Registry *prometheus.Registry
	mux      *http.ServeMux
	log      *slog.Logger

	mu     sync.Mutex
	health map[string]Check
	ready  map[string]Check
}

// NewServer creates a registry with Go and process collectors and the routes.
func NewServer(log *slog.Logger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{Registry: reg, mux: http.NewServeMux(), log: log, health: map[string]Check{}, ready: map[string]Check{}}
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { s.report(w, s.health) })
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { s.report(w, s.ready) })
	return s
}

// Health registers a liveness check.
func (s *Server) Health(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health[name] = c
}

// Ready registers a readiness check.
func (s *Server) Ready(name string, c Check) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ready[name] = c
}

// Handle mounts an extra handler (e.g. the status page at "/").
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the whole mux (for tests).
func (s *Server) Handler() http.Handler { return s.mux }

func (s *Server) report(w http.ResponseWriter, checks map[string]Check) {
	s.mu.Lock()
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	cs := make([]Check, len(names))
	for i, n := range names {
		cs[i] = checks[n]
	}
	s.mu.Unlock()
	status, body := http.StatusOK, ""
	for i, n := range names {
		if err := cs[i](); err != nil {
			status = http.StatusServiceUnavailable
			body += fmt.Sprintf("%s: %v\n", n, err)
		} else {
			body += n + ": ok\n"
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	fmt.Fprint(w, body)
}

// Run serves on addr until ctx ends. A listen failure is returned at once.
func (s *Server) Run(ctx context.Context, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listening for ops http on %s: %w", addr, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx ends, then shuts down within 5 s.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving ops http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("shutting down ops http: %w", err)
	}
	return nil
}
