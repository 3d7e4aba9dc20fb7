package main

// compose/ is never run here (no Docker engine), so these tests check it
// statically: pinned images, Prometheus targets against the services,
// Grafana provisioning against the dashboard, and every metric the
// dashboard queries against what a running `kraite dev` exposes.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	yaml "go.yaml.in/yaml/v2"

	"github.com/kraite/stream/harness/simulator"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
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
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image       string                       `yaml:"image"`
	Build       any                          `yaml:"build"`
	Command     any                          `yaml:"command"`
	Entrypoint  any                          `yaml:"entrypoint"`
	Environment map[string]string            `yaml:"environment"`
	Volumes     []string                     `yaml:"volumes"`
	Ports       []any                        `yaml:"ports"`
	Profiles    []string                     `yaml:"profiles"`
	Secrets     []string                     `yaml:"secrets"`
	Restart     string                       `yaml:"restart"`
	StopGrace   string                       `yaml:"stop_grace_period"`
	NetworkMode string                       `yaml:"network_mode"`
	Healthcheck *composeHealthcheck          `yaml:"healthcheck"`
	DependsOn   map[string]composeDependency `yaml:"depends_on"`
}

type composeHealthcheck struct {
	Test any `yaml:"test"`
}

type composeDependency struct {
	Condition string `yaml:"condition"`
	Required  *bool  `yaml:"required"`
}

// isKraite: the service runs the kraite image (built from compose/Dockerfile).
func (s composeService) isKraite() bool { return s.Build != nil && s.Image == "" }

// oneShot: a kraite command that runs once (migrate, topics apply, ...).
func (s composeService) oneShot() bool { return s.isKraite() && s.Restart == "no" }

// args is a command, entrypoint or healthcheck test as its list of
// arguments; ok is false when it is a string (which the engine splits on
// spaces, or hands to a shell) or holds something that is not a string.
func args(v any) (out []string, ok bool) {
	list, isList := v.([]any)
	if !isList {
		return nil, v == nil
	}
	for _, item := range list {
		s, isString := item.(string)
		if !isString {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
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
		cmd, _ := args(s.Command)
		if !s.isKraite() || len(cmd) == 0 || cmd[0] != "run" {
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

// knownUnpinned are images that may stay on a tag without a digest because
// no published digest could be found here (no registry access). Each one is
// printed by the test; the list is empty today.
var knownUnpinned = map[string]string{}

var pinnedImage = regexp.MustCompile(`^[a-z0-9][a-z0-9._/:-]*:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}$`)

func TestComposeImagesArePinnedByDigest(t *testing.T) {
	c := readCompose(t)
	check := func(where, ref string) {
		if pinnedImage.MatchString(ref) {
			return
		}
		if why, ok := knownUnpinned[ref]; ok {
			t.Logf("%s: image %s is NOT pinned by digest (known: %s)", where, ref, why)
			return
		}
		t.Errorf("%s: image %q is not name:tag@sha256:<digest>", where, ref)
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		switch {
		case s.Image == "" && s.Build == nil:
			t.Errorf("service %s: neither image nor build", name)
		case s.Image != "" && s.Build != nil:
			t.Errorf("service %s: image and build: the built image would be tagged %s", name, s.Image)
		case s.Image != "":
			check("service "+name, s.Image)
			if strings.HasPrefix(s.Image, "mysql:") || strings.Contains(s.Image, "/mysql:") {
				t.Errorf("service %s: MySQL; the stack runs MariaDB, what the tests run on", name)
			}
		}
	}
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(readDockerfile(t), -1)
	if len(froms) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	for _, m := range froms {
		check("Dockerfile", m[1])
	}
	if len(knownUnpinned) > 0 {
		t.Logf("known unpinned images: %s", strings.Join(sortedKeys(knownUnpinned), ", "))
	}
}

func readDockerfile(t *testing.T) string {
	t.Helper()
	df, err := os.ReadFile(filepath.Join(composeDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return string(df)
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
		dropped time.Time
	)
	for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		m = scrapeMetrics(t, opsAddr)
		// Drop the account's socket once it streams (the producer group
		// assigns the accounts a moment after the mark-price feed starts),
		// and again every 5 s until the reconnect counter shows: a drop
		// that lands before the socket exists reconnects nothing.
		// The user-data stream's own reconnect: a mark-price reconnect
		// under load also creates the counter, and ended the wait before
		// any user-data frame had a series (seen in CI).
		reconnected := m["kraite_producer_reconnects_total"]["stream"]["userdata"]
		if !reconnected && m["kraite_producer_last_frame_age_seconds"]["account"]["acct-0001"] && time.Since(dropped) > 5*time.Second {
			adminFault(t, sim[1], map[string]any{"fault": "drop", "account": "acct-0001"})
			dropped = time.Now()
		}
		missing = missing[:0]
		for name := range queries {
			_, statusPage := taskAMetrics[name]
			if _, ok := m[name]; !ok && !statusPage {
				missing = append(missing, name)
			}
		}
		if !reconnected {
			missing = append(missing, `kraite_producer_reconnects_total{stream="userdata"}`)
		}
		if !m["kraite_producer_last_frame_age_seconds"]["stream"]["userdata"] {
			missing = append(missing, `kraite_producer_last_frame_age_seconds{stream="userdata"}`)
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

// interpolation is one ${NAME}, ${NAME:?msg}, ${NAME?msg}, ${NAME:-default}
// or ${NAME-default} of a compose file.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}`)

// interpolate expands the compose variables of s from vars the way docker
// compose does; a required variable that is missing is an error naming it.
func interpolate(s string, vars map[string]string) (string, error) {
	var errs []error
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		p := interpolation.FindStringSubmatch(m)
		name, op, arg := p[1], p[2], p[3]
		v, set := vars[name]
		switch op {
		case ":?":
			if v == "" {
				errs = append(errs, fmt.Errorf("required variable %s is missing a value: %s", name, arg))
			}
		case "?":
			if !set {
				errs = append(errs, fmt.Errorf("required variable %s is missing: %s", name, arg))
			}
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":+", "+":
			errs = append(errs, fmt.Errorf("${%s%s...}: not used in this stack", name, op))
		}
		return v
	})
	return out, errors.Join(errs...)
}

// required is the variable of a value that is exactly one required
// interpolation (${NAME:?msg}), "" otherwise.
func required(value string) string {
	p := interpolation.FindStringSubmatch(value)
	if p == nil || p[0] != value || p[2] != ":?" {
		return ""
	}
	return p[1]
}

// marked interpolates every variable of s as __NAME__, so a URL made of
// variables parses and shows which variable is where.
func marked(t *testing.T, s string) string {
	t.Helper()
	vars := map[string]string{}
	for _, m := range interpolation.FindAllStringSubmatch(s, -1) {
		vars[m[1]] = "__" + m[1] + "__"
	}
	out, err := interpolate(s, vars)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// secretName: an environment variable or compose variable that holds a
// password, a secret or a key, which must never have a default.
var secretName = regexp.MustCompile(`PASSWORD|SECRET|TOKEN|_KEY$|_KEY_|BOOTSTRAP_USER|_PASS$`)

func TestComposeCommandsAreOneArgumentPerItem(t *testing.T) {
	c := readCompose(t)
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		for what, v := range map[string]any{"command": s.Command, "entrypoint": s.Entrypoint} {
			list, ok := args(v)
			if !ok {
				t.Errorf("service %s: %s is not a list of strings (one argument per item): %v", name, what, v)
			}
			for _, a := range list {
				if a = marked(t, a); a == "" || strings.ContainsAny(a, " \t\n") {
					t.Errorf("service %s: %s item %q is not one argument", name, what, a)
				}
			}
		}
		if s.Healthcheck == nil {
			continue
		}
		test, ok := args(s.Healthcheck.Test)
		switch {
		case !ok || len(test) < 2:
			t.Errorf("service %s: healthcheck test %v is not a list [CMD, ...] or [CMD-SHELL, script]", name, s.Healthcheck.Test)
		case test[0] == "CMD-SHELL":
			if len(test) != 2 {
				t.Errorf("service %s: CMD-SHELL takes one script, got %q", name, test[1:])
			}
			if s.isKraite() {
				t.Errorf("service %s: the kraite image has no shell", name)
			}
		case test[0] == "CMD":
			for _, a := range test[1:] {
				if a == "" || strings.ContainsAny(a, " \t\n") {
					t.Errorf("service %s: healthcheck item %q is not one argument", name, a)
				}
			}
		default:
			t.Errorf("service %s: healthcheck test starts with %q, not CMD or CMD-SHELL", name, test[0])
		}
	}
	// Redpanda's entrypoint runs `rpk "$@"`: the command is rpk's arguments.
	rp, _ := args(c.Services["redpanda"].Command)
	if len(rp) < 2 || rp[0] != "redpanda" || rp[1] != "start" {
		t.Errorf("redpanda: command %q does not start with redpanda, start", rp)
	}
}

func TestComposePublishesOnlyOnLoopback(t *testing.T) {
	c := readCompose(t)
	published := 0
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.NetworkMode != "" {
			t.Errorf("service %s: network_mode %q; only the compose network", name, s.NetworkMode)
		}
		for _, p := range s.Ports {
			published++
			switch p := p.(type) {
			case string:
				parts := strings.Split(p, ":")
				if len(parts) != 3 || parts[0] != "127.0.0.1" || parts[1] == "" {
					t.Errorf("service %s: port %q is not 127.0.0.1:HOST:CONTAINER", name, p)
				}
			case map[any]any:
				if p["host_ip"] != "127.0.0.1" {
					t.Errorf("service %s: port %v is not bound to host_ip 127.0.0.1", name, p)
				}
			default:
				t.Errorf("service %s: port %v (%T) is not understood", name, p, p)
			}
		}
	}
	if published == 0 {
		t.Error("nothing is published: the status page, Grafana and the Kafka API are expected on 127.0.0.1")
	}
}

// composeVars are the variables the compose file interpolates: name ->
// operators used (":?", ":-", "").
func composeVars(t *testing.T) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(composeDir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		for _, m := range interpolation.FindAllStringSubmatch(line, -1) {
			if !slices.Contains(out[m[1]], m[2]) {
				out[m[1]] = append(out[m[1]], m[2])
			}
		}
	}
	return out
}

var envName = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)

// exampleEnv is compose/example.env: name -> value.
func exampleEnv(t *testing.T) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(composeDir, "example.env"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		commented := strings.HasPrefix(line, "#")
		line = strings.TrimSpace(strings.TrimPrefix(line, "#"))
		k, v, ok := strings.Cut(line, "=")
		if !ok || !envName.MatchString(k) {
			if !commented && line != "" {
				t.Errorf("example.env line %d: %q is not NAME=value", i+1, line)
			}
			continue
		}
		out[k] = v
	}
	return out
}

func TestComposeHasNoDefaultSecrets(t *testing.T) {
	c := readCompose(t)
	vars := composeVars(t)
	ex := exampleEnv(t)
	for _, name := range sortedKeys(vars) {
		ops := vars[name]
		if secretName.MatchString(name) && !slices.Equal(ops, []string{":?"}) {
			t.Errorf("${%s} is used with %q: a secret is required (${%s:?...}), never defaulted", name, ops, name)
		}
		if slices.Contains(ops, ":?") {
			if _, ok := ex[name]; !ok {
				t.Errorf("required variable %s is not in example.env", name)
			}
		}
	}
	for _, name := range sortedKeys(ex) {
		if _, ok := vars[name]; !ok {
			t.Errorf("example.env sets %s, which docker-compose.yml does not use", name)
		}
		if secretName.MatchString(name) && ex[name] != "" {
			t.Errorf("example.env gives %s a value: it must be empty, for the operator to fill in", name)
		}
	}
	// Every password-like setting of a service comes from a required
	// variable, and a database URL's password too.
	for _, name := range sortedKeys(c.Services) {
		for _, k := range sortedKeys(c.Services[name].Environment) {
			v := c.Services[name].Environment[k]
			if strings.HasSuffix(k, "_FILE") {
				continue
			}
			if secretName.MatchString(k) {
				for _, part := range strings.Split(v, ":${") {
					if !strings.HasPrefix(part, "${") {
						part = "${" + part
					}
					if required(part) == "" {
						t.Errorf("service %s: %s=%q is not made of required variables (${NAME:?...})", name, k, v)
					}
				}
			}
			if strings.Contains(v, "://") && strings.Contains(v, "@") {
				u, err := url.Parse(marked(t, v))
				if err != nil {
					t.Errorf("service %s: %s: %v", name, k, err)
					continue
				}
				if pass, ok := u.User.Password(); ok {
					p := strings.Trim(pass, "_")
					if pass != "__"+p+"__" || !slices.Equal(vars[p], []string{":?"}) {
						t.Errorf("service %s: %s has a password that is not a required variable", name, k)
					}
				}
			}
		}
	}
	g := c.Services["grafana"]
	if v := g.Environment["GF_AUTH_ANONYMOUS_ENABLED"]; v != "false" {
		t.Errorf("grafana: GF_AUTH_ANONYMOUS_ENABLED=%q, want \"false\" (no anonymous viewers)", v)
	}
	if required(g.Environment["GF_SECURITY_ADMIN_PASSWORD"]) == "" {
		t.Errorf("grafana: the admin password %q is not a required variable", g.Environment["GF_SECURITY_ADMIN_PASSWORD"])
	}
}

// envTags are every environment variable kraite reads: the `env:"..."`
// tags of the module's configuration structs.
func envTags(t *testing.T) map[string]bool {
	t.Helper()
	tag := regexp.MustCompile(`env:"([A-Z][A-Z0-9_]*)[",]`)
	out := map[string]bool{}
	err := filepath.WalkDir("../..", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "../.." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range tag.FindAllStringSubmatch(string(data), -1) {
			out[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out["KRAITE_BROKERS"] || !out["KRAITE_HTTP_ADDR"] {
		t.Fatalf("env tags: %v lacks KRAITE_BROKERS or KRAITE_HTTP_ADDR", sortedKeys(out))
	}
	return out
}

func TestComposeEnvironmentIsKraiteConfiguration(t *testing.T) {
	c := readCompose(t)
	known := envTags(t)
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if !s.isKraite() {
			continue
		}
		for _, k := range sortedKeys(s.Environment) {
			if !known[k] {
				t.Errorf("service %s: %s is no env tag of kraite's configuration (a typo is silently ignored)", name, k)
			}
		}
	}
}

// TestComposeBoxesAreHealthyOnlyWhenReady: every long-running service has
// a healthcheck (so `up --wait` waits for it), and every kraite one is
// `/kraite healthcheck` (the image is distroless: /kraite is all there is).
func TestComposeBoxesAreHealthyOnlyWhenReady(t *testing.T) {
	c := readCompose(t)
	df := readDockerfile(t)
	if !strings.Contains(df, `ENTRYPOINT ["/kraite"]`) || !regexp.MustCompile(`(?m)^COPY --from=\S+ /out/kraite /kraite$`).MatchString(df) {
		t.Errorf("Dockerfile: the binary is not /kraite with ENTRYPOINT [\"/kraite\"]")
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.oneShot() {
			if s.Healthcheck != nil || len(s.Ports) > 0 {
				t.Errorf("one-shot %s: has a healthcheck or ports", name)
			}
			continue
		}
		if s.Healthcheck == nil {
			t.Errorf("service %s: no healthcheck (`up --wait` cannot tell it is ready)", name)
			continue
		}
		test, _ := args(s.Healthcheck.Test)
		if s.isKraite() && (len(test) < 3 || test[0] != "CMD" || test[1] != "/kraite" || test[2] != "healthcheck") {
			t.Errorf("kraite service %s: healthcheck %q is not [CMD, /kraite, healthcheck, ...]", name, test)
		}
		if s.isKraite() && s.Restart != "unless-stopped" && s.Restart != "always" {
			t.Errorf("kraite service %s: restart %q; a box restarts unless stopped", name, s.Restart)
		}
	}
	for box := range boxes(t, c) {
		if hc := c.Services[box].Healthcheck; hc == nil {
			continue // reported above
		}
		if test, _ := args(c.Services[box].Healthcheck.Test); len(test) != 3 {
			t.Errorf("box %s: healthcheck %q; a box probes its own /readyz (KRAITE_HTTP_ADDR), no --url", box, test)
		}
	}
}

// TestComposeBoxesWaitForTheOneShots: migrate, topics apply and symbols
// import run once, in order, and every box waits for each to succeed;
// every one-shot is waited for by a service outside any profile, so
// `up --wait` does not count its exit as a failure.
func TestComposeBoxesWaitForTheOneShots(t *testing.T) {
	c := readCompose(t)
	var shots []string
	commands := map[string]string{}
	for _, name := range sortedKeys(c.Services) {
		if s := c.Services[name]; s.oneShot() {
			shots = append(shots, name)
			cmd, _ := args(s.Command)
			commands[strings.Join(cmd, " ")] = name
		}
	}
	for _, want := range []string{"migrate", "topics apply", "symbols import"} {
		if commands[want] == "" {
			t.Errorf("no one-shot service runs `kraite %s`", want)
		}
	}
	for box := range boxes(t, c) {
		for _, shot := range shots {
			if d := c.Services[box].DependsOn[shot]; d.Condition != "service_completed_successfully" || d.Required != nil && !*d.Required {
				t.Errorf("box %s: depends on %s with %+v, want condition service_completed_successfully", box, shot, d)
			}
		}
		for _, infra := range []string{"redpanda", "mariadb"} {
			if d := c.Services[box].DependsOn[infra]; d.Condition != "service_healthy" {
				t.Errorf("box %s: depends on %s with %+v, want service_healthy", box, infra, d)
			}
		}
	}
	for _, shot := range shots {
		adopted := false
		for _, s := range c.Services {
			if d, ok := s.DependsOn[shot]; ok && !s.oneShot() && len(s.Profiles) == 0 && d.Condition == "service_completed_successfully" {
				adopted = true
			}
		}
		if !adopted {
			t.Errorf("one-shot %s: no long-running service outside a profile waits for it (`up --wait` fails on its exit)", shot)
		}
	}
	if d := c.Services[commands["symbols import"]].DependsOn[commands["migrate"]]; d.Condition != "service_completed_successfully" {
		t.Errorf("symbols import does not wait for migrate: %+v", d)
	}
	// Dependencies exist; one on a service of a profile is optional.
	for _, name := range sortedKeys(c.Services) {
		for dep, d := range c.Services[name].DependsOn {
			target, ok := c.Services[dep]
			switch {
			case !ok:
				t.Errorf("service %s: depends on %s, which is no service", name, dep)
			case len(target.Profiles) > 0 && (d.Required == nil || *d.Required):
				t.Errorf("service %s: depends on %s (profiles %v) without required: false: `up` without the profile fails", name, dep, target.Profiles)
			case len(target.Profiles) == 0 && d.Required != nil && !*d.Required:
				t.Errorf("service %s: optional dependency on %s, which is always there", name, dep)
			}
		}
	}
}

// TestComposeSimProfileTradesAgainstTheSimulator: `--profile sim` adds the
// simulator, the boxes' default exchange; its accounts are
// accounts.sim.json, exactly the simulator's for its seed.
func TestComposeSimProfileTradesAgainstTheSimulator(t *testing.T) {
	c := readCompose(t)
	sim, ok := c.Services["simulator"]
	if !ok {
		t.Fatal("no simulator service")
	}
	if !slices.Equal(sim.Profiles, []string{"sim"}) {
		t.Errorf("simulator: profiles %v, want [sim]", sim.Profiles)
	}
	if cmd, _ := args(sim.Command); !slices.Equal(cmd, []string{"simulator"}) || !sim.isKraite() {
		t.Errorf("simulator: command %q, want [simulator] of the kraite image", cmd)
	}
	_, port, err := net.SplitHostPort(sim.Environment["KRAITE_SIM_ADDR"])
	if err != nil {
		t.Fatalf("simulator: KRAITE_SIM_ADDR: %v", err)
	}
	for _, name := range append(sortedKeys(boxes(t, c)), "symbols") {
		s := c.Services[name]
		for k, scheme := range map[string]string{"KRAITE_BINANCE_REST_URL": "http", "KRAITE_BINANCE_WS_URL": "ws"} {
			got, err := interpolate(s.Environment[k], nil)
			if want := scheme + "://simulator:" + port; err != nil || got != want {
				t.Errorf("%s: %s defaults to %q (%v), want the simulator %s", name, k, got, err, want)
			}
			if !strings.HasPrefix(s.Environment[k], "${"+k+":-") {
				t.Errorf("%s: %s=%q cannot be pointed at the exchange with %s", name, k, s.Environment[k], k)
			}
		}
		if d := s.DependsOn["simulator"]; d.Condition != "service_healthy" {
			t.Errorf("%s: does not wait for the simulator to be healthy: %+v", name, d)
		}
	}
	seed, err := strconv.ParseInt(sim.Environment["KRAITE_SIM_SEED"], 10, 64)
	if err != nil {
		t.Fatalf("simulator: KRAITE_SIM_SEED: %v", err)
	}
	n, err := strconv.Atoi(sim.Environment["KRAITE_SIM_ACCOUNTS"])
	if err != nil {
		t.Fatalf("simulator: KRAITE_SIM_ACCOUNTS: %v", err)
	}
	s, err := simulator.New(simulator.Config{Seed: seed, Accounts: n})
	if err != nil {
		t.Fatal(err)
	}
	got, err := userdata.LoadFile(filepath.Join(composeDir, "accounts.sim.json"))
	if err != nil {
		t.Fatal(err)
	}
	var want []userdata.Account
	for _, a := range s.Accounts() {
		want = append(want, userdata.Account{ID: a.ID, APIKey: a.APIKey, APISecret: a.APISecret})
	}
	if !slices.Equal(got, want) {
		t.Errorf("accounts.sim.json is not the simulator's accounts for seed %d (%d accounts): regenerate it", seed, n)
	}
}

// TestComposeAccountsComeFromASecret: the accounts file is a secret the
// operator must name, given only to the one-shot that imports it (and
// where a KRAITE_ACCOUNTS_FILE points); no box reads it (the accounts
// table is the one source in database mode); never a bind mount (a
// missing file became a directory).
func TestComposeAccountsComeFromASecret(t *testing.T) {
	c := readCompose(t)
	sec, ok := c.Secrets["accounts"]
	if !ok {
		t.Fatal("no top-level secret accounts")
	}
	if required(sec.File) == "" {
		t.Errorf("secret accounts: file %q is not a required variable", sec.File)
	}
	bx := boxes(t, c)
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		f, has := s.Environment["KRAITE_ACCOUNTS_FILE"]
		_, isBox := bx[name]
		if isBox && (has || slices.Contains(s.Secrets, "accounts")) {
			t.Errorf("box %s: KRAITE_ACCOUNTS_FILE=%q with secrets %v; the boxes read the accounts table, not the file", name, f, s.Secrets)
		}
		if has && (f != "/run/secrets/accounts" || !slices.Contains(s.Secrets, "accounts")) {
			t.Errorf("service %s: KRAITE_ACCOUNTS_FILE=%q with secrets %v, want /run/secrets/accounts from the accounts secret", name, f, s.Secrets)
		}
		cmd, _ := args(s.Command)
		if !has && slices.Contains(s.Secrets, "accounts") && !slices.Contains(cmd, "/run/secrets/accounts") {
			t.Errorf("service %s: gets the accounts secret without using it", name)
		}
		for _, v := range s.Volumes {
			if strings.Contains(v, "accounts") {
				t.Errorf("service %s: mounts %q; accounts come from the secret", name, v)
			}
		}
	}
	if _, err := userdata.LoadFile(filepath.Join(composeDir, "accounts.example.json")); err != nil {
		t.Errorf("accounts.example.json: %v", err)
	}
}

// TestComposeUserDataStreamsFromTheAccountsTable: a one-shot imports the
// accounts file into the accounts table (with the key from a required
// secret) before the boxes start; every box reads the table
// (KRAITE_ACCOUNTS_SOURCE=database, the key mounted: athena's user-data
// producers stream it, the scheduler's per-account jobs and the gates
// follow its enabled accounts, the workers decrypt its secrets) and gets
// at least 20 s to stop (the 15 s hand-over grace, then the flush); a
// service that reads the table has the key, and only those get it.
func TestComposeUserDataStreamsFromTheAccountsTable(t *testing.T) {
	c := readCompose(t)
	if sec, ok := c.Secrets["encryption-key"]; !ok || required(sec.File) != "ACCOUNTS_KEY_FILE" {
		t.Fatalf("secret encryption-key: %+v, want the file of the required variable ACCOUNTS_KEY_FILE", sec)
	}
	importer := ""
	bx := boxes(t, c)
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		cmd, _ := args(s.Command)
		key, hasKey := s.Environment["KRAITE_ACCOUNTS_KEY_FILE"]
		if _, isBox := bx[name]; isBox && s.Environment["KRAITE_ACCOUNTS_SOURCE"] != "database" {
			t.Errorf("box %s: KRAITE_ACCOUNTS_SOURCE=%q, want database (its per-account jobs and credentials come from the accounts table)", name, s.Environment["KRAITE_ACCOUNTS_SOURCE"])
		}
		if hasKey != slices.Contains(s.Secrets, "encryption-key") || hasKey && key != "/run/secrets/encryption-key" {
			t.Errorf("service %s: KRAITE_ACCOUNTS_KEY_FILE=%q with secrets %v, want /run/secrets/encryption-key from the encryption-key secret, or neither", name, key, s.Secrets)
		}
		if _, ok := s.Environment["KRAITE_ACCOUNTS_KEY"]; ok {
			t.Errorf("service %s: the accounts key in the environment; it comes from the encryption-key secret", name)
		}
		if slices.Equal(cmd, []string{"accounts", "import", "/run/secrets/accounts"}) {
			importer = name
			if !s.oneShot() || !hasKey || !slices.Contains(s.Secrets, "accounts") {
				t.Errorf("%s: imports the accounts but is not a one-shot with the key and the accounts secret", name)
			}
			for _, dep := range []string{"migrate", "topics"} {
				if d := s.DependsOn[dep]; d.Condition != "service_completed_successfully" {
					t.Errorf("%s: does not wait for %s: %+v", name, dep, d)
				}
			}
		}
		if src := s.Environment["KRAITE_ACCOUNTS_SOURCE"]; src != "" {
			if src != "database" || !hasKey {
				t.Errorf("service %s: KRAITE_ACCOUNTS_SOURCE=%q with the key %t, want database with the key", name, src, hasKey)
			}
			grace, err := time.ParseDuration(s.StopGrace)
			if err != nil || grace < 20*time.Second {
				t.Errorf("service %s: stop_grace_period %q; a user-data producer needs at least 20s to hand its accounts over", name, s.StopGrace)
			}
		}
	}
	if importer == "" {
		t.Fatal("no one-shot runs `kraite accounts import /run/secrets/accounts`")
	}
	athena := c.Services["athena"]
	if athena.Environment["KRAITE_ACCOUNTS_SOURCE"] != "database" {
		t.Errorf("athena: KRAITE_ACCOUNTS_SOURCE=%q, want database", athena.Environment["KRAITE_ACCOUNTS_SOURCE"])
	}
	if d := athena.DependsOn[importer]; d.Condition != "service_completed_successfully" {
		t.Errorf("athena: does not wait for the accounts import: %+v", d)
	}
}

// TestComposeRedpandaRequiresSASL: SASL on from the first start, the
// superuser from required variables, and every kraite service connecting
// as it with the mechanism Redpanda creates it with.
func TestComposeRedpandaRequiresSASL(t *testing.T) {
	c := readCompose(t)
	rp := c.Services["redpanda"]
	cmd, _ := args(rp.Command)
	sets := map[string]string{}
	for i := 0; i+1 < len(cmd); i++ {
		if cmd[i] == "--set" {
			k, v, _ := strings.Cut(cmd[i+1], "=")
			sets[k] = v
		}
	}
	if sets["redpanda.enable_sasl"] != "true" {
		t.Errorf("redpanda: no --set redpanda.enable_sasl=true in %q", cmd)
	}
	user, pass, ok := strings.Cut(rp.Environment["RP_BOOTSTRAP_USER"], ":${")
	if !ok || required(user) == "" || required("${"+pass) == "" {
		t.Fatalf("redpanda: RP_BOOTSTRAP_USER=%q is not ${USER:?}:${PASSWORD:?}", rp.Environment["RP_BOOTSTRAP_USER"])
	}
	userVar, passVar := required(user), required("${"+pass)
	if su := sets["redpanda.superusers"]; su != "['"+user+"']" {
		t.Errorf("redpanda: superusers %q, want ['%s'] (the bootstrap user)", su, user)
	}
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if !s.isKraite() || s.Environment["KRAITE_BROKERS"] == "" {
			continue
		}
		e := s.Environment
		if e["KRAITE_KAFKA_SASL_MECHANISM"] != kclient.MechanismScramSHA256 || required(e["KRAITE_KAFKA_SASL_USERNAME"]) != userVar ||
			required(e["KRAITE_KAFKA_SASL_PASSWORD"]) != passVar {
			t.Errorf("service %s: does not authenticate as the Redpanda superuser with SCRAM-SHA-256: %s=%q %s=%q",
				name, "KRAITE_KAFKA_SASL_MECHANISM", e["KRAITE_KAFKA_SASL_MECHANISM"], "KRAITE_KAFKA_SASL_USERNAME", e["KRAITE_KAFKA_SASL_USERNAME"])
		}
		if e["KRAITE_BROKERS"] != "redpanda:9092" || !slices.Contains(cmd, "internal://redpanda:9092,external://localhost:19092") {
			t.Errorf("service %s: KRAITE_BROKERS=%q is not Redpanda's advertised internal listener", name, e["KRAITE_BROKERS"])
		}
	}
}

// TestComposeDatabaseIsMariaDB: the boxes' URL names the MariaDB service,
// its user, database and password variable.
func TestComposeDatabaseIsMariaDB(t *testing.T) {
	c := readCompose(t)
	m, ok := c.Services["mariadb"]
	if !ok || !strings.HasPrefix(m.Image, "mariadb:") {
		t.Fatalf("no mariadb service of the mariadb image: %+v", m)
	}
	for box := range boxes(t, c) {
		u, err := url.Parse(marked(t, c.Services[box].Environment["KRAITE_DATABASE_URL"]))
		if err != nil {
			t.Fatalf("box %s: KRAITE_DATABASE_URL: %v", box, err)
		}
		pass, _ := u.User.Password()
		if u.Scheme != "mysql" || u.Host != "mariadb:3306" || u.User.Username() != m.Environment["MARIADB_USER"] ||
			u.Path != "/"+m.Environment["MARIADB_DATABASE"] || pass != marked(t, m.Environment["MARIADB_PASSWORD"]) {
			t.Errorf("box %s: KRAITE_DATABASE_URL %s is not the mariadb service's user, password and database", box, u.Redacted())
		}
	}
}

// TestComposeStateIsOnVolumes: what a kraite process keeps (goka's stores
// of each box, the simulator's exchange state and admin token: every
// *_DIR variable) is on a named volume of its own under /var/lib/kraite,
// which the image creates for the nonroot user (the distroless image runs
// as 65532; a new named volume takes the owner of the image's directory);
// a relative or unmounted directory would be lost with the container, or
// not writable at all.
func TestComposeStateIsOnVolumes(t *testing.T) {
	c := readCompose(t)
	df := readDockerfile(t)
	if !regexp.MustCompile(`(?m)^COPY --from=\S+ --chown=65532:65532 \S+ /var/lib/kraite$`).MatchString(df) {
		t.Error("Dockerfile: /var/lib/kraite is not created for the nonroot user")
	}
	mkdir := regexp.MustCompile(`mkdir -p ((?:/out/var-lib-kraite/?\S*\s*)+)`).FindStringSubmatch(df)
	created := map[string]bool{"/var/lib/kraite": true}
	if mkdir != nil {
		for _, d := range strings.Fields(mkdir[1]) {
			created[filepath.Clean(strings.Replace(d, "/out/var-lib-kraite", "/var/lib/kraite", 1))] = true
		}
	}
	seen := map[string]string{}
	bx := boxes(t, c)
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if !s.isKraite() {
			continue
		}
		_, isBox := bx[name]
		if _, ok := s.Environment["KRAITE_STATE_DIR"]; isBox && !ok {
			t.Errorf("box %s: no KRAITE_STATE_DIR (the default is relative to the working directory)", name)
		}
		if _, ok := s.Environment["KRAITE_SIM_DATA_DIR"]; name == "simulator" && !ok {
			t.Errorf("simulator: no KRAITE_SIM_DATA_DIR (the default is relative to the working directory)")
		}
		for _, v := range s.Volumes {
			src, target, _ := strings.Cut(v, ":")
			target, _, _ = strings.Cut(target, ":")
			if _, named := c.Volumes[src]; named && !created[filepath.Clean(target)] {
				t.Errorf("service %s: volume %s is mounted at %s, which the image does not create for the nonroot user (the volume would be root's)", name, src, target)
			}
		}
		for _, k := range sortedKeys(s.Environment) {
			dir := s.Environment[k]
			if !strings.HasSuffix(k, "_DIR") {
				continue
			}
			if !filepath.IsAbs(dir) {
				t.Errorf("service %s: %s %q is not absolute", name, k, dir)
				continue
			}
			mounted := false
			for _, v := range s.Volumes {
				src, target, _ := strings.Cut(v, ":")
				if _, named := c.Volumes[src]; named && strings.HasPrefix(dir+"/", strings.TrimSuffix(target, "/")+"/") {
					mounted = true
					if other, ok := seen[src]; ok && other != name {
						t.Errorf("services %s and %s share the volume %s", name, other, src)
					}
					seen[src] = name
				}
			}
			if !mounted {
				t.Errorf("service %s: %s %s is on no named volume", name, k, dir)
			}
		}
	}
}
