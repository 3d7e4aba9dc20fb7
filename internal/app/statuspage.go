package app

import (
	"strings"

	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/internal/ops"
	"github.com/kraite/stream/internal/statuspage"
	"github.com/kraite/stream/processors/gate"
	"github.com/kraite/stream/topics"
)

// StatusPage mounts the status page (GET /, GET /status.json) and its
// gauges on the process's ops server; kraite dev and every kraite run box
// serve it. Build it after the other components: it shows the streams of
// the producers and the database that were built before it, and says "not
// in this process" for what was not.
func (w *App) StatusPage(process string) (Component, error) {
	cfg := statuspage.Config{Kafka: w.Kafka(), Prefix: w.Common.TopicPrefix, Process: process, DB: w.db,
		Streams: processStreams(w), ControlAlerts: processControlAlerts(w), Checks: processChecks(w), Registerer: w.Ops.Registry,
		Log: w.Log.With("component", "status-page")}
	if w.Allowlist != nil {
		cfg.DefaultAllowlists = map[string][]string{topics.ExchangeBinance: w.Allowlist}
	}
	// The page judges stalls and drift as /readyz and the positions
	// worker do: KRAITE_STALL_AFTER, KRAITE_POSITION_DRIFT_GRACE.
	cfg.StallAfter, cfg.DriftGrace = w.Exchange.StallAfter, w.Jobs.DriftGrace
	sp, err := statuspage.New(cfg)
	if err != nil {
		return Component{}, err
	}
	sp.Mount(w.Ops)
	return Component{Name: "status-page", Run: sp.Run}, nil
}

// processStreams reads the user-data manager, the producer metrics and the
// REST client of this process; nil when none of them is here.
func processStreams(w *App) *statuspage.StreamSource {
	if w.userdata == nil && w.pubM == nil && w.rest == nil {
		return nil
	}
	src := &statuspage.StreamSource{}
	// The workers' and the user-data producer's REST clients share the
	// box's IP: one weight and one ban.
	var clients []*binanceapi.Client
	if w.rest != nil {
		clients = append(clients, w.rest)
	}
	if w.userdata != nil {
		clients = append(clients, w.userdata.REST())
	}
	if len(clients) > 0 {
		src.REST = func() statuspage.RESTState {
			sts := make([]statuspage.RESTState, len(clients))
			for i, rc := range clients {
				sts[i] = statuspage.RESTState{Exchange: topics.ExchangeBinance, UsedWeight: rc.UsedWeight(), UsedAt: rc.UsedWeightAt(),
					WeightLimit: rc.WeightLimit(), BannedUntil: rc.BannedUntil()}
			}
			return statuspage.MergeREST(sts...)
		}
	}
	if mg := w.userdata; mg != nil {
		src.Accounts = func() []statuspage.Account {
			sts := mg.Status()
			out := make([]statuspage.Account, len(sts))
			for i, s := range sts {
				out[i] = statuspage.Account{ID: s.ID, Connected: s.Connected, ListenKeyAt: s.ListenKeyAt, KeptAliveAt: s.KeptAliveAt,
					Problem: s.Problem, Closed: s.Closed}
			}
			return out
		}
	}
	if m := w.pubM; m != nil {
		src.LastFrames = func() []statuspage.Frame {
			lf := m.LastFrames()
			out := make([]statuspage.Frame, len(lf))
			for i, f := range lf {
				out[i] = statuspage.Frame{Stream: f.Stream, Account: f.Account, At: f.At}
			}
			return out
		}
		src.Counts = func() []statuspage.StreamCount {
			cs := m.Counts()
			out := make([]statuspage.StreamCount, len(cs))
			for i, c := range cs {
				out[i] = statuspage.StreamCount{Stream: c.Stream, Account: c.Account, Reconnects: c.Reconnects, Gaps: c.Gaps}
			}
			return out
		}
	}
	return src
}

// processChecks runs the process's /healthz and /readyz checks for the
// page's component strip.
func processChecks(w *App) func() (health, ready []statuspage.CheckResult) {
	conv := func(rs []ops.Result) []statuspage.CheckResult {
		out := make([]statuspage.CheckResult, len(rs))
		for i, r := range rs {
			out[i] = statuspage.CheckResult{Name: r.Name, Err: r.Err}
		}
		return out
	}
	return func() (health, ready []statuspage.CheckResult) {
		return conv(w.Ops.Results(false)), conv(w.Ops.Results(true))
	}
}

// processControlAlerts lists the refused control records of the gate and
// dispatch processors of this process; nil when neither runs here (the
// page then learns of them from the quarantine topic).
func processControlAlerts(w *App) func() []statuspage.ControlAlert {
	srcs := w.controlAlerts
	if len(srcs) == 0 {
		return nil
	}
	return func() []statuspage.ControlAlert {
		var out []statuspage.ControlAlert
		for _, src := range srcs {
			for _, a := range src() {
				out = append(out, controlAlert(a))
			}
		}
		return out
	}
}

func controlAlert(a gate.Alert) statuspage.ControlAlert {
	// a.Key is lookups.UnknownKeys for keys no reader looks up: the same
	// text as statuspage.UnknownKeys, so both gather under one alert.
	return statuspage.ControlAlert{Topic: a.Topic, Key: a.Key, Partition: a.Partition, Offset: a.Offset,
		Consumers: []string{a.Consumer}, Error: a.Error, KeptLastGood: a.KeptLastGood, AtMs: a.AtMs}
}

// RunProcessName is how the page names a kraite run process: its role, or
// its components.
func RunProcessName(role string, names []string) string {
	if role != "" {
		return role
	}
	return strings.Join(names, ", ")
}
