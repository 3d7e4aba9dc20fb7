package main

// There is no container engine here, so the compose stack runs the way the
// engine would run its kraite services, one process each: the exact
// command (the image's entrypoint is /kraite, this test binary stands in
// for it), the service's environment interpolated from the operator's
// settings (example.env filled in), and the healthcheck's exact command.
// What the engine provides is mapped: Redpanda is the embedded broker with
// SASL and the superuser, MariaDB a scratch database on the local server,
// the secret a file, a named volume a temporary directory, a container
// port a free port on 127.0.0.1.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kraite/stream/harness/broker"
	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/internal/testkit"
)

// composeProc is one kraite service (or its healthcheck) as a process.
type composeProc struct {
	name    string
	cmd     *exec.Cmd
	out     *syncBuffer
	errOut  *syncBuffer
	done    chan struct{}
	err     error
	started time.Time
}

// startComposeProc runs argv (what follows the image's /kraite) with env,
// in workDir: the container's working directory, outside every volume.
func startComposeProc(t *testing.T, name, workDir string, argv, env []string) *composeProc {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	p := &composeProc{name: name, cmd: exec.Command(exe, argv...), out: &syncBuffer{}, errOut: &syncBuffer{}, done: make(chan struct{})}
	p.cmd.Env, p.cmd.Dir = env, workDir
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	p.started = time.Now()
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exitCode waits up to timeout for the process to end by itself and
// returns its exit status (-1: still running, then killed).
func (p *composeProc) exitCode(timeout time.Duration) int {
	select {
	case <-p.done:
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return -1
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		return -1
	}
	return 0
}

// tail is the end of the process's output, for a failure message.
func (p *composeProc) tail() string {
	s := p.out.String() + p.errOut.String()
	if len(s) > 4000 {
		s = "..." + s[len(s)-4000:]
	}
	return s
}

// composeRig maps the compose services onto this machine.
type composeRig struct {
	c     composeFile
	vars  map[string]string // the operator's settings (compose/.env)
	dbURL string
	// hosts maps a service's "host:port" inside the compose network to
	// where it listens here.
	hosts map[string]string
}

// service is the argv, environment and healthcheck argv of a kraite
// service as the engine would run them, mapped onto this machine.
func (r *composeRig) service(t *testing.T, name string) (argv, env, health []string) {
	t.Helper()
	s := r.c.Services[name]
	expand := func(what, v string) string {
		out, err := interpolate(v, r.vars)
		if err != nil {
			t.Fatalf("%s: %s: %v", name, what, err)
		}
		return out
	}
	pairs := []string{}
	for from, to := range r.hosts {
		pairs = append(pairs, from, to)
	}
	// The box's own ops port: the listen address keeps its host (0.0.0.0
	// as in the container), on a free port.
	if addr := s.Environment["KRAITE_HTTP_ADDR"]; addr != "" {
		_, own, _ := net.SplitHostPort(freeAddr(t))
		host, port, _ := net.SplitHostPort(addr)
		pairs = append(pairs, addr, net.JoinHostPort(host, own), "127.0.0.1:"+port, "127.0.0.1:"+own)
	}
	// Named volumes: a directory per service.
	for _, v := range s.Volumes {
		src, target, _ := strings.Cut(v, ":")
		if _, named := r.c.Volumes[src]; named {
			dir := filepath.Join(t.TempDir(), src)
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			pairs = append(pairs, target, dir)
		}
	}
	// Secrets: the host file, where the engine mounts it.
	for _, sec := range s.Secrets {
		file := expand("secret "+sec, r.c.Secrets[sec].File)
		if !filepath.IsAbs(file) {
			file = filepath.Join(composeDir, file)
		}
		abs, err := filepath.Abs(file)
		if err != nil {
			t.Fatal(err)
		}
		pairs = append(pairs, "/run/secrets/"+sec, abs)
	}
	rep := strings.NewReplacer(pairs...)
	cmd, ok := args(s.Command)
	if !ok || len(cmd) == 0 {
		t.Fatalf("%s: command %v", name, s.Command)
	}
	for _, a := range cmd {
		argv = append(argv, rep.Replace(expand("command", a)))
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KRAITE_") {
			env = append(env, kv)
		}
	}
	env = append(env, reexecEnv+"=1")
	for _, k := range sortedKeys(s.Environment) {
		v := expand(k, s.Environment[k])
		if k == "KRAITE_DATABASE_URL" {
			m := r.c.Services["mariadb"].Environment
			if want := "mysql://" + m["MARIADB_USER"] + ":" + expand("MARIADB_PASSWORD", m["MARIADB_PASSWORD"]) + "@mariadb:3306/" + m["MARIADB_DATABASE"]; v != want {
				t.Fatalf("%s: KRAITE_DATABASE_URL is not the mariadb service's database", name)
			}
			v = r.dbURL
		}
		env = append(env, k+"="+rep.Replace(v))
	}
	if s.Healthcheck != nil {
		test, _ := args(s.Healthcheck.Test)
		if len(test) < 2 || test[0] != "CMD" || test[1] != "/kraite" {
			t.Fatalf("%s: healthcheck %q does not run /kraite", name, test)
		}
		for _, a := range test[2:] {
			health = append(health, rep.Replace(expand("healthcheck", a)))
		}
	}
	return argv, env, health
}

// probe runs a healthcheck once: its exit status, stdout and stderr.
func probe(t *testing.T, name, workDir string, health, env []string) (int, string, string) {
	t.Helper()
	p := startComposeProc(t, name+" healthcheck", workDir, health, env)
	code := p.exitCode(30 * time.Second)
	return code, p.out.String(), p.errOut.String()
}

func randomSecret() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestComposeServicesRunAgainstTheEmbeddedBroker runs every kraite service
// of docker-compose.yml (with --profile sim) in the engine's order: the
// simulator until its healthcheck passes, the one-shots (migrate, topics
// apply, symbols import) to exit status 0, then the five boxes until each
// one's `kraite healthcheck` exits 0 (and 1, with the reason on stderr,
// before it runs); then the data has gone the whole way (user-data frames
// in the audit table, orders, mark prices), and SIGTERM stops every
// process with status 0.
func TestComposeServicesRunAgainstTheEmbeddedBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the stack's eight kraite services as processes for about a minute")
	}
	// MariaDB: an empty scratch database (migrate creates the schema);
	// skips without a server (fails in CI, KRAITE_TEST_REQUIRE_DB=1).
	dbURL := dbtest.MySQLEmpty(t)
	prev := kclient.DefaultSecurity()
	t.Cleanup(func() { kclient.SetDefault(prev) })
	c := readCompose(t)

	// The operator's compose/.env: example.env with every blank filled in,
	// and the simulator's accounts as the accounts secret.
	vars := exampleEnv(t)
	for k, v := range vars {
		if v == "" {
			vars[k] = randomSecret()
		}
	}
	vars["ACCOUNTS_SECRET_FILE"] = "./accounts.sim.json"
	keyFile := filepath.Join(t.TempDir(), "accounts.key") // kraite accounts new-key, as example.env says
	if _, err := accounts.WriteNewKeyFile(keyFile); err != nil {
		t.Fatal(err)
	}
	vars["ACCOUNTS_KEY_FILE"] = keyFile
	used := composeVars(t)
	for k := range vars {
		if _, ok := used[k]; !ok {
			delete(vars, k) // commented out in example.env: the default applies
		}
	}
	delete(vars, "KRAITE_BINANCE_REST_URL")
	delete(vars, "KRAITE_BINANCE_WS_URL")

	// Redpanda: the embedded broker, SASL required, the superuser created
	// with RP_BOOTSTRAP_USER's default mechanism, no topic until applied.
	b, err := broker.Start(broker.Config{Addr: "127.0.0.1:0", NoAutoCreate: true, SASL: []broker.User{
		{Mechanism: kclient.MechanismScramSHA256, Name: vars["REDPANDA_SUPERUSER"], Password: vars["REDPANDA_SUPERUSER_PASSWORD"]}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)

	sim := c.Services["simulator"]
	_, simPort, err := net.SplitHostPort(sim.Environment["KRAITE_SIM_ADDR"])
	if err != nil {
		t.Fatal(err)
	}
	simAddr := freeAddr(t)
	_, simFree, _ := net.SplitHostPort(simAddr)
	simHost, _, _ := net.SplitHostPort(sim.Environment["KRAITE_SIM_ADDR"])
	simListen := net.JoinHostPort(simHost, simFree) // it listens as in the container
	r := &composeRig{c: c, vars: vars, dbURL: dbURL, hosts: map[string]string{
		"redpanda:9092":                    b.Addr(),
		"simulator:" + simPort:             simAddr,
		sim.Environment["KRAITE_SIM_ADDR"]: simListen,
		"127.0.0.1:" + simPort:             simAddr,
	}}

	// The engine's order: a service starts once what it depends on is
	// healthy (long-running) or completed successfully (one-shots).
	state := map[string]string{"redpanda": "healthy", "mariadb": "healthy"}
	running := map[string]*composeProc{}
	workDirs := map[string]string{}
	var order []string
	for progressed := true; progressed; {
		progressed = false
		for _, name := range sortedKeys(c.Services) {
			s := c.Services[name]
			if _, done := state[name]; done || !s.isKraite() {
				continue
			}
			ready := true
			for dep, d := range s.DependsOn {
				want := map[string]string{"service_healthy": "healthy", "service_completed_successfully": "completed"}[d.Condition]
				if state[dep] != want {
					ready = false
				}
			}
			if !ready {
				continue
			}
			progressed = true
			order = append(order, name)
			argv, env, health := r.service(t, name)
			// The working directory, where a write outside the volumes
			// would land (lost with the container, or not even writable).
			workDir := t.TempDir()
			workDirs[name] = workDir
			if s.oneShot() {
				p := startComposeProc(t, name, workDir, argv, env)
				if code := p.exitCode(2 * time.Minute); code != 0 {
					t.Fatalf("one-shot %s (kraite %s) exited %d:\n%s", name, strings.Join(argv, " "), code, p.tail())
				}
				t.Logf("%s: kraite %s: exit 0\n%s", name, strings.Join(argv, " "), strings.TrimSpace(p.out.String()))
				state[name] = "completed"
				continue
			}
			// Not running yet: the healthcheck says so, on stderr, with 1.
			if code, out, errOut := probe(t, name, workDir, health, env); code != 1 || out != "" || !strings.Contains(errOut, "not ready") {
				t.Fatalf("%s: healthcheck before the start: exit %d, stdout %q, stderr %q", name, code, out, errOut)
			}
			p := startComposeProc(t, name, workDir, argv, env)
			running[name] = p
			var last string
			for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(time.Second) {
				select {
				case <-p.done:
					t.Fatalf("%s (kraite %s) ended: %v\n%s", name, strings.Join(argv, " "), p.err, p.tail())
				default:
				}
				code, out, errOut := probe(t, name, workDir, health, env)
				last = out + errOut
				if code == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s (kraite %s): not healthy after 3 minutes; the healthcheck says (exit %d):\n%s\nits output:\n%s",
						name, strings.Join(argv, " "), code, last, p.tail())
				}
			}
			t.Logf("%s: kraite %s: healthy after %s\n%s", name, strings.Join(argv, " "), time.Since(p.started).Round(100*time.Millisecond), strings.TrimSpace(last))
			state[name] = "healthy"
		}
	}
	for _, name := range sortedKeys(c.Services) {
		if _, ok := state[name]; !ok && c.Services[name].isKraite() {
			t.Fatalf("%s never starts: what it depends on never gets there (started in order: %v)", name, order)
		}
	}

	// The data went the whole way: frames of the simulator's accounts
	// (accounts.sim.json) to the audit table and the orders, mark prices to
	// the symbols that symbols import created.
	d, err := db.Open(context.Background(), r.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	count := func(q string) int {
		var n int
		if err := d.QueryRowContext(context.Background(), q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	testkit.Eventually(t, 2*time.Minute, "audit rows, orders and mark prices from the boxes", func() bool {
		return count("SELECT COUNT(DISTINCT account) FROM api_data_stream") == 3 && count("SELECT COUNT(*) FROM orders") > 0 &&
			count("SELECT COUNT(*) FROM exchange_symbols WHERE mark_price IS NOT NULL") > 0
	})

	// docker compose stop: SIGTERM, the box stops cleanly (status 0).
	slices.Reverse(order)
	for _, name := range order {
		p, ok := running[name]
		if !ok {
			continue
		}
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		start := time.Now()
		if code := p.exitCode(time.Minute); code != 0 {
			t.Errorf("%s: exit %d after SIGTERM:\n%s", name, code, p.tail())
			continue
		}
		t.Logf("%s: stopped with status 0 %s after SIGTERM", name, time.Since(start).Round(10*time.Millisecond))
	}
	for _, name := range sortedKeys(workDirs) {
		if left, _ := os.ReadDir(workDirs[name]); len(left) > 0 {
			t.Errorf("%s wrote %s into its working directory, outside its volumes (lost with the container)", name, left[0].Name())
		}
	}
}
