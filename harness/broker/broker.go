// Package broker runs franz-go's kfake as a standalone Kafka-protocol broker:
// real Kafka wire protocol over TCP, so franz-go, goka (sarama), rpk and kcat
// all talk to it. With a data directory, topics, records and committed
// offsets survive a restart.
package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Config configures the embedded broker.
type Config struct {
	// Addr is the listen address, e.g. "127.0.0.1:9092"; port 0 picks one.
	Addr string
	// DataDir persists the cluster state; empty keeps everything in memory.
	DataDir string
	// SyncWrites fsyncs every produce (slower, durable across power loss).
	SyncWrites bool
	// NoAutoCreate refuses to create topics on metadata requests: a topic
	// must come from the catalog (kraite topics apply) with its partitions.
	NoAutoCreate bool
	// Logger receives kfake's warnings and errors (nil = silent).
	Logger *slog.Logger
	// SASL, when not empty, makes the broker require SASL authentication
	// and accept exactly these credentials (superusers: the embedded broker
	// enforces no ACLs for them).
	SASL []User
	// TLS, when set, makes the listener speak TLS with this server config.
	TLS *tls.Config
}

// User is one SASL credential: a user name and password accepted with one
// mechanism (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512).
type User struct {
	Mechanism string
	Name      string
	Password  string
}

// saslFile is where kfake keeps SASL credentials in its data directory.
// A persisted file replaces the configured users when the cluster loads
// (and a file saved by a run without SASL holds none, which would lock every
// client out), so the configuration is the one source of truth: the file is
// removed before a start with SASL users.
const saslFile = "sasl.json"

// ErrLocked reports a data directory owned by another running process.
var ErrLocked = errors.New("data directory locked")

// Broker is a running kfake cluster of one broker.
type Broker struct {
	c      *kfake.Cluster
	addr   string
	unlock func()
}

// Start listens and returns the running broker. Close (or cancel Run's ctx)
// stops it; with a DataDir the state is flushed to disk on close.
func Start(cfg Config, extra ...kfake.Opt) (*Broker, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:9092"
	}
	unlock := func() {}
	if cfg.DataDir != "" {
		// Before anything touches the directory: a second broker on the
		// same files would rewrite a live broker's segments.
		var err error
		if unlock, err = LockDir(cfg.DataDir); err != nil {
			return nil, err
		}
	}
	for _, u := range cfg.SASL {
		switch u.Mechanism {
		case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		default:
			unlock()
			return nil, fmt.Errorf("SASL user %q: unsupported mechanism %q (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)", u.Name, u.Mechanism)
		}
		if u.Name == "" || u.Password == "" {
			unlock()
			return nil, errors.New("SASL: a user needs a name and a password")
		}
	}
	if len(cfg.SASL) > 0 && cfg.DataDir != "" {
		if err := os.Remove(filepath.Join(cfg.DataDir, saslFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
			unlock()
			return nil, fmt.Errorf("resetting the persisted SASL users: %w", err)
		}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		unlock()
		return nil, fmt.Errorf("listening on %s: %w", cfg.Addr, err)
	}
	used := false
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			if used {
				return net.Listen(network, address)
			}
			used = true
			return ln, nil
		}),
		kfake.DefaultNumPartitions(3),
		kfake.ClusterID("kraite-dev"),
	}
	if !cfg.NoAutoCreate {
		opts = append(opts, kfake.AllowAutoTopicCreation())
	}
	if cfg.DataDir != "" {
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	if cfg.Logger != nil {
		opts = append(opts, kfake.WithLogger(slogLogger{cfg.Logger}))
	}
	if len(cfg.SASL) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.SASL {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	c, err := kfake.NewCluster(append(opts, extra...)...)
	if err != nil {
		ln.Close()
		unlock()
		return nil, fmt.Errorf("starting kfake: %w", err)
	}
	return &Broker{c: c, addr: ln.Addr().String(), unlock: sync.OnceFunc(unlock)}, nil
}

// Addr is the address clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes kfake for fault injection in tests and chaos runs.
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker (flushing its data directory) and releases the
// directory's lock; safe to call more than once.
func (b *Broker) Close() {
	b.c.Close()
	b.unlock()
}

// Run blocks until ctx is done, then closes the broker.
func (b *Broker) Run(ctx context.Context) error {
	<-ctx.Done()
	b.Close()
	if errors.Is(ctx.Err(), context.Canceled) {
		return nil
	}
	return ctx.Err()
}

type slogLogger struct{ l *slog.Logger }

func (s slogLogger) Logf(level kfake.LogLevel, msg string, args ...any) {
	text := fmt.Sprintf(msg, args...)
	switch level {
	case kfake.LogLevelError:
		s.l.Error("kfake", "msg", text)
	case kfake.LogLevelWarn:
		s.l.Warn("kfake", "msg", text)
	default:
		s.l.Debug("kfake", "msg", text)
	}
}
