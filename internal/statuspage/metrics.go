package statuspage

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kraite/stream/internal/regimestate"
)

// The gauges. The Grafana dashboard is built on these exact names.
var (
	lagDesc = prometheus.NewDesc("kraite_consumer_lag",
		"Records a kraite consumer group has yet to consume, per partition (end offset minus committed offset).",
		[]string{"group", "topic", "partition"}, nil)
	scoreDesc = prometheus.NewDesc("kraite_regime_score",
		"Market regime score 0-100 per scope (exchange), from the regime table.", []string{"scope"}, nil)
	bandDesc = prometheus.NewDesc("kraite_regime_band",
		"1 for the current regime band of a scope, 0 for the other bands.", []string{"scope", "band"}, nil)
	allowDesc = prometheus.NewDesc("kraite_allowlist_types",
		"Execution types the dispatch allowlist lets through per exchange; 0 is shadow mode.", []string{"exchange"}, nil)
	freshDesc = prometheus.NewDesc("kraite_markprice_freshness_seconds",
		"Age of the newest mark price per venue: from exchange_symbols when this process has the database, "+
			"else of the newest record on the mark-price topic (venue = its key).", []string{"venue"}, nil)
	quarDesc = prometheus.NewDesc("kraite_quarantine_records",
		"Records on the quarantine topic (sum of its partitions' end offsets).", nil, nil)
	problemsDesc = prometheus.NewDesc("kraite_status_problems",
		"Problems on the status page's problems panel by kind and severity (bad: act now; warn: look). "+
			"Kinds: control_record_refused, regime_degraded, regime_stale, quarantine_growth, group_stalled, account_disconnected, position_drift, component.",
		[]string{"kind", "severity"}, nil)
)

// problemKinds and severities are every label pair of problemsDesc, all
// exported (0 when none) so that alert rules see a series.
var (
	problemKinds = []string{KindControlRefused, KindRegimeDegraded, KindRegimeStale, KindQuarantineGrowth, KindGroupStalled,
		KindDisconnected, KindPositionDrift, KindComponent}
	severities = []string{SeverityBad, SeverityWarn}
)

// bands is every regime band, in order.
var bands = []regimestate.Band{regimestate.Calm, regimestate.Elevated, regimestate.Fragile, regimestate.Critical}

// gauges exports a Collector's snapshot as Prometheus gauges, computed at
// scrape time so that ages are current and vanished series disappear.
type gauges struct{ c *Collector }

// Describe implements prometheus.Collector.
func (g *gauges) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{lagDesc, scoreDesc, bandDesc, allowDesc, freshDesc, quarDesc, problemsDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (g *gauges) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	s := g.c.Snapshot(now)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	for _, r := range s.Lag.Rows {
		for _, p := range r.Partitions {
			if p.Lag >= 0 {
				gauge(lagDesc, float64(p.Lag), r.Group, r.Topic, strconv.Itoa(int(p.Partition)))
			}
		}
	}
	for _, sc := range s.Regime.Scopes {
		gauge(scoreDesc, sc.Score, sc.Scope)
		for _, b := range bands {
			v := 0.0
			if string(b) == sc.Band {
				v = 1
			}
			gauge(bandDesc, v, sc.Scope, string(b))
		}
	}
	if s.Allowlist.Available {
		for _, a := range s.Allowlist.Exchanges {
			gauge(allowDesc, float64(len(a.Types)), a.Exchange)
		}
	}
	for venue, a := range Freshness(s) {
		gauge(freshDesc, a, venue)
	}
	if s.Quarantine.Available {
		gauge(quarDesc, float64(s.Quarantine.Total))
	}
	counts := map[[2]string]int{}
	for _, p := range s.Problems {
		counts[[2]string{p.Kind, p.Severity}]++
	}
	for _, k := range problemKinds {
		for _, sev := range severities {
			gauge(problemsDesc, float64(counts[[2]string{k, sev}]), k, sev)
		}
	}
}

// Freshness is the mark-price age per venue as the page shows it: the
// database's venues when this process has the database, else the keys of
// the mark-price topic. Venues without any price are left out.
func Freshness(s Snapshot) map[string]float64 {
	out := map[string]float64{}
	if s.MarkPrice.Database.Available {
		for _, v := range s.MarkPrice.Venues {
			if v.Age != nil {
				out[v.Venue] = *v.Age
			}
		}
		return out
	}
	for _, t := range s.MarkPrice.Topic {
		if t.Age != nil {
			out[t.Key] = *t.Age
		}
	}
	return out
}
