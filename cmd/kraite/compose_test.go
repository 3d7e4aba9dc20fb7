package main

// compose/ is never run here (no Docker engine), so these tests check it
// statically: pinned images, Prometheus targets against the services,
// Grafana provisioning against the dashboard, and every metric the
// dashboard queries against what a running `kraite dev` exposes.

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v2"

	"github.com/kraite/stream/topics"
)

const composeDir = "../../compose"

// taskAMetrics are the status-page gauges (internal/statuspage) with their
// labels. They need a database and a populated regime table, so a short
// dev run may not expose all of them; the dashboard may use them anyway.
var taskAMetrics = map[string][]string{
	"kraite_consumer_lag":                {"group", "topic", "partition"},
	"kraite_regime_score":                {"scope"},
	"kraite_regime_band":                 {"scope", "band"},
	"kraite_allowlist_types":             {"exchange"},
	"kraite_markprice_freshness_seconds": {"venue"},
	"kraite_quarantine_records":          nil,
}

// composeFile is the part of docker-compose.yml the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       any               `yaml:"build"`
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
}

func readCompose(t *testing.T) composeFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(composeDir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(c.Services) == 0 {
		t.Fatal("docker-compose.yml: no services")
	}
	return c
}

// boxes are the long-running kraite services (`kraite run --role ...`)
// and the port of their ops HTTP server.
func boxes(t *testing.T, c composeFile) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, s := range c.Services {
		cmd, _ := s.Command.([]any)
		if s.Build == nil || len(cmd) == 0 || cmd[0] != "run" {
			continue
		}
		addr := s.Environment["KRAITE_HTTP_ADDR"]
		i := strings.LastIndex(addr, ":")
		if i < 0 {
			t.Fatalf("service %s: KRAITE_HTTP_ADDR %q has no port", name, addr)
		}
		out[name] = addr[i+1:]
	}
	if len(out) == 0 {
		t.Fatal("docker-compose.yml: no kraite box runs `kraite run`")
	}
	return out
}

// mountTarget is where service s mounts host path src (relative to compose/).
func mountTarget(s composeService, src string) string {
	for _, v := range s.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) >= 2 && filepath.Clean(parts[0]) == filepath.Clean(src) {
			return parts[1]
		}
	}
	return ""
}

func TestComposeImagesArePinned(t *testing.T) {
	c := readCompose(t)
	for name, s := range c.Services {
		if s.Image == "" {
			if s.Build == nil {
				t.Errorf("service %s: neither image nor build", name)
			}
			continue
		}
		if strings.Contains(s.Image, "@sha256:") {
			continue
		}
		ref := s.Image[strings.LastIndex(s.Image, "/")+1:]
		tag := ""
		if i := strings.LastIndex(ref, ":"); i >= 0 {
			tag = ref[i+1:]
		}
		if tag == "" || tag == "latest" || !regexp.MustCompile(`\d`).MatchString(tag) {
			t.Errorf("service %s: image %q is not pinned to a version tag", name, s.Image)
		}
	}
	df, err := os.ReadFile(filepath.Join(composeDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(string(df), -1) {
		if ref := m[1]; !strings.Contains(ref[strings.LastIndex(ref, "/")+1:], ":") || strings.HasSuffix(ref, ":latest") {
			t.Errorf("Dockerfile: base image %q is not pinned", ref)
		}
	}
}

// promConfig is the part of prometheus.yml the tests read.
type promConfig struct {
	ScrapeConfigs []struct {
		JobName       string `yaml:"job_name"`
		MetricsPath   string `yaml:"metrics_path"`
		StaticConfigs []struct {
			Targets []string          `yaml:"targets"`
			Labels  map[string]string `yaml:"labels"`
		} `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

func TestPrometheusScrapesEveryBox(t *testing.T) {
	c := readCompose(t)
	prom, ok := c.Services["prometheus"]
	if !ok {
		t.Fatal("docker-compose.yml: no prometheus service")
	}
	if got := mountTarget(prom, "./prometheus/prometheus.yml"); got != "/etc/prometheus/prometheus.yml" {
		t.Errorf("prometheus.yml is mounted at %q, want /etc/prometheus/prometheus.yml", got)
	}
	data, err := os.ReadFile(filepath.Join(composeDir, "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var pc promConfig
	if err := yaml.UnmarshalStrict(data, &struct {
		Global        map[string]string `yaml:"global"`
		ScrapeConfigs any               `yaml:"scrape_configs"`
	}{}); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	if err := yaml.Unmarshal(data, &pc); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	want := boxes(t, c)
	got := map[string]string{}
	for _, sc := range pc.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			for _, target := range st.Targets {
				host, port, ok := strings.Cut(target, ":")
				if !ok {
					t.Errorf("job %s: target %q has no port", sc.JobName, target)
					continue
				}
				if _, isService := c.Services[host]; !isService && host != "localhost" {
					t.Errorf("job %s: target %q is not a compose service", sc.JobName, target)
				}
				if sc.JobName != "kraite" {
					continue
				}
				if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
					t.Errorf("job kraite: metrics_path %q, the ops server serves /metrics", sc.MetricsPath)
				}
				if st.Labels["box"] != host {
					t.Errorf("job kraite: target %s has box label %q, want %q", target, st.Labels["box"], host)
				}
				got[host] = port
			}
		}
	}
	for box, port := range want {
		if got[box] != port {
			t.Errorf("box %s serves /metrics on port %s; prometheus.yml scrapes %q", box, port, got[box])
		}
	}
	for host := range got {
		if _, ok := want[host]; !ok {
			t.Errorf("job kraite scrapes %s, which is not a kraite box", host)
		}
	}
}

// dashboard is the part of the Grafana dashboard JSON the tests read.
type dashboard struct {
	UID    string           `json:"uid"`
	Title  string           `json:"title"`
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	ID         int    `json:"id"`
	Type       string `json:"type"`
	Title      string `json:"title"`
	Datasource *struct {
		Type string `json:"type"`
		UID  string `json:"uid"`
	} `json:"datasource"`
	GridPos struct{ X, Y, W, H int } `json:"gridPos"`
	Targets []struct {
		Expr       string `json:"expr"`
		RefID      string `json:"refId"`
		Datasource *struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(composeDir, "grafana", "dashboards", "kraite.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("kraite.json is not valid JSON: %v", err)
	}
	if dec.More() {
		t.Fatal("kraite.json: trailing data")
	}
	return d
}

func TestGrafanaIsProvisionedWithTheDashboard(t *testing.T) {
	c := readCompose(t)
	g, ok := c.Services["grafana"]
	if !ok {
		t.Fatal("docker-compose.yml: no grafana service")
	}
	provDir := mountTarget(g, "./grafana/provisioning")
	if provDir != "/etc/grafana/provisioning" {
		t.Errorf("provisioning is mounted at %q, want /etc/grafana/provisioning", provDir)
	}
	dashDir := mountTarget(g, "./grafana/dashboards")

	var ds struct {
		Datasources []struct {
			Name, UID, Type, URL string
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(composeDir, "grafana", "provisioning", "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" {
		t.Fatalf("datasources: %+v, want one prometheus", ds.Datasources)
	}
	src := ds.Datasources[0]
	if src.URL != "http://prometheus:9090" {
		t.Errorf("datasource url %q, want http://prometheus:9090 (the compose service)", src.URL)
	}

	var prov struct {
		Providers []struct {
			Type    string            `yaml:"type"`
			Options map[string]string `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(composeDir, "grafana", "provisioning", "dashboards", "kraite.yml"), &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers: %+v, want one file provider", prov.Providers)
	}
	if p := prov.Providers[0].Options["path"]; p == "" || p != dashDir {
		t.Errorf("dashboard provider reads %q but ./grafana/dashboards is mounted at %q", p, dashDir)
	}
	if home := g.Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" && home != dashDir+"/kraite.json" {
		t.Errorf("home dashboard %q is not the provisioned %s/kraite.json", home, dashDir)
	}

	d := readDashboard(t)
	if d.UID == "" || d.Title == "" {
		t.Error("dashboard: uid and title are required")
	}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel %q: id %d used twice", p.Title, p.ID)
		}
		ids[p.ID] = true
		if p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
			t.Errorf("panel %q: gridPos %+v does not fit the 24-column grid", p.Title, p.GridPos)
		}
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != src.UID {
			t.Errorf("panel %q: datasource is not the provisioned uid %q", p.Title, src.UID)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no query", p.Title)
		}
		for _, tg := range p.Targets {
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q: query %s is empty", p.Title, tg.RefID)
			}
			if tg.Datasource != nil && tg.Datasource.UID != src.UID {
				t.Errorf("panel %q: query %s uses datasource %q", p.Title, tg.RefID, tg.Datasource.UID)
			}
		}
	}
	// The panels the status page has, over time.
	for _, name := range []string{"kraite_producer_last_frame_age_seconds", "kraite_producer_reconnects_total",
		"kraite_regime_score", "kraite_regime_band", "kraite_allowlist_types", "kraite_consumer_lag",
		"kraite_markprice_freshness_seconds", "kraite_quarantine_records", "kraite_sink_batch_records_bucket",
		"kraite_sink_batch_seconds_bucket", "kraite_sink_rows_total", "kraite_producer_frame_to_ack_seconds_bucket",
		"kraite_goka_input_messages_total"} {
		if _, ok := dashboardQueries(t, d)[name]; !ok {
			t.Errorf("no panel queries %s", name)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

var (
	quoted     = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	metricName = regexp.MustCompile(`\bkraite_[a-zA-Z0-9_:]+`)
	byClause   = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	selector   = regexp.MustCompile(`\b(kraite_[a-zA-Z0-9_:]+)\{([^}]*)\}`)
	matcher    = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!=|!~|=)\s*"((?:[^"\\]|\\.)*)"`)
)

// dashboardQueries maps every kraite metric name in the dashboard's
// PromQL to the expressions that use it.
func dashboardQueries(t *testing.T, d dashboard) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range metricName.FindAllString(quoted.ReplaceAllString(tg.Expr, `""`), -1) {
				if !slices.Contains(out[n], tg.Expr) {
					out[n] = append(out[n], tg.Expr)
				}
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the dashboard queries no kraite metric")
	}
	return out
}

// exposed is a /metrics scrape: sample name -> label names -> values seen.
type exposed map[string]map[string]map[string]bool

func scrapeMetrics(t *testing.T, opsAddr string) exposed {
	t.Helper()
	resp, err := http.Get("http://" + opsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	out := exposed{}
	add := func(name string, m *dto.Metric, extra ...string) {
		if out[name] == nil {
			out[name] = map[string]map[string]bool{}
		}
		for _, l := range m.GetLabel() {
			if out[name][l.GetName()] == nil {
				out[name][l.GetName()] = map[string]bool{}
			}
			out[name][l.GetName()][l.GetValue()] = true
		}
		for _, e := range extra {
			out[name][e] = map[string]bool{}
		}
	}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetType() {
			case dto.MetricType_HISTOGRAM:
				add(name+"_bucket", m, "le")
				add(name+"_sum", m)
				add(name+"_count", m)
			default:
				add(name, m)
			}
		}
	}
	return out
}

// TestDashboardMetricsAreProducedByKraiteDev runs `kraite dev`, drops one
// account's socket (so the reconnect counter exists), and checks that every
// metric the dashboard queries is exposed (or is a status-page gauge), with
// the labels its queries select and group by. It also checks what this
// task added: kprom series for every consumer client and goka stats for
// each processor.
func TestDashboardMetricsAreProducedByKraiteDev(t *testing.T) {
	queries := dashboardQueries(t, readDashboard(t))
	out := &syncBuffer{}
	_, opsAddr, stop := startDevOpsOut(t, t.TempDir(), out)
	defer stop()
	sim := regexp.MustCompile(`simulator\s+http://(127\.0\.0\.1:\d+)`).FindStringSubmatch(out.String())
	if sim == nil {
		t.Fatalf("no simulator address in:\n%s", out)
	}
	goka := []string{"kraite.dispatch", "kraite.regime", "kraite.gate"}
	consumers := []string{topics.GroupSinkAudit.Name("kraite."), topics.GroupSinkMarkPrice.Name("kraite."), topics.GroupSinkOrders.Name("kraite."), "kraite.gap-watcher",
		"-scheduler", "-trading-worker", "-cron-worker", "-indicators-worker", "-positions-worker"}
	clientSeen := func(m exposed, suffix string) bool {
		for id := range m["kraite_kafka_connects_total"]["client_id"] {
			if strings.HasSuffix(id, suffix) {
				return true
			}
		}
		return false
	}
	var (
		m       exposed
		missing []string
		dropped bool
	)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		m = scrapeMetrics(t, opsAddr)
		if !dropped && len(m["kraite_producer_last_frame_age_seconds"]) > 0 {
			adminFault(t, sim[1], map[string]any{"fault": "drop", "account": "acct-0001"})
			dropped = true
		}
		missing = missing[:0]
		for name := range queries {
			_, statusPage := taskAMetrics[name]
			if _, ok := m[name]; !ok && !statusPage {
				missing = append(missing, name)
			}
		}
		for _, g := range goka {
			if !m["kraite_goka_partitions"]["group"][g] {
				missing = append(missing, "kraite_goka_partitions{group="+g+"}")
			}
		}
		for _, c := range consumers {
			if !clientSeen(m, c) {
				missing = append(missing, "kraite_kafka_connects_total{client_id=~.*"+c+"}")
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			sort.Strings(missing)
			t.Fatalf("after 90 s, kraite dev's /metrics still lacks: %s", strings.Join(missing, ", "))
		}
	}

	for name := range taskAMetrics {
		if _, ok := m[name]; !ok {
			t.Logf("status-page gauge %s is not on kraite dev's /metrics; checked against its documented labels", name)
		}
	}

	// Labels: what a query selects on or groups by must exist on the metric.
	labelsOf := func(name string) map[string]bool {
		ls := map[string]bool{}
		if base, ok := taskAMetrics[name]; ok && m[name] == nil {
			for _, l := range base {
				ls[l] = true
			}
			return ls
		}
		for l := range m[name] {
			ls[l] = true
		}
		return ls
	}
	for name, exprs := range queries {
		for _, expr := range exprs {
			for _, sel := range selector.FindAllStringSubmatch(expr, -1) {
				if sel[1] != name {
					continue
				}
				for _, mt := range matcher.FindAllStringSubmatch(sel[2], -1) {
					label, op, value := mt[1], mt[2], mt[3]
					if !labelsOf(name)[label] {
						t.Errorf("%s has no label %q (query %s)", name, label, expr)
						continue
					}
					if op == "=" && m[name] != nil && !m[name][label][value] {
						t.Errorf("%s{%s=%q} matches no series of kraite dev (query %s)", name, label, value, expr)
					}
				}
			}
			for _, by := range byClause.FindAllStringSubmatch(expr, -1) {
				for _, l := range strings.Split(by[1], ",") {
					l = strings.TrimSpace(l)
					if l == "" {
						continue
					}
					found := false
					for _, n := range metricName.FindAllString(quoted.ReplaceAllString(expr, `""`), -1) {
						found = found || labelsOf(n)[l]
					}
					if !found {
						t.Errorf("query groups by %q, which no metric in it has: %s", l, expr)
					}
				}
			}
		}
	}
}
