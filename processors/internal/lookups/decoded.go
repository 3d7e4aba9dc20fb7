package lookups

import (
	"fmt"
	"sync"

	"github.com/lovoo/goka"
)

// # Decoded: decode a View's value once per write, not once per read
//
// A callback that reads a large table value through View.Get pays for it
// on every record: goka's codec copies the stored bytes, and the reader
// decodes them again. The gate read the whole regime state (40-90 KB of
// JSON at 500+ symbols) for every intent, about 190 intents/s, although
// the state changes about once a second (issue 12, point 4).
//
// Decoded remembers, per key, what decode made of the View's value and
// the Guard's Version of the key when it was read (see Guard.Version for
// why that is exact). A read whose version still matches returns the
// remembered result without touching the storage; otherwise it reads the
// View, decodes once (one reader at a time: the others wait and then find
// the fresh entry) and remembers the result. So:
//
//   - it never serves a value the View no longer holds: every write to the
//     View's storage passes the Guard, which changes the version after it;
//   - it fails closed exactly as the uncached read: decode sees the same
//     value (the unreadable marker, nil when there is none) and its error
//     is remembered with the value, not turned into a default;
//   - a View that cannot answer (not running) is an error every time, as
//     View.Get's, and nothing is remembered from it;
//   - goka runs the partitions of a processor in parallel: reads are safe
//     concurrently, and a remembered value is shared between callbacks, so
//     decode must return a value nobody modifies afterwards.
//
// When the Guard parses its records (GuardConfig.Parse) and the value it
// parsed is of type T, that value is taken as the decoding of its write:
// the record is decoded once, by the Guard, not again here.
//
// Only keys the Guard accepts (GuardConfig.KnownKey) are remembered, and
// at most MaxDecodedKeys of them: a key taken from a record (an intent's
// exchange) cannot grow the cache. Other keys are read and decoded each
// time, as before.
type Decoded[T any] struct {
	view   *goka.View
	guard  *Guard
	decode func(key string, v any) (T, error)

	mu      sync.RWMutex
	entries map[string]decodedEntry[T]
	fill    sync.Mutex // one decode at a time
}

// MaxDecodedKeys bounds the keys a Decoded remembers.
const MaxDecodedKeys = 1024

type decodedEntry[T any] struct {
	version uint64
	val     T
	err     error
}

// NewDecoded caches decode's results of the values of v, a View guarded
// by g (both from NewGuardedView). decode receives what View.Get returns
// (nil when the key has no value, the Guard's unreadable marker when it
// has only garbage) and must not keep or modify it.
func NewDecoded[T any](v *goka.View, g *Guard, decode func(key string, v any) (T, error)) *Decoded[T] {
	return &Decoded[T]{view: v, guard: g, decode: decode, entries: map[string]decodedEntry[T]{}}
}

// Read returns decode's result for key's current value (val, derr), and
// a View failure as viewErr (the View is not running; nothing is decoded
// then).
func (d *Decoded[T]) Read(key string) (val T, derr, viewErr error) {
	if !d.cacheable(key) {
		return d.read(key)
	}
	if e, ok := d.lookup(key); ok {
		return d.hit(e)
	}
	d.fill.Lock()
	defer d.fill.Unlock()
	if e, ok := d.lookup(key); ok { // filled while this reader waited
		return d.hit(e)
	}
	version := d.guard.Version(key) // before the value: see Guard.Version
	val, derr, viewErr = d.readAt(key, version)
	if viewErr != nil {
		return val, derr, viewErr
	}
	d.mu.Lock()
	if _, ok := d.entries[key]; ok || len(d.entries) < MaxDecodedKeys {
		d.entries[key] = decodedEntry[T]{version: version, val: val, err: derr}
	}
	d.mu.Unlock()
	return val, derr, nil
}

// Get is Read inside a callback: a View that cannot answer fails the
// callback (as Get does), which stops the processor rather than deciding
// on a missing table.
func (d *Decoded[T]) Get(ctx goka.Context, key string) (T, error) {
	val, derr, err := d.Read(key)
	if err != nil {
		ctx.Fail(fmt.Errorf("looking up %s in %s: %w", key, d.view.Topic(), err))
	}
	return val, derr
}

// ReadUncached reads and decodes key's value without the cache, as every
// read did before Decoded (benchmarks compare the two).
func (d *Decoded[T]) ReadUncached(key string) (val T, derr, viewErr error) { return d.read(key) }

// lookup returns key's entry if it is of the key's current version.
func (d *Decoded[T]) lookup(key string) (decodedEntry[T], bool) {
	version := d.guard.Version(key)
	d.mu.RLock()
	e, ok := d.entries[key]
	d.mu.RUnlock()
	return e, ok && e.version == version
}

// readAt is read of key's value at version: the Guard's parse of that
// very write when it kept one of type T (no second decode).
func (d *Decoded[T]) readAt(key string, version uint64) (val T, derr, viewErr error) {
	if p, pv, ok := d.guard.Parsed(key); ok && pv == version {
		if t, ok := p.(T); ok {
			if err := d.running(); err != nil {
				return val, nil, err
			}
			return t, nil, nil
		}
	}
	return d.read(key)
}

func (d *Decoded[T]) read(key string) (val T, derr, viewErr error) {
	v, err := d.view.Get(key)
	if err != nil {
		return val, nil, err
	}
	val, derr = d.decode(key, v)
	return val, derr, nil
}

// hit returns a remembered entry, unless the View stopped.
func (d *Decoded[T]) hit(e decodedEntry[T]) (val T, derr, viewErr error) {
	if err := d.running(); err != nil {
		return val, nil, err
	}
	return e.val, e.err, nil
}

// running fails as View.Get does when the View is not running, so a
// remembered value is not served by a View that stopped.
func (d *Decoded[T]) running() error {
	switch d.view.CurrentState() {
	case goka.ViewStateIdle, goka.ViewStateInitializing:
		return fmt.Errorf("view of %s is not running", d.view.Topic())
	}
	return nil
}

func (d *Decoded[T]) cacheable(key string) bool {
	return d.guard.cfg.KnownKey == nil || d.guard.cfg.KnownKey(key)
}
