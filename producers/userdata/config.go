// Package userdata is the per-account Binance user-data stream producer:
// one goroutine-owned WebSocket connection per account, every frame produced
// unchanged to the user-data-stream topic (key = account id), and a gap
// marker for every window in which no socket was attached and for every
// frame that can never be stored (larger than the topic accepts, or refused
// by the broker as a record: reasons frame_too_large and frame_refused), so
// the REST backfill recovers what such a frame carried.
package userdata

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/kraite/stream/internal/backoff"
	"github.com/kraite/stream/internal/binanceapi"
	"github.com/kraite/stream/topics"
)

// Account is one exchange account to stream.
type Account struct {
	ID        string // our account id: the record key
	APIKey    string
	APISecret string
	// Version is the account's version in the accounts table (0 for the
	// accounts file): a new version restarts the stream (a rotated secret).
	Version int64

	// HandOver is set when the account was handed over by another
	// producer that keeps its socket open until HandOver.Until: a stream
	// connected before then publishes no gap marker (the two sockets
	// overlapped); one connected later publishes a gap from
	// HandOver.Released. It is a hint for starting the stream, not part of
	// the account's identity (a change of it restarts nothing).
	HandOver HandOver
}

// HandOver is how the previous owner of an account let it go.
type HandOver struct {
	Released time.Time // when the previous owner gave the account up
	Until    time.Time // until when it keeps its socket open
}

// same reports whether a and b stream the same way (a change restarts the
// stream): the hand-over hint does not count.
func (a Account) same(b Account) bool {
	return a.ID == b.ID && a.APIKey == b.APIKey && a.APISecret == b.APISecret && a.Version == b.Version
}

// Creds are the account's API credentials.
func (a Account) Creds() binanceapi.Credentials {
	return binanceapi.Credentials{APIKey: a.APIKey, APISecret: a.APISecret}
}

// Config configures the producer. Zero durations take the defaults below.
type Config struct {
	Exchange    string // default "binance"
	TopicPrefix string // default topics.DefaultPrefix
	RESTBase    string // e.g. https://fapi.binance.com or the simulator's http://127.0.0.1:8090
	WSBase      string // e.g. wss://fstream.binance.com or ws://127.0.0.1:8090
	// KeepAlive is the listenKey PUT interval (default 30m).
	KeepAlive time.Duration
	// IdleTimeout is the no-data/no-ping watchdog (default 4m30s).
	IdleTimeout time.Duration
	// RotateAfter opens a replacement connection before the 24 h cut-off
	// (default 23h30m); the old one is closed only once the new one is up.
	RotateAfter time.Duration
	// Backoff is the reconnect policy (default 1s doubling to 32s, with jitter).
	Backoff backoff.Policy
}

func (c Config) withDefaults() Config {
	if c.Exchange == "" {
		c.Exchange = topics.ExchangeBinance
	}
	if c.TopicPrefix == "" {
		c.TopicPrefix = topics.DefaultPrefix
	}
	if c.KeepAlive <= 0 {
		c.KeepAlive = 30 * time.Minute
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 4*time.Minute + 30*time.Second
	}
	if c.RotateAfter <= 0 {
		c.RotateAfter = 23*time.Hour + 30*time.Minute
	}
	if c.Backoff.Base <= 0 {
		c.Backoff = backoff.Policy{Base: time.Second, Cap: 32 * time.Second, Jitter: backoff.DefaultJitter}
	}
	return c
}

// Validate names every bad field.
func (c Config) Validate() error {
	var errs []error
	for name, v := range map[string]string{"RESTBase": c.RESTBase, "WSBase": c.WSBase} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is required", name))
			continue
		}
		if _, err := url.Parse(v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", name, v, err))
		}
	}
	if c.KeepAlive > 60*time.Minute {
		errs = append(errs, fmt.Errorf("KeepAlive %s exceeds the 60-minute listenKey validity", c.KeepAlive))
	}
	if c.RotateAfter >= 24*time.Hour {
		errs = append(errs, fmt.Errorf("RotateAfter %s must be below the 24 h connection cut-off", c.RotateAfter))
	}
	return errors.Join(errs...)
}

// StreamURL is the 2026 private route for a listenKey (the legacy /ws route
// completes the handshake but delivers nothing since 2026-04-23).
func (c Config) StreamURL(listenKey string) string {
	return c.WSBase + "/private/ws?listenKey=" + url.QueryEscape(listenKey)
}

func streamTopic(prefix string) string { return topics.UserDataStream.Name(prefix) }
