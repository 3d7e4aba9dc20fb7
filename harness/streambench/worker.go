// Package streambench measures the user-data producers spread over several
// processes by the producer.user-data consumer group: frame -> Kafka ack
// latency and memory per account with 1 and N processes (Ingest), and the
// failover of a process killed with SIGKILL plus the scale-out to one more
// (Failover). The producers are child processes (the kraite binary started
// as `kraite bench producer`, Worker here) driven over their stdin and
// stdout; the broker and the simulator run in the parent.
package streambench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/publisher"
	"github.com/kraite/stream/producers/userdata"
)

// WorkerConfig is what a producer child reads as the first line of its stdin.
type WorkerConfig struct {
	Name     string        `json:"name"`
	Broker   string        `json:"broker"`
	Sim      string        `json:"sim"` // host:port of the simulator
	Prefix   string        `json:"prefix"`
	Session  time.Duration `json:"session"`
	Grace    time.Duration `json:"grace"`
	Accounts []Creds       `json:"accounts"` // the simulator's (test credentials)
}

// Creds are one simulated account's credentials.
type Creds struct {
	ID        string `json:"id"`
	APIKey    string `json:"api_key"`
	APISecret string `json:"api_secret"`
}

// StaticSource is a CredentialSource over a fixed list (the simulator's
// accounts: a benchmark has no accounts table).
type StaticSource map[string]accounts.Credentials

// NewStaticSource returns the source of cs, every account enabled at version 1.
func NewStaticSource(exchange string, cs []Creds) StaticSource {
	s := StaticSource{}
	for _, c := range cs {
		s[c.ID] = accounts.Credentials{ID: c.ID, Exchange: exchange, APIKey: c.APIKey, APISecret: c.APISecret, Enabled: true, Version: 1}
	}
	return s
}

// Credentials implements accounts.CredentialSource.
func (s StaticSource) Credentials(_ context.Context, id string) (accounts.Credentials, error) {
	c, ok := s[id]
	if !ok {
		return accounts.Credentials{}, accounts.ErrNotFound
	}
	return c, nil
}

// Status is a worker's answer to "status".
type Status struct {
	Accounts  int `json:"accounts"`  // streams running
	Connected int `json:"connected"` // of which connected
}

// Report is a worker's answer to "report": the latencies since the last
// "reset" and its memory.
type Report struct {
	Name       string  `json:"name"`
	Accounts   int     `json:"accounts"`
	LatencyNs  []int64 `json:"latency_ns"` // sorted; a uniform sample when there are many
	Frames     int     `json:"frames"`
	HeapInuse  uint64  `json:"heap_inuse"`
	Sys        uint64  `json:"sys"`
	Goroutines int     `json:"goroutines"`
}

const maxSample = 200_000

// RunWorker is a producer child: it reads its WorkerConfig from in, runs an
// Assigner and a Manager, and answers the commands status, reset, report
// (one JSON line each on out) until in ends or says quit; then it leaves
// the group like a stopping box (hand-over) and returns.
func RunWorker(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	if !sc.Scan() {
		return fmt.Errorf("reading the worker config: %w", sc.Err())
	}
	var cfg WorkerConfig
	if err := json.Unmarshal(sc.Bytes(), &cfg); err != nil {
		return fmt.Errorf("decoding the worker config: %w", err)
	}
	var (
		mu  sync.Mutex
		lat []time.Duration
	)
	kf := kclient.ForBrokers(cfg.Broker)
	pub, err := publisher.New(publisher.Config{Kafka: kf, ClientID: "bench-" + cfg.Name,
		OnAck: func(stream string, d time.Duration) {
			if stream == "userdata" {
				mu.Lock()
				lat = append(lat, d)
				mu.Unlock()
			}
		}}, log, nil)
	if err != nil {
		return err
	}
	mg, err := userdata.New(userdata.Config{TopicPrefix: cfg.Prefix, RESTBase: "http://" + cfg.Sim, WSBase: "ws://" + cfg.Sim,
		Backoff: backoff.Policy{Base: 100 * time.Millisecond, Cap: 2 * time.Second, Jitter: backoff.DefaultJitter}}, nil, pub, nil, log)
	if err != nil {
		return err
	}
	as, err := userdata.NewAssigner(userdata.AssignConfig{Kafka: kf, Prefix: cfg.Prefix,
		Source: NewStaticSource("binance", cfg.Accounts), Grace: cfg.Grace, SessionTimeout: cfg.Session,
		ClientID: "bench-" + cfg.Name, Log: log}, mg)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- userdata.RunAssigned(rctx, as, mg) }()
	enc := json.NewEncoder(out)
	for sc.Scan() {
		switch cmd := strings.TrimSpace(sc.Text()); cmd {
		case "status":
			var st Status
			for _, s := range mg.Status() {
				if s.Problem == "" && s.Closed == "" {
					st.Accounts++
				}
				if s.Connected {
					st.Connected++
				}
			}
			err = enc.Encode(st)
		case "reset":
			mu.Lock()
			lat = nil
			mu.Unlock()
			err = enc.Encode(struct{}{})
		case "report":
			mu.Lock()
			got := lat
			lat = nil
			mu.Unlock()
			slices.Sort(got)
			r := Report{Name: cfg.Name, Frames: len(got), Goroutines: runtime.NumGoroutine()}
			step := max(1, len(got)/maxSample)
			for i := 0; i < len(got); i += step {
				r.LatencyNs = append(r.LatencyNs, int64(got[i]))
			}
			for _, s := range mg.Status() {
				if s.Problem == "" && s.Closed == "" {
					r.Accounts++
				}
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			r.HeapInuse, r.Sys = ms.HeapInuse, ms.Sys
			err = enc.Encode(r)
		case "quit":
			cancel()
		default:
			err = enc.Encode(map[string]string{"error": "unknown command " + cmd})
		}
		if err != nil || rctx.Err() != nil {
			break
		}
	}
	cancel()
	err = <-done
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer fcancel()
	return errors.Join(err, pub.Close(fctx))
}
