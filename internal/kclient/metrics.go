package kclient

import (
	"context"
	"log/slog"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// A kprom.Metrics (v1.5.0) serves one client only: OnNewClient replaces
// its collectors with the new client's, so a second client's hooks would
// count into the first one's series, and OnClientClosed unregisters the
// collectors of whichever client came last. Every client of a Factory
// therefore gets a kprom.Metrics of its own (registerer.hooks); they share
// the factory's registerer, and client_id tells their series apart.

// registerer is the process registry as kprom sees it. kprom
// registers with MustRegister when a client is created, so a second client
// with the same client ID would panic inside kgo.NewClient: here that
// client is only left out of /metrics, with a warning. Unregister (kprom
// does it when a client closes) removes only collectors this registerer
// registered: the registry unregisters by descriptor, so a left-out
// client's close would otherwise remove the first client's series.
type registerer struct {
	reg prometheus.Registerer
	log *slog.Logger

	mu     sync.Mutex
	mine   map[prometheus.Collector]struct{}
	warned bool
}

func newRegisterer(reg prometheus.Registerer, log *slog.Logger) *registerer {
	return &registerer{reg: reg, log: log, mine: map[prometheus.Collector]struct{}{}}
}

func (r *registerer) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.mine[c] = struct{}{}
	r.mu.Unlock()
	return nil
}

func (r *registerer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		err := r.Register(c)
		if err == nil {
			continue
		}
		r.mu.Lock()
		first := !r.warned
		r.warned = true
		r.mu.Unlock()
		level := slog.LevelDebug
		if first {
			level = slog.LevelWarn
		}
		r.log.Log(context.Background(), level, "kafka client metrics left out of /metrics: two clients share a client id", "err", err)
	}
}

func (r *registerer) Unregister(c prometheus.Collector) bool {
	r.mu.Lock()
	_, ok := r.mine[c]
	delete(r.mine, c)
	r.mu.Unlock()
	return ok && r.reg.Unregister(c)
}
