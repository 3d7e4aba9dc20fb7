package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/kraite/stream/internal/app"
	"github.com/kraite/stream/internal/regimestate"
	"github.com/kraite/stream/internal/statuspage"
	"github.com/kraite/stream/internal/testkit"
	"github.com/kraite/stream/topics"
)

// bandColors are the band colours of the page (solid: badges, legend).
var bandColors = map[string][3]uint8{
	"Calm": {0x2b, 0x8a, 0x3e}, "Elevated": {0xe0, 0xa1, 0x00}, "Fragile": {0xe8, 0x59, 0x0c}, "Critical": {0xc9, 0x2a, 0x2a},
}

// hasLagRows reports whether the snapshot has a lag row of every group.
func hasLagRows(s statuspage.Snapshot, groups ...string) bool {
	for _, g := range groups {
		if !slices.ContainsFunc(s.Lag.Rows, func(r statuspage.LagRow) bool { return r.Group == g }) {
			return false
		}
	}
	return true
}

// TestStatusPageRendersInHeadlessChromium runs kraite dev, waits for the
// status to show the accounts and a regime score, writes a garbage record
// to the allowlist and regime-overrides topics (issue 10: each must be a
// visible alert), waits for dispatch and the gate to refuse them, then has
// headless Chromium render the page: the DOM must hold the rendered rows
// and the problems, and the screenshot must be a real picture with the
// current band's colour in it.
// KRAITE_STATUS_SCREENSHOT=path keeps the screenshot (docs/status-page.png).
func TestStatusPageRendersInHeadlessChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("chromium is not installed; CI needs it (.ci/run installs it)")
		}
		t.Skip("chromium is not installed")
	}
	dir := t.TempDir()
	brokerAddr, opsAddr, stop := startDevOps(t, filepath.Join(dir, "dev"))
	defer stop()
	url := "http://" + opsAddr + "/"

	var s statuspage.Snapshot
	// 120 s: under the whole suite's -race load kraite dev took over 60 s
	// to show all of it once (CI); the error names what was still missing.
	testkit.Eventually(t, 120*time.Second, "accounts, a regime score, lag and mark prices in status.json", func() error {
		s = fetchStatus(t, url+"status.json")
		var missing []string
		if s.Streams.Connected != 3 {
			missing = append(missing, fmt.Sprintf("%d of 3 streams connected", s.Streams.Connected))
		}
		if len(s.Regime.Scopes) != 1 {
			missing = append(missing, fmt.Sprintf("%d regime scopes", len(s.Regime.Scopes)))
		}
		if len(s.Lag.Rows) <= 3 || !hasLagRows(s, "kraite.dispatch", "kraite.sink.orders") {
			missing = append(missing, fmt.Sprintf("%d lag rows, dispatch's and the orders sink's among them: %v",
				len(s.Lag.Rows), hasLagRows(s, "kraite.dispatch", "kraite.sink.orders")))
		}
		if len(s.MarkPrice.Venues) != 4 || s.MarkPrice.Venues[0].Age == nil {
			missing = append(missing, fmt.Sprintf("%d mark-price venues, the first without an age", len(s.MarkPrice.Venues)))
		}
		if len(missing) > 0 {
			return errors.New(strings.Join(missing, "; "))
		}
		return nil
	})
	band := s.Regime.Scopes[0].Band

	// Garbage on both control topics: dispatch has no good allowlist (shadow
	// mode) and the gate no good override (opens refused).
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	allowTopic, ovTopic := topics.Allowlist.Name(s.Prefix), topics.RegimeOverrides.Name(s.Prefix)
	if err := cl.ProduceSync(context.Background(),
		&kgo.Record{Topic: allowTopic, Key: []byte("binance"), Value: []byte(`{"exchange":"binance","types":["EVERYTHING"]}`)},
		&kgo.Record{Topic: ovTopic, Key: []byte(regimestate.OverrideScope), Value: []byte(`{"scope":"global","action":"open-everything"}`)},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 60*time.Second, "both refusals, from the processors themselves, among the problems", func() bool {
		s = fetchStatus(t, url+"status.json")
		seen := 0
		for _, a := range s.ControlAlerts {
			if (a.Topic == allowTopic || a.Topic == ovTopic) && !a.KeptLastGood && slices.Contains(a.Sources, "process") {
				seen++
			}
		}
		bad := 0
		for _, p := range s.Problems {
			if p.Kind == statuspage.KindControlRefused && p.Severity == statuspage.SeverityBad {
				bad++
			}
		}
		// The lag rows the DOM check expects are there too (a group in a
		// rebalance on a loaded machine can miss one refresh).
		return seen == 2 && bad == 2 && hasLagRows(s, "kraite.dispatch", "kraite.sink.orders") && s.Scheduler.Available
	})
	if s.Scheduler.Leader != app.Hostname()+"-scheduler" || s.Scheduler.SinceMs <= 0 || s.StartedMs <= 0 {
		t.Errorf("scheduler leader and start: %+v %d", s.Scheduler, s.StartedMs)
	}
	// kraite dev runs the workers' REST client against the simulator: its
	// budget shows, with no ban.
	if r := s.Streams.REST; !r.Available || r.WeightLimit <= 0 || r.Banned {
		t.Errorf("REST client: %+v", r)
	}
	for _, a := range s.Streams.Accounts {
		if a.ListenKeyAtMs <= 0 || a.ListenKeyAge == nil || a.ListenKeyAtMs > s.GeneratedMs {
			t.Errorf("account %s: no listenKey age: %+v", a.ID, a)
		}
	}

	dom := runChromium(t, chromium, filepath.Join(dir, "profile-dom"), "--dump-dom", url)
	for _, want := range []string{
		`data-account="acct-0001"`, `data-account="acct-0002"`, `data-account="acct-0003"`,
		`class="lag-row" data-group="kraite.dispatch"`, `class="lag-row" data-group="kraite.sink.orders"`,
		`data-band="` + band + `"`, `class="mark-row" data-venue="kucoin"`, `class="allow-row" data-exchange="binance"`,
		`class="score-line"`, `class="panel alarm" id="problems-panel"`,
		`class="problem-row" data-kind="control_record_refused" data-severity="bad"`,
		`shadow mode for binance`, `override_unreadable`, `data-component="dispatch"`, `data-component="kafka-producer"`,
		`<span id="uptime">up `, `class="num reconnects`, `class="num gaps`, `class="num listen-key"`, `data-banned="false"`, `Exchange REST (binance): weight `, `data-leader="` + app.Hostname() + `-scheduler"`, `scheduler leader <code>` + app.Hostname() + `-scheduler</code> since `,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %s", want)
		}
	}
	if t.Failed() {
		t.Fatalf("DOM:\n%s", dom)
	}

	shot := filepath.Join(dir, "status.png")
	runChromium(t, chromium, filepath.Join(dir, "profile-shot"), "--screenshot="+shot, url)
	raw, err := os.ReadFile(shot)
	if err != nil {
		t.Fatalf("chromium wrote no screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("decoding the screenshot: %v", err)
	}
	checkScreenshot(t, img, band)
	if keep := os.Getenv("KRAITE_STATUS_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, raw, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fetchStatus(t *testing.T, url string) statuspage.Snapshot {
	t.Helper()
	var s statuspage.Snapshot
	resp, err := http.Get(url)
	if err != nil {
		return s // not serving yet
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("decoding status.json: %v\n%s", err, b)
		}
	}
	return s
}

// runChromium runs headless Chromium with a fresh profile and returns its stdout.
func runChromium(t *testing.T, chromium, profile string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	all := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,1800",
		"--virtual-time-budget=8000", "--user-data-dir=" + profile}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, chromium, all...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// checkScreenshot: the right size, not blank (many colours, no colour
// covering nearly everything) and the current band's colour present.
func checkScreenshot(t *testing.T, img image.Image, band string) {
	t.Helper()
	b := img.Bounds()
	if b.Dx() != 1280 || b.Dy() != 1800 {
		t.Fatalf("screenshot is %dx%d, want 1280x1800", b.Dx(), b.Dy())
	}
	colors := map[[3]uint8]int{}
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
		}
	}
	total, top := b.Dx()*b.Dy(), 0
	for _, n := range colors {
		top = max(top, n)
	}
	if len(colors) < 200 || top > total*9/10 {
		t.Errorf("screenshot looks blank: %d colours, the commonest covers %d of %d pixels", len(colors), top, total)
	}
	want, ok := bandColors[band]
	if !ok {
		t.Fatalf("unknown band %q", band)
	}
	near := 0
	for c, n := range colors {
		if close3(c, want, 8) {
			near += n
		}
	}
	if near < 300 {
		t.Errorf("the %s colour #%02x%02x%02x covers %d pixels, want a badge's worth (300+)", band, want[0], want[1], want[2], near)
	}
	t.Log(fmt.Sprintf("screenshot: %d colours, band %s colour on %d pixels", len(colors), band, near))
}

func close3(a, b [3]uint8, tol int) bool {
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < -tol || d > tol {
			return false
		}
	}
	return true
}
