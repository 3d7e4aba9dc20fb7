package chaos

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/kraite/stream/harness/proc"
)

// workerChild is `kraite run --components orders-sink,trading-worker` as a
// child process: the kraite binary (self) re-executed, so it can be killed
// with SIGKILL.
type workerChild struct {
	self      string
	args, env []string
	logPath   string
	log       *slog.Logger

	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{}
	firstRSS float64
}

func (wc *workerChild) start() error {
	logf, err := os.OpenFile(wc.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("opening the worker child's log: %w", err)
	}
	cmd := exec.Command(wc.self, wc.args...)
	cmd.Env = wc.env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = proc.ChildAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting the worker child: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	wc.mu.Lock()
	wc.cmd, wc.done = cmd, done
	wc.mu.Unlock()
	wc.log.Info("worker child started", "pid", cmd.Process.Pid, "args", strings.Join(wc.args, " "))
	return nil
}

func (wc *workerChild) current() (*exec.Cmd, chan struct{}) {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.cmd, wc.done
}

func (wc *workerChild) pid() int {
	if cmd, _ := wc.current(); cmd != nil {
		return cmd.Process.Pid
	}
	return 0
}

func (wc *workerChild) running() bool {
	_, done := wc.current()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (wc *workerChild) kill() (int, error) {
	cmd, done := wc.current()
	if cmd == nil || !wc.running() {
		return 0, errors.New("the worker child is not running")
	}
	if err := cmd.Process.Kill(); err != nil {
		return 0, fmt.Errorf("kill -9 of the worker child: %w", err)
	}
	<-done
	return cmd.Process.Pid, nil
}

// stop asks the child to stop (SIGTERM, it flushes and leaves its groups)
// and kills it if it has not within 20 s.
func (wc *workerChild) stop() {
	cmd, done := wc.current()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(proc.Terminate)
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (wc *workerChild) rss() float64 {
	if !wc.running() {
		return 0
	}
	m, _ := proc.RSS(wc.pid())
	return m
}

// tail is the end of the child's log, for errors.
func (wc *workerChild) tail() string {
	b, _ := os.ReadFile(wc.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
