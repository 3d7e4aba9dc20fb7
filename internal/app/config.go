package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/kraite/stream/internal/accounts"
	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/intents"
	"github.com/kraite/stream/internal/kclient"
	"github.com/kraite/stream/producers/userdata"
)

// Config is the whole configuration of a kraite process: every variable it
// reads from the environment, parsed once (Load) and validated with errors
// that name the variable. Commands and components read it; nothing else
// reads the environment. `kraite config` prints it with secrets masked.
type Config struct {
	Common
	Exchange    Exchange
	DatabaseTLS db.TLSFiles
	Jobs        Jobs
	Intents     intents.Env
	AccountsKey accounts.KeyConfig
	Broker      Broker
	Simulator   Simulator
	Session     Session

	vars map[string]string // the environment Load parsed, for Print
}

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

// Jobs configures time-driven work.
type Jobs struct {
	OrderSyncEvery time.Duration `env:"KRAITE_ORDER_SYNC_EVERY" envDefault:"5m"`
	KeepAliveEvery time.Duration `env:"KRAITE_KEEPALIVE_EVERY" envDefault:"30m"`
	GapLookback    time.Duration `env:"KRAITE_GAP_LOOKBACK" envDefault:"1h"`
	KlineEvery     time.Duration `env:"KRAITE_KLINE_EVERY" envDefault:"1m"`
	BalanceEvery   time.Duration `env:"KRAITE_BALANCE_EVERY" envDefault:"1h"`
	SymbolsEvery   time.Duration `env:"KRAITE_SYMBOL_REFRESH_EVERY" envDefault:"24h"`
	// KlineSymbols are the symbols of kline-fetch and indicators jobs.
	KlineSymbols []string `env:"KRAITE_KLINE_SYMBOLS" envSeparator:"," envDefault:"BTCUSDT,ETHUSDT"`
	// DriftGrace is how long the observed and the exchange's position may
	// disagree before a priority alert: longer than a sweep period, so frames
	// lost on a socket and recovered by the next sweep raise nothing.
	DriftGrace time.Duration `env:"KRAITE_POSITION_DRIFT_GRACE" envDefault:"6m"`
}

// Broker is the embedded broker of `kraite broker`; flags override it.
type Broker struct {
	Addr    string `env:"KRAITE_BROKER_ADDR" envDefault:"127.0.0.1:9092"`
	DataDir string `env:"KRAITE_BROKER_DATA_DIR" envDefault:".kraite/broker"`
}

// Simulator is the exchange simulator of `kraite simulator`; flags
// override it.
type Simulator struct {
	Addr          string        `env:"KRAITE_SIM_ADDR" envDefault:"127.0.0.1:8090"`
	Seed          int64         `env:"KRAITE_SIM_SEED" envDefault:"1"`
	Accounts      int           `env:"KRAITE_SIM_ACCOUNTS" envDefault:"3"`
	OrderInterval time.Duration `env:"KRAITE_SIM_ORDER_INTERVAL" envDefault:"2s"`
	MarkInterval  time.Duration `env:"KRAITE_SIM_MARK_INTERVAL" envDefault:"1s"`
	DataDir       string        `env:"KRAITE_SIM_DATA_DIR" envDefault:".kraite-sim"`
	AdminToken    string        `env:"KRAITE_SIM_ADMIN_TOKEN"`
	AllowRemote   bool          `env:"KRAITE_SIM_ALLOW_REMOTE"`
}

// Session is what the commands read of the operator's environment besides
// Kraite's own variables: who runs them (USER, the default author of
// account changes) and the terminal (TERM: no progress redraws on a dumb
// one). `kraite config` does not print it.
type Session struct {
	User string `env:"USER"`
	Term string `env:"TERM"`
}

// part is one struct of Config with what `kraite config` calls it.
type part struct {
	title string
	ptr   any
}

func (c *Config) parts() []part {
	return []part{
		{"Kafka, topics and logging (every command)", &c.Common},
		{"the box: exchange, accounts, database, ops address, state (kraite run)", &c.Exchange},
		{"database TLS", &c.DatabaseTLS},
		{"time-driven work (scheduler, workers)", &c.Jobs},
		{"open intent limits (gate, positions worker, kraite open)", &c.Intents},
		{"accounts table key", &c.AccountsKey},
		{"kraite broker", &c.Broker},
		{"kraite simulator", &c.Simulator},
	}
}

// Load parses the configuration from environ (os.Environ's KEY=VALUE
// form) and validates it. The returned Config is filled as far as the
// environment allows even with an error, which names every bad variable.
func Load(environ []string) (*Config, error) {
	vars := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	c := &Config{vars: vars}
	var errs []error
	for _, p := range append(c.parts(), part{ptr: &c.Session}) {
		if err := parseEnv(p.ptr, vars); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("reading configuration from the environment: %w", errors.Join(errs...))
	}
	if err := c.Validate(); err != nil {
		return c, err
	}
	return c, nil
}

// Validate checks the values the parser cannot: names and ranges of the
// shared part, the periods and graces of the box and its jobs, the open
// intent limits and the accounts source.
func (c *Config) Validate() error {
	errs := []error{c.Common.Validate(), positiveDurations(&c.Exchange), positiveDurations(&c.Jobs)}
	// A receiving producer refuses a promise longer than this (anyone who
	// can commit to the group could write one): a longer grace would only
	// leave both producers streaming while the newcomer writes gap markers.
	if g := c.Exchange.HandOverGrace; g > userdata.MaxHandOverGrace {
		errs = append(errs, fmt.Errorf("KRAITE_HANDOVER_GRACE: %s is over the %s a receiving producer accepts", g, userdata.MaxHandOverGrace))
	}
	if _, err := c.Intents.Limits(); err != nil {
		errs = append(errs, err)
	}
	switch c.Exchange.AccountsSource {
	case "", AccountsSourceFile, AccountsSourceDatabase:
	default:
		// Refused here, for every role: a misspelt "database" must not
		// leave a scheduler, worker or gate serving the accounts file.
		errs = append(errs, fmt.Errorf("KRAITE_ACCOUNTS_SOURCE %q: want %s or %s", c.Exchange.AccountsSource, AccountsSourceFile, AccountsSourceDatabase))
	}
	return errors.Join(errs...)
}

// positiveDurations names every duration variable of the struct ptr points
// to that is not positive. Each of Exchange's and Jobs' is a period or a
// grace: zero or negative, a ticker panics (KRAITE_ACCOUNTS_POLL), a
// schedule refuses to start without naming the variable, or the component
// falls back to its own default without a word (KRAITE_HANDOVER_GRACE).
func positiveDurations(ptr any) error {
	v := reflect.ValueOf(ptr).Elem()
	var errs []error
	for i := range v.NumField() {
		f := v.Type().Field(i)
		d, ok := v.Field(i).Interface().(time.Duration)
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		if ok && key != "" && d <= 0 {
			errs = append(errs, fmt.Errorf("%s: %s must be positive", key, d))
		}
	}
	return errors.Join(errs...)
}

// parseEnv parses vars into cfg (a pointer to a struct with `env` tags)
// and returns an error naming every bad variable.
func parseEnv(cfg any, vars map[string]string) error {
	err := env.ParseWithOptions(cfg, env.Options{Environment: vars})
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if key := envKeyOf(reflect.TypeOf(cfg), pe.Name); key != "" {
				errs = append(errs, fmt.Errorf("%s: %q is not a valid %s: %w", key, vars[key], pe.Type, pe.Err))
				continue
			}
		}
		errs = append(errs, e)
	}
	return errors.Join(errs...)
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
	if c.Replication < 1 || c.Replication > math.MaxInt16 {
		// Topics are created with an int16 factor: 65535 would wrap to -1,
		// the broker's default, not an error.
		errs = append(errs, fmt.Errorf("KRAITE_REPLICATION: %d must be between 1 and %d", c.Replication, math.MaxInt16))
	}
	return errors.Join(errs...)
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

// Setup makes the configuration the process's: its Kafka TLS and SASL the
// default of every Kafka client, its database TLS files those of every
// database it opens, and it returns the process's logger (on w).
func (c *Config) Setup(w io.Writer) (*slog.Logger, error) {
	sec, err := c.Kafka.Build()
	if err != nil {
		return nil, err
	}
	// Every Kafka client this process builds (franz-go and goka's sarama)
	// takes its TLS and SASL from here.
	kclient.SetDefault(sec)
	db.SetTLSFiles(c.DatabaseTLS)
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
	return log, nil
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
