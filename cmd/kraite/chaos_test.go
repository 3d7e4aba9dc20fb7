package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kraite/stream/harness/chaos"
	"github.com/kraite/stream/harness/proc"
	"github.com/kraite/stream/harness/soak"
	"github.com/kraite/stream/internal/cli"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
)

// TestMain lets the test binary stand in for the kraite binary: a chaos run
// re-executes itself (os.Executable) for its worker child and its soak peer,
// and with reexecEnv set this runs the command line instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv(reexecEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, proc.Terminate)
		err := run(ctx)
		stop()
		os.Exit(cli.ExitCode(os.Stderr, err))
	}
	os.Exit(m.Run())
}

// accountsFile writes an accounts file (KRAITE_ACCOUNTS_FILE) into a directory.
var accountsFile = chaos.AccountsFile

// chaosAdminURL is the MariaDB server the chaos run creates its database on:
// the one dbtest uses.
func chaosAdminURL() string {
	if u := os.Getenv("KRAITE_TEST_MYSQL_URL"); u != "" {
		return u
	}
	return "mysql://root@127.0.0.1:3306/mysql"
}

// TestChaosRunLosesAndDoublesNothingAndRecoversFromEveryFault is the short
// form of `kraite chaos`: a minute of every fault (kill -9 of the worker
// child, a rebalance, coordinator loss, produce errors, a database outage,
// dropped and silent sockets, an expired listenKey, lost and malformed
// frames), then the database must equal the simulator's ground truth with
// nothing lost or applied twice, and every fault must have been injected and
// recovered from.
func TestChaosRunLosesAndDoublesNothingAndRecoversFromEveryFault(t *testing.T) {
	if testing.Short() {
		t.Skip("a chaos run takes about two minutes")
	}
	dbtest.MySQL(t) // skips without a MariaDB server (fails in CI, KRAITE_TEST_REQUIRE_DB=1)
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	out, errOut := &syncBuffer{}, &syncBuffer{}
	reportPath := filepath.Join(t.TempDir(), "chaos.json")
	err := newApp(nil, out, errOut).main(context.Background(),
		[]string{"chaos", "--for", "60s", "--mysql-admin-url", chaosAdminURL(), "--report-json", reportPath})
	t.Logf("kraite chaos:\n%s", out)
	if err != nil {
		logs := errOut.String()
		if len(logs) > 8000 {
			logs = logs[len(logs)-8000:]
		}
		t.Fatalf("kraite chaos: %v\nlast logs:\n%s", err, logs)
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep chaos.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("decoding the JSON report: %v", err)
	}
	res := rep.Result
	if !rep.Converged || res.LostTotal() != 0 || res.DuplicateTotal() != 0 || res.Phantom != 0 || res.Regressions != 0 {
		t.Fatalf("the report says %+v", res)
	}
	if res.FramesPushed == 0 || res.FramesStored+res.FramesUnread != res.FramesPushed || res.Orders == 0 || res.Fills == 0 {
		t.Fatalf("frames pushed %d, stored %d (+%d unread at a drop); %d orders, %d fills compared",
			res.FramesPushed, res.FramesStored, res.FramesUnread, res.Orders, res.Fills)
	}
	recovered := map[chaos.Kind]bool{}
	for _, f := range rep.Faults {
		if !f.Injected || !f.Recovered {
			t.Errorf("fault %s: injected %v, recovered %v (%s)", f.Fault, f.Injected, f.Recovered, f.Error)
		}
		recovered[f.Kind] = f.Recovered
	}
	for _, k := range chaos.AllKinds() {
		if !recovered[k] {
			t.Errorf("no recovered %s fault in the run", k)
		}
	}
	if rep.MemoryStart.RSSMiB <= 0 || rep.MemoryEnd.RSSMiB <= 0 || rep.ChildStart.RSSMiB <= 0 {
		t.Errorf("memory not measured: %+v %+v %+v", rep.MemoryStart, rep.MemoryEnd, rep.ChildStart)
	}
	// The run created its own database and dropped it.
	u, err := url.Parse(rep.Database)
	if err != nil || !strings.HasPrefix(u.Path, "/kraite_chaos_") {
		t.Fatalf("database %q is not one the run created", rep.Database)
	}
	admin, err := db.Open(context.Background(), chaosAdminURL())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var n int
	if err := admin.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = ?", strings.TrimPrefix(u.Path, "/")).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s left behind (%d, %v)", u.Path, n, err)
	}
}

// TestChaosSoakReportsMemoryOverCompressedTime runs a few simulated hours
// of the whole pipeline against a broker and simulator in a peer process and
// checks the report: samples over the simulated span, and the database equal
// to the ground truth at the end.
func TestChaosSoakReportsMemoryOverCompressedTime(t *testing.T) {
	if testing.Short() {
		t.Skip("a soak takes half a minute")
	}
	dbtest.MySQL(t)
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	out, errOut := &syncBuffer{}, &syncBuffer{}
	reportPath := filepath.Join(t.TempDir(), "soak.json")
	err := newApp(nil, out, errOut).main(context.Background(), []string{"chaos", "--soak", "--simulated", "1h", "--speed", "360",
		"--mysql-admin-url", chaosAdminURL(), "--report-json", reportPath})
	t.Logf("kraite chaos --soak:\n%s", out)
	if err != nil {
		t.Fatalf("kraite chaos --soak: %v\n%s", err, errOut)
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep soak.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Samples) < 10 || rep.Start.RSSMiB <= 0 || rep.End.RSSMiB <= 0 || rep.Max.RSSMiB < rep.End.RSSMiB {
		t.Fatalf("samples %d, memory start %+v max %+v end %+v", len(rep.Samples), rep.Start, rep.Max, rep.End)
	}
	if !rep.Converged || rep.Result.Orders == 0 || rep.Result.LostTotal() != 0 || rep.Result.Phantom != 0 ||
		rep.Result.DuplicateTotal() != 0 || rep.Result.Regressions != 0 {
		t.Fatalf("ground truth at the end: converged %v, %+v", rep.Converged, rep.Result)
	}
	if rep.Subject != "pipeline" || !strings.Contains(out.String(), "memory") {
		t.Fatalf("no memory verdict:\n%s", out)
	}
}

// TestBenchSoakIsTheSameSoakOfTheProducerAlone runs `kraite bench soak`
// small: the soak of harness/soak against the same peer process (this
// binary re-executed as `bench peer`), the producer alone, its report as
// text and JSON; bad flags are usage errors.
func TestBenchSoakIsTheSameSoakOfTheProducerAlone(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a peer process")
	}
	t.Setenv("KRAITE_LOG_LEVEL", "warn")
	out, errOut := &syncBuffer{}, &syncBuffer{}
	reportPath := filepath.Join(t.TempDir(), "soak.json")
	err := newApp(nil, out, errOut).main(context.Background(), []string{"bench", "soak", "--simulated", "20m", "--speed", "360",
		"--accounts", "3", "--order-interval", "50ms", "--report-json", reportPath})
	t.Logf("kraite bench soak:\n%s", out)
	if err != nil {
		t.Fatalf("kraite bench soak: %v\n%s", err, errOut)
	}
	b, err := os.ReadFile(reportPath)
	if err != nil {
		t.Fatal(err)
	}
	var rep soak.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Subject != "producer" || len(rep.Samples) < 10 || rep.Start.RSSMiB <= 0 || rep.Samples[len(rep.Samples)-1].Frames == 0 {
		t.Fatalf("subject %q, %d samples, memory start %+v, last %+v", rep.Subject, len(rep.Samples), rep.Start, rep.Samples[len(rep.Samples)-1])
	}
	if !strings.Contains(out.String(), "soak of the producer") || !strings.Contains(out.String(), "memory ") {
		t.Fatalf("no report:\n%s", out)
	}
	for _, args := range [][]string{{"bench", "soak", "--speed", "0.5"}, {"bench", "soak", "--accounts", "0"}} {
		err := newApp(nil, out, errOut).main(context.Background(), args)
		var ue *cli.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}
}
