package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/kraite/stream/internal/kclient"
)

// Common is the configuration every command shares.
type Common struct {
	Brokers     []string `env:"KRAITE_BROKERS" envDefault:"127.0.0.1:9092" envSeparator:","`
	TopicPrefix string   `env:"KRAITE_TOPIC_PREFIX" envDefault:"kraite."`
	LogLevel    string   `env:"KRAITE_LOG_LEVEL" envDefault:"info"`
	LogFormat   string   `env:"KRAITE_LOG_FORMAT" envDefault:"text"`
	Replication int      `env:"KRAITE_REPLICATION" envDefault:"1"`
	// Kafka is TLS and SASL for every Kafka client (KRAITE_KAFKA_*).
	Kafka kclient.SecurityConfig
}

// Exchange is where the exchange is and which accounts to stream.
type Exchange struct {
	RESTBase     string        `env:"KRAITE_BINANCE_REST_URL" envDefault:"https://fapi.binance.com"`
	WSBase       string        `env:"KRAITE_BINANCE_WS_URL" envDefault:"wss://fstream.binance.com"`
	AccountsFile string        `env:"KRAITE_ACCOUNTS_FILE"`
	AccountsPoll time.Duration `env:"KRAITE_ACCOUNTS_POLL" envDefault:"10s"`
	// AccountsSource is where the user-data producer's accounts come from:
	// "file" (KRAITE_ACCOUNTS_FILE, every account on this box; dev and
	// bootstrap) or "database" (the accounts table: the producer joins the
	// producer.user-data group and streams the accounts of its
	// kraite.accounts partitions).
	AccountsSource string `env:"KRAITE_ACCOUNTS_SOURCE" envDefault:"file"`
	// HandOverGrace is how long a producer giving up accounts keeps their
	// sockets open so the new owner connects first (make-before-break).
	HandOverGrace time.Duration `env:"KRAITE_HANDOVER_GRACE" envDefault:"15s"`
	// StreamGrace is how long a stream may be down before /readyz says so;
	// StallAfter how long a group may hold waiting records without a commit.
	StreamGrace time.Duration `env:"KRAITE_STREAM_GRACE" envDefault:"1m"`
	StallAfter  time.Duration `env:"KRAITE_STALL_AFTER" envDefault:"2m"`
	HTTPAddr    string        `env:"KRAITE_HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	DatabaseURL string        `env:"KRAITE_DATABASE_URL"`
	// StateDir holds goka's local table stores (one directory per process).
	StateDir string `env:"KRAITE_STATE_DIR" envDefault:".kraite/state"`
}

func (c Common) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 || c.Brokers[0] == "" {
		errs = append(errs, errors.New("KRAITE_BROKERS: at least one broker address is required"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("KRAITE_LOG_LEVEL: %q is not one of debug, info, warn, error", c.LogLevel))
	}
	switch c.LogFormat {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("KRAITE_LOG_FORMAT: %q is not text or json", c.LogFormat))
	}
	if c.Replication < 1 {
		errs = append(errs, fmt.Errorf("KRAITE_REPLICATION: %d must be at least 1", c.Replication))
	}
	return errors.Join(errs...)
}

// LoadEnv parses environment variables into cfg (a pointer to a struct with
// `env` tags) and returns a clear error naming every bad variable.
func LoadEnv(cfg any) error {
	err := env.Parse(cfg)
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("reading configuration from the environment: %w", err)
	}
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if key := envKeyOf(reflect.TypeOf(cfg), pe.Name); key != "" {
				errs = append(errs, fmt.Errorf("%s: %q is not a valid %s: %w", key, os.Getenv(key), pe.Type, pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return fmt.Errorf("reading configuration from the environment: %w", errors.Join(errs...))
}

// envKeyOf is the environment variable of field name in struct type t (a
// pointer to a struct, possibly with nested structs), so errors name the
// variable an operator sets, not the Go field.
func envKeyOf(t reflect.Type, name string) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return ""
	}
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == name {
			if key, _, _ := strings.Cut(f.Tag.Get("env"), ","); key != "" {
				return key
			}
		}
		if k := f.Type.Kind(); k == reflect.Struct || k == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct {
			if key := envKeyOf(f.Type, name); key != "" {
				return key
			}
		}
	}
	return ""
}

// LoadCommon reads and validates the shared configuration, makes its Kafka
// TLS and SASL the default of every Kafka client of the process, and
// returns the process's logger (on w).
func LoadCommon(w io.Writer) (Common, *slog.Logger, error) {
	var c Common
	if err := LoadEnv(&c); err != nil {
		return c, nil, err
	}
	if err := c.Validate(); err != nil {
		return c, nil, err
	}
	sec, err := c.Kafka.Build()
	if err != nil {
		return c, nil, err
	}
	// Every Kafka client this process builds (franz-go and goka's sarama)
	// takes its TLS and SASL from here.
	kclient.SetDefault(sec)
	log := NewLogger(w, c.LogLevel, c.LogFormat)
	// franz-go's and goka's own logs: WARN and above, everything at debug.
	libLevel := slog.LevelWarn
	if c.LogLevel == "debug" {
		libLevel = slog.LevelDebug
	}
	kclient.SetLibraryLogLevel(libLevel)
	if warn := sec.Warning(c.Brokers); warn != "" {
		log.Warn(warn)
	}
	return c, log, nil
}

// NewLogger is a slog logger on w at level (debug|info|warn|error) in
// format (text|json).
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
