// Package backoff is the one retry policy of the tree: capped exponential
// delays with optional random jitter, and a sleep that ends with its
// context. Reconnecting sockets (producers), retried jobs (queues/worker),
// sink writes and quarantine sends all wait through it.
//
// Garbage in a Policy never yields a negative, zero-length-forever or
// overflowing delay: a non-positive Base means one second, a non-positive
// Cap means 32·Base, a Cap under Base means Base, Jitter is clamped to
// [0, 1], and every sum saturates at the largest time.Duration.
package backoff

import (
	"context"
	"math"
	"math/rand/v2"
	"time"
)

// Defaults of a zero Policy.
const (
	DefaultBase = time.Second
	// DefaultJitter is the jitter of the reconnect and retry policies: up to
	// half the delay again, so a fleet of accounts or workers does not retry
	// in lockstep.
	DefaultJitter = 0.5
)

// Policy computes the delay before retry number attempt (0-based): Base·2^attempt
// capped at Cap, plus a random extra of up to Jitter times that delay.
type Policy struct {
	// Base is the first delay (<= 0: DefaultBase).
	Base time.Duration
	// Cap bounds the doubling (<= 0: 32·Base; below Base: Base).
	Cap time.Duration
	// Jitter is the largest random extra as a fraction of the delay, in
	// [0, 1] (0: none, exact delays; NaN or negative: none; above 1: 1).
	Jitter float64
}

// Delay returns the wait before retry number attempt (0-based; a negative
// attempt counts as 0).
func (p Policy) Delay(attempt int) time.Duration {
	base, capd := p.Base, p.Cap
	if base <= 0 {
		base = DefaultBase
	}
	if capd <= 0 {
		capd = base << 5
		if capd>>5 != base { // overflowed
			capd = math.MaxInt64
		}
	}
	capd = max(capd, base)
	d := capd
	if attempt < 0 {
		attempt = 0
	}
	if attempt < 62 && base <= capd>>attempt {
		d = base << attempt
	}
	return d + p.extra(d)
}

// extra is the random jitter added to d, never overflowing d + extra.
func (p Policy) extra(d time.Duration) time.Duration {
	j := p.Jitter
	if !(j > 0) { // also NaN
		return 0
	}
	var most time.Duration
	if j >= 1 {
		most = d
	} else {
		most = time.Duration(float64(d) * j) // < 2^63: no overflow
	}
	most = min(most, math.MaxInt64-d)
	if most <= 0 {
		return 0
	}
	if most == math.MaxInt64 {
		return rand.N(most)
	}
	return rand.N(most + 1)
}

// Sleep waits for Delay(attempt) or until ctx is done; false when ctx ended.
func (p Policy) Sleep(ctx context.Context, attempt int) bool {
	return Sleep(ctx, p.Delay(attempt))
}

// Sleep waits for d or until ctx is done; false when ctx ended (at once
// when it already had, whatever d).
func Sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Until waits until t or until ctx is done; false when ctx ended.
func Until(ctx context.Context, t time.Time) bool {
	return Sleep(ctx, time.Until(t))
}
