package db

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// stmtCache holds prepared statements by query text. database/sql prepares
// each one lazily on every connection that runs it and keeps it there, so a
// batch pays the parse of a 500-row statement once per connection instead of
// once per execution.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

// MaxCachedStmts bounds the cache; callers keep their statement shapes few
// (see Chunks, SmallBatches), so the bound is only a safety net against a
// caller that does not: past it, every new shape evicts (closes) a cached
// one, which the next batch prepares again.
const MaxCachedStmts = 256

// Prepared returns query prepared on d, from the cache when it was prepared
// before. The statement belongs to the cache: do not Close it.
func (d *DB) Prepared(ctx context.Context, query string) (*sql.Stmt, error) {
	c := d.stmtCache()
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if ok {
		return st, nil
	}
	st, err := d.PrepareContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("preparing statement: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[query]; ok { // prepared concurrently; keep one
		st.Close()
		return prev, nil
	}
	if len(c.m) >= MaxCachedStmts {
		for q, old := range c.m { // evict an arbitrary one
			old.Close()
			delete(c.m, q)
			break
		}
	}
	c.m[query] = st
	return st, nil
}

func (d *DB) stmtCache() *stmtCache {
	d.stmtsOnce.Do(func() { d.stmts = &stmtCache{m: map[string]*sql.Stmt{}} })
	return d.stmts
}

// ExecIn runs query with args inside tx through the statement cache.
func (d *DB) ExecIn(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	st, err := d.stmtIn(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return tx.ExecContext(ctx, query, args...)
	}
	defer st.Close()
	return st.ExecContext(ctx, args...)
}

// QueryIn runs query with args inside tx through the statement cache. Close
// the rows before the next statement of tx.
func (d *DB) QueryIn(ctx context.Context, tx *sql.Tx, query string, args ...any) (*sql.Rows, error) {
	st, err := d.stmtIn(ctx, tx, query)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return tx.QueryContext(ctx, query, args...)
	}
	// The tx statement closes with the transaction; closing it here would
	// close the rows too.
	return st.QueryContext(ctx, args...)
}

// stmtIn returns the cached statement of query bound to tx, or nil when the
// query should run unprepared. A statement not yet cached is prepared on
// the pool, which needs a second connection besides tx's: with none free it
// is not waited for (tx may hold the last one, and SQLite has only one), the
// query runs unprepared and a later batch caches it.
func (d *DB) stmtIn(ctx context.Context, tx *sql.Tx, query string) (*sql.Stmt, error) {
	if d.Dialect == SQLite {
		return nil, nil // in-process: preparing costs no round trip
	}
	c := d.stmtCache()
	c.mu.Lock()
	st, ok := c.m[query]
	c.mu.Unlock()
	if !ok {
		if s := d.Stats(); s.MaxOpenConnections > 0 && s.Idle == 0 && s.OpenConnections >= s.MaxOpenConnections {
			return nil, nil
		}
		var err error
		if st, err = d.Prepared(ctx, query); err != nil {
			return nil, err
		}
	}
	return tx.StmtContext(ctx, st), nil
}

// Chunks splits n rows into statement sizes: as many full chunks of max as
// fit, then the rest as descending powers of two (347 with max 500 is 256,
// 64, 16, 8, 2, 1). A multi-row statement therefore has one of about
// log2(max)+1 shapes, each prepared once per connection and reused, instead
// of a new shape (and a new server-side parse) for every batch remainder.
func Chunks(n, max int) []int {
	var out []int
	for ; n >= max; n -= max {
		out = append(out, max)
	}
	for p := 1 << 30; n > 0; p >>= 1 {
		if n >= p {
			out = append(out, p)
			n -= p
		}
	}
	return out
}

// Batches cuts items into statement-sized parts of at most max. With pad
// (for statements where a repeated row changes nothing: a SELECT's IN list,
// MySQL's guarded ON DUPLICATE KEY UPDATE, a CASE id WHEN update) the last
// part is padded up to a multiple of step by repeating its last item, so a
// statement has at most max/step shapes and a batch needs one statement per
// max rows. Without pad the rest is cut into powers of two (see Chunks):
// more statements, no repeated rows (PostgreSQL's ON CONFLICT DO UPDATE
// refuses to touch a row twice).
func Batches[T any](items []T, max, step int, pad bool) [][]T {
	var out [][]T
	if !pad {
		for _, n := range Chunks(len(items), max) {
			out = append(out, items[:n:n])
			items = items[n:]
		}
		return out
	}
	return padBatches(items, max, func(n int) int { return min(max, (n+step-1)/step*step) })
}

// SmallBatches is Batches with pad for a statement run mostly with a few
// rows: a last part shorter than step is padded only up to the next power
// of two (PadSize), at the price of log2(step) more shapes. A padding row
// is not free: the orders sink's one-event transactions, the common case
// below a few hundred events a second, took about twice as long with the
// upsert, the fills and the state read padded to 32 rows as padded to one.
func SmallBatches[T any](items []T, max, step int) [][]T {
	return padBatches(items, max, func(n int) int { return PadSize(n, max, step) })
}

// padBatches cuts items into parts of max, the last (shorter) part padded
// to size(its length) by repeating its last item.
func padBatches[T any](items []T, max int, size func(n int) int) [][]T {
	var out [][]T
	for ; len(items) >= max; items = items[max:] {
		out = append(out, items[:max:max])
	}
	if len(items) == 0 {
		return out
	}
	return append(out, padded(items, size(len(items))))
}

// PadSize is the size SmallBatches pads a last part of n rows to: a
// multiple of step, at most max; below step, the next power of two.
func PadSize(n, max, step int) int {
	if n < step {
		p := 1
		for p < n {
			p <<= 1
		}
		return min(max, p)
	}
	return min(max, (n+step-1)/step*step)
}

// padded is items followed by repeats of its last item, size in all.
func padded[T any](items []T, size int) []T {
	last := make([]T, size)
	copy(last, items)
	for i := len(items); i < size; i++ {
		last[i] = items[len(items)-1]
	}
	return last
}
