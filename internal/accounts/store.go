package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/kraite/stream/internal/db"
)

// Publisher writes one kraite.accounts record and returns once the broker
// acknowledged it (value nil = tombstone).
type Publisher interface {
	Publish(ctx context.Context, key, value []byte) error
}

// Config is what a Store needs. Publisher may be nil for a read-only store
// (credentials and listing); every change needs one.
type Config struct {
	DB        *db.DB
	Key       Key
	Publisher Publisher
	Log       *slog.Logger
}

// Store is the accounts table: the source of truth of the accounts domain.
// Every change is written to the table (with an audit row) in one
// transaction, then published to kraite.accounts without any secret.
//
// Publication is made reliable by the table itself: each row carries its
// version and the newest version acknowledged on the topic
// (published_version). After every change the store publishes every row
// whose version is ahead, each under its row lock (so two publishers cannot
// reorder an account's versions on the topic), and records the ack. A crash
// between the database commit and the ack leaves the row ahead, and the
// next change, PublishPending (kraite accounts publish) or the dev seeding
// publishes it. A removed account keeps its row, secret wiped, until its
// tombstone is acknowledged; then the row is deleted.
type Store struct {
	db  *db.DB
	key Key
	pub Publisher
	log *slog.Logger
	now func() time.Time
}

// ErrExists is returned by Add for an account id already in the table.
var ErrExists = errors.New("account already exists")

// ErrNotPublished marks a change that is in the table but whose publication
// to kraite.accounts failed: it is published by the next change or by
// PublishPending (kraite accounts publish).
var ErrNotPublished = errors.New("saved in the accounts table but not yet published to kraite.accounts (kraite accounts publish, or the next accounts change, publishes it)")

// Open returns the store after checking that the configured key is the one
// the table's secrets are encrypted with (by fingerprint, before any
// decryption): a missing or wrong key is an error, never a fallback.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.DB == nil {
		return nil, errors.New("accounts store: no database")
	}
	if !cfg.Key.Valid() {
		return nil, ErrNoKey
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Store{db: cfg.DB, key: cfg.Key, pub: cfg.Publisher, log: log, now: func() time.Time { return time.Now().UTC() }}
	if err := s.CheckKey(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// KeyID is the fingerprint of the store's current key.
func (s *Store) KeyID() string { return s.key.ID() }

// CheckKey returns ErrWrongKey (naming both fingerprints) when a secret in
// the table is encrypted under another key than the store's.
func (s *Store) CheckKey(ctx context.Context) error {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT DISTINCT key_id FROM accounts WHERE key_id <> ''"))
	if err != nil {
		return fmt.Errorf("reading the accounts table's key ids (is the schema migrated? kraite migrate): %w", err)
	}
	defer rows.Close()
	var other []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return fmt.Errorf("reading the accounts table's key ids: %w", err)
		}
		if id != s.key.ID() {
			other = append(other, id)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading the accounts table's key ids: %w", err)
	}
	if len(other) > 0 {
		return fmt.Errorf("%w: the accounts table's API secrets are encrypted under key %v, the configured key (KRAITE_ACCOUNTS_KEY or KRAITE_ACCOUNTS_KEY_FILE) is %s; nothing was decrypted", ErrWrongKey, other, s.key.ID())
	}
	return nil
}

// Info is an account as listed: everything but the secret.
type Info struct {
	ID               string
	Exchange         string
	Label            string
	Enabled          bool
	APIKey           string // not a secret, but print it masked (MaskKey)
	KeyID            string
	Version          int64
	PublishedVersion int64
	// Removed: removed from the table, its tombstone not yet published.
	Removed   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Pending reports whether the account has a change not yet acknowledged on
// kraite.accounts.
func (i Info) Pending() bool { return i.Version > i.PublishedVersion }

func (s *Store) forUpdate() string {
	if s.db.Dialect == db.SQLite {
		return "" // an immediate transaction already holds the write lock
	}
	return " FOR UPDATE"
}

const infoColumns = "account, exchange, name, active, api_key, key_id, version, published_version, removed, created_at, updated_at"

// scanInfo scans infoColumns, then the columns of extra.
func scanInfo(sc interface{ Scan(...any) error }, extra ...any) (Info, error) {
	var i Info
	var created, updated db.NullTime
	err := sc.Scan(append([]any{&i.ID, &i.Exchange, &i.Label, &i.Enabled, &i.APIKey, &i.KeyID, &i.Version, &i.PublishedVersion, &i.Removed, &created, &updated}, extra...)...)
	i.CreatedAt, i.UpdatedAt = created.Time, updated.Time
	return i, err
}

// List returns every account, by id.
func (s *Store) List(ctx context.Context) ([]Info, error) { return list(ctx, s.db) }

// ListEnabled returns the enabled accounts of the table (removed ones
// excepted), by id: what a box serves in KRAITE_ACCOUNTS_SOURCE=database
// mode (the scheduler's per-account jobs, the accounts an intent may open
// on). It reads no secret, so it needs no key.
func ListEnabled(ctx context.Context, d *db.DB) ([]Info, error) {
	all, err := list(ctx, d)
	if err != nil {
		return nil, err
	}
	out := make([]Info, 0, len(all))
	for _, i := range all {
		if i.Enabled && !i.Removed {
			out = append(out, i)
		}
	}
	return out, nil
}

func list(ctx context.Context, d *db.DB) ([]Info, error) {
	rows, err := d.QueryContext(ctx, "SELECT "+infoColumns+" FROM accounts ORDER BY account")
	if err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	defer rows.Close()
	var out []Info
	for rows.Next() {
		i, err := scanInfo(rows)
		if err != nil {
			return nil, fmt.Errorf("listing accounts: %w", err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("listing accounts: %w", err)
	}
	return out, nil
}

// get reads one account inside tx, locking its row. ok is false when there
// is no row. The v1 table is unique by (exchange, account) only: an id on
// two exchanges is refused until one is removed by hand.
func (s *Store) get(ctx context.Context, tx *sql.Tx, id string) (i Info, sealed string, ok bool, err error) {
	rows, err := tx.QueryContext(ctx, s.db.Rebind("SELECT "+infoColumns+", api_secret_enc FROM accounts WHERE account = ?"+s.forUpdate()), id)
	if err != nil {
		return Info{}, "", false, fmt.Errorf("reading account %s: %w", id, err)
	}
	defer rows.Close()
	var exchanges []string
	for rows.Next() {
		if i, err = scanInfo(rows, &sealed); err != nil {
			return Info{}, "", false, fmt.Errorf("reading account %s: %w", id, err)
		}
		exchanges = append(exchanges, i.Exchange)
	}
	if err := rows.Err(); err != nil {
		return Info{}, "", false, fmt.Errorf("reading account %s: %w", id, err)
	}
	if len(exchanges) > 1 {
		return Info{}, "", false, fmt.Errorf("account id %q is in the accounts table for several exchanges (%v): an id must be unique (it is the kraite.accounts key); delete all but one row by hand", id, exchanges)
	}
	return i, sealed, len(exchanges) == 1, nil
}

// getLive is get for a change of an existing account: ErrNotFound for no
// row or a removed one.
func (s *Store) getLive(ctx context.Context, tx *sql.Tx, id string) (Info, error) {
	cur, _, ok, err := s.get(ctx, tx, id)
	if err == nil && (!ok || cur.Removed) {
		err = fmt.Errorf("account %q: %w", id, ErrNotFound)
	}
	return cur, err
}

// ErrNoSecret is returned for an account row without an API secret (a row
// of the v1 table, before rotate-secret gave it one).
var ErrNoSecret = errors.New("the account has no API secret yet (kraite accounts rotate-secret ID --api-key KEY sets one)")

// Credentials implements CredentialSource: the decrypted credentials of
// one account (disabled ones too, with Enabled false). ErrNotFound for an
// unknown or removed account; ErrUndecryptable for a secret that does not
// decrypt for this account.
func (s *Store) Credentials(ctx context.Context, id string) (Credentials, error) {
	rows, err := s.db.QueryContext(ctx, s.db.Rebind("SELECT exchange, active, api_key, api_secret_enc, key_id, version, removed FROM accounts WHERE account = ?"), id)
	if err != nil {
		return Credentials{}, fmt.Errorf("reading account %s: %w", id, err)
	}
	defer rows.Close()
	var (
		c             = Credentials{ID: id}
		sealed, keyID string
		removed       bool
		n             int
	)
	for rows.Next() {
		if err := rows.Scan(&c.Exchange, &c.Enabled, &c.APIKey, &sealed, &keyID, &c.Version, &removed); err != nil {
			return Credentials{}, fmt.Errorf("reading account %s: %w", id, err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return Credentials{}, fmt.Errorf("reading account %s: %w", id, err)
	}
	switch {
	case n > 1:
		return Credentials{}, fmt.Errorf("account id %q is in the accounts table for several exchanges: refusing to choose", id)
	case n == 0 || removed:
		return Credentials{}, fmt.Errorf("account %q: %w", id, ErrNotFound)
	}
	if keyID == "" {
		return Credentials{}, fmt.Errorf("account %s: %w", id, ErrNoSecret)
	}
	if keyID != s.key.ID() {
		return Credentials{}, fmt.Errorf("account %s: %w: its secret is encrypted under key %s, the configured key is %s", id, ErrWrongKey, keyID, s.key.ID())
	}
	secret, err := s.key.Open(c.Exchange, id, sealed)
	if err != nil {
		return Credentials{}, err
	}
	c.APISecret = secret
	return c, nil
}

func (s *Store) audit(ctx context.Context, tx *sql.Tx, at time.Time, actor, action, id, exchange string, version int64, detail string) error {
	_, err := tx.ExecContext(ctx, s.db.Rebind("INSERT INTO account_audit (at, actor, action, account, exchange, version, detail) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		at, clip(actor, 128), action, id, exchange, version, clip(detail, 512))
	if err != nil {
		return fmt.Errorf("writing the audit row of account %s: %w", id, err)
	}
	return nil
}

// clip bounds s to n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// change runs fn in a transaction, then publishes every pending change.
func (s *Store) change(ctx context.Context, fn func(tx *sql.Tx, now time.Time) error) error {
	if s.pub == nil {
		return errors.New("accounts store: changes need a publisher (kraite.accounts)")
	}
	now := s.now()
	if err := s.db.InTx(ctx, func(tx *sql.Tx) error { return fn(tx, now) }); err != nil {
		return err
	}
	if _, err := s.PublishPending(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrNotPublished, err)
	}
	return nil
}

// Add stores a new account (ErrExists if the id is taken).
func (s *Store) Add(ctx context.Context, actor string, a Account) error {
	if err := a.Validate(); err != nil {
		return err
	}
	return s.change(ctx, func(tx *sql.Tx, now time.Time) error {
		cur, _, ok, err := s.get(ctx, tx, a.ID)
		if err != nil {
			return err
		}
		if ok && !cur.Removed {
			return fmt.Errorf("account %q: %w (rotate-secret changes its secret, remove removes it)", a.ID, ErrExists)
		}
		v, err := s.write(ctx, tx, now, a, cur, ok)
		if err != nil {
			return err
		}
		s.log.Info("account added", "account", a.ID, "exchange", a.Exchange, "enabled", a.Enabled, "version", v, "by", actor)
		return s.audit(ctx, tx, now, actor, "add", a.ID, a.Exchange, v,
			fmt.Sprintf("label=%q enabled=%t api_key=%s", a.Label, a.Enabled, MaskKey(a.APIKey)))
	})
}

// write inserts a (no row yet) or overwrites the row cur with a, secret
// sealed under the current key, and returns the new version.
func (s *Store) write(ctx context.Context, tx *sql.Tx, now time.Time, a Account, cur Info, exists bool) (int64, error) {
	sealed, err := s.key.Seal(a.Exchange, a.ID, a.APISecret)
	if err != nil {
		return 0, err
	}
	if !exists {
		_, err = tx.ExecContext(ctx, s.db.Rebind(`INSERT INTO accounts (account, exchange, name, active, api_key, api_secret_enc, key_id,
			version, published_version, removed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, 0, ?, ?, ?)`),
			a.ID, a.Exchange, a.Label, a.Enabled, a.APIKey, sealed, s.key.ID(), false, now, now)
		if err != nil {
			return 0, fmt.Errorf("adding account %s: %w", a.ID, err)
		}
		return 1, nil
	}
	v := cur.Version + 1
	_, err = tx.ExecContext(ctx, s.db.Rebind(`UPDATE accounts SET exchange = ?, name = ?, active = ?, api_key = ?, api_secret_enc = ?, key_id = ?,
		version = ?, removed = ?, updated_at = ? WHERE account = ?`),
		a.Exchange, a.Label, a.Enabled, a.APIKey, sealed, s.key.ID(), v, false, now, a.ID)
	if err != nil {
		return 0, fmt.Errorf("updating account %s: %w", a.ID, err)
	}
	return v, nil
}

// SetEnabled enables or disables an account; changed is false when it
// already was in that state (nothing is written then).
func (s *Store) SetEnabled(ctx context.Context, actor, id string, enabled bool) (changed bool, err error) {
	err = s.change(ctx, func(tx *sql.Tx, now time.Time) error {
		cur, err := s.getLive(ctx, tx, id)
		if err != nil {
			return err
		}
		if cur.Enabled == enabled {
			return nil
		}
		changed = true
		v := cur.Version + 1
		if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE accounts SET active = ?, version = ?, updated_at = ? WHERE account = ?"), enabled, v, now, id); err != nil {
			return fmt.Errorf("updating account %s: %w", id, err)
		}
		action := "disable"
		if enabled {
			action = "enable"
		}
		s.log.Info("account "+action+"d", "account", id, "version", v, "by", actor)
		return s.audit(ctx, tx, now, actor, action, id, cur.Exchange, v, "")
	})
	return changed, err
}

// Remove removes an account: its secret is wiped at once, its row stays
// until the tombstone is acknowledged on kraite.accounts.
func (s *Store) Remove(ctx context.Context, actor, id string) error {
	return s.change(ctx, func(tx *sql.Tx, now time.Time) error {
		cur, err := s.getLive(ctx, tx, id)
		if err != nil {
			return err
		}
		v := cur.Version + 1
		if _, err := tx.ExecContext(ctx, s.db.Rebind(`UPDATE accounts SET removed = ?, active = ?, api_key = '', api_secret_enc = '', key_id = '',
			version = ?, updated_at = ? WHERE account = ?`), true, false, v, now, id); err != nil {
			return fmt.Errorf("removing account %s: %w", id, err)
		}
		s.log.Info("account removed", "account", id, "version", v, "by", actor)
		return s.audit(ctx, tx, now, actor, "remove", id, cur.Exchange, v, "")
	})
}

// RotateSecret replaces an account's API secret (and its API key, unless
// apiKey is empty). The version grows, so its producer reconnects with it.
func (s *Store) RotateSecret(ctx context.Context, actor, id, apiKey, secret string) error {
	if err := ValidateID(id); err != nil {
		return err
	}
	return s.change(ctx, func(tx *sql.Tx, now time.Time) error {
		cur, err := s.getLive(ctx, tx, id)
		if err != nil {
			return err
		}
		key := cur.APIKey
		if apiKey != "" {
			key = apiKey
		}
		if err := ValidateCredentials(key, secret); err != nil {
			return fmt.Errorf("account %q: %w", id, err)
		}
		a := Account{ID: id, Exchange: cur.Exchange, Label: cur.Label, Enabled: cur.Enabled, APIKey: key, APISecret: secret}
		v, err := s.write(ctx, tx, now, a, cur, true)
		if err != nil {
			return err
		}
		s.log.Info("account secret rotated", "account", id, "version", v, "by", actor)
		detail := "api_key unchanged"
		if key != cur.APIKey {
			detail = "api_key=" + MaskKey(key)
		}
		return s.audit(ctx, tx, now, actor, "rotate-secret", id, cur.Exchange, v, detail)
	})
}

// ImportResult names the accounts an import added, updated and left as
// they were.
type ImportResult struct {
	Added, Updated, Unchanged []string
}

// Import adds or updates accounts in one transaction (all or nothing). A
// new account is added as given; an existing one takes the entry's
// exchange, API key and secret, and its label when the entry has one; its
// enabled flag is never changed by an import (enable and disable are). An
// entry identical to the table changes nothing, so importing the same file
// twice is a no-op. Accounts not in the list are left alone.
func (s *Store) Import(ctx context.Context, actor string, accts []Account) (ImportResult, error) {
	var res ImportResult
	seen := map[string]bool{}
	for _, a := range accts {
		if err := a.Validate(); err != nil {
			return res, err
		}
		if seen[a.ID] {
			return res, fmt.Errorf("account %q: listed twice", a.ID)
		}
		seen[a.ID] = true
	}
	err := s.change(ctx, func(tx *sql.Tx, now time.Time) error {
		res = ImportResult{}
		for _, a := range accts {
			cur, sealed, ok, err := s.get(ctx, tx, a.ID)
			if err != nil {
				return err
			}
			action := "import-add"
			if ok && !cur.Removed && cur.KeyID == "" {
				// A v1 row without credentials: it takes the file's.
				a.Enabled = cur.Enabled
				if a.Label == "" {
					a.Label = cur.Label
				}
				action = "import-update"
			} else if ok && !cur.Removed {
				if cur.KeyID != s.key.ID() {
					return fmt.Errorf("account %s: %w", a.ID, ErrWrongKey)
				}
				old, err := s.key.Open(cur.Exchange, cur.ID, sealed)
				if err != nil {
					return err
				}
				if a.Label == "" {
					a.Label = cur.Label
				}
				a.Enabled = cur.Enabled
				if cur.Exchange == a.Exchange && cur.Label == a.Label && cur.APIKey == a.APIKey && old == a.APISecret {
					res.Unchanged = append(res.Unchanged, a.ID)
					continue
				}
				action = "import-update"
			}
			v, err := s.write(ctx, tx, now, a, cur, ok)
			if err != nil {
				return err
			}
			if action == "import-add" {
				res.Added = append(res.Added, a.ID)
			} else {
				res.Updated = append(res.Updated, a.ID)
			}
			if err := s.audit(ctx, tx, now, actor, action, a.ID, a.Exchange, v,
				fmt.Sprintf("label=%q enabled=%t api_key=%s", a.Label, a.Enabled, MaskKey(a.APIKey))); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || errors.Is(err, ErrNotPublished) {
		s.log.Info("accounts imported", "added", len(res.Added), "updated", len(res.Updated), "unchanged", len(res.Unchanged), "by", actor)
	}
	return res, err
}

// RotateKey re-encrypts every secret under newKey in one transaction (all
// or nothing) and makes it the store's key. Versions do not change (the
// secrets do not), so nothing is published. Configure newKey before the
// next start: the old key no longer opens the table.
func (s *Store) RotateKey(ctx context.Context, actor string, newKey Key) (int, error) {
	if !newKey.Valid() {
		return 0, ErrNoKey
	}
	if newKey.ID() == s.key.ID() {
		return 0, fmt.Errorf("the new key is the current key (%s)", s.key.ID())
	}
	n := 0
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		n = 0
		rows, err := tx.QueryContext(ctx, s.db.Rebind("SELECT account, exchange, api_secret_enc, key_id FROM accounts WHERE key_id <> '' ORDER BY account"+s.forUpdate()))
		if err != nil {
			return fmt.Errorf("reading the accounts to re-encrypt: %w", err)
		}
		type sealedRow struct{ id, exchange, sealed, keyID string }
		var all []sealedRow
		for rows.Next() {
			var r sealedRow
			if err := rows.Scan(&r.id, &r.exchange, &r.sealed, &r.keyID); err != nil {
				rows.Close()
				return fmt.Errorf("reading the accounts to re-encrypt: %w", err)
			}
			all = append(all, r)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("reading the accounts to re-encrypt: %w", err)
		}
		for _, r := range all {
			if r.keyID != s.key.ID() {
				return fmt.Errorf("account %s: %w: encrypted under %s, the current key is %s", r.id, ErrWrongKey, r.keyID, s.key.ID())
			}
			secret, err := s.key.Open(r.exchange, r.id, r.sealed)
			if err != nil {
				return err
			}
			resealed, err := newKey.Seal(r.exchange, r.id, secret)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, s.db.Rebind("UPDATE accounts SET api_secret_enc = ?, key_id = ? WHERE account = ?"), resealed, newKey.ID(), r.id); err != nil {
				return fmt.Errorf("re-encrypting account %s: %w", r.id, err)
			}
			n++
		}
		return s.audit(ctx, tx, s.now(), actor, "rotate-key", "", "", 0,
			fmt.Sprintf("%d secrets re-encrypted from key %s to key %s", n, s.key.ID(), newKey.ID()))
	})
	if err != nil {
		return 0, err
	}
	s.log.Info("accounts key rotated", "accounts", n, "from", s.key.ID(), "to", newKey.ID(), "by", actor)
	s.key = newKey
	return n, nil
}

// AuditEntry is one row of account_audit.
type AuditEntry struct {
	At                                  time.Time
	Actor, Action, ID, Exchange, Detail string
	Version                             int64
}

// Audit returns the newest limit audit rows (of one account when id is
// not empty), newest first.
func (s *Store) Audit(ctx context.Context, id string, limit int) ([]AuditEntry, error) {
	q := "SELECT at, actor, action, account, exchange, version, detail FROM account_audit"
	var args []any
	if id != "" {
		q += " WHERE account = ?"
		args = append(args, id)
	}
	q += " ORDER BY id DESC LIMIT ?"
	args = append(args, limit)
	rows, err := s.db.QueryContext(ctx, s.db.Rebind(q), args...)
	if err != nil {
		return nil, fmt.Errorf("reading the accounts audit: %w", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at db.NullTime
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.ID, &e.Exchange, &e.Version, &e.Detail); err != nil {
			return nil, fmt.Errorf("reading the accounts audit: %w", err)
		}
		e.At = at.Time
		out = append(out, e)
	}
	return out, rows.Err()
}

// PublishPending publishes every account whose version is ahead of what
// kraite.accounts acknowledged (the repair after a crash between a commit
// and its publication) and returns how many it published.
func (s *Store) PublishPending(ctx context.Context) (int, error) {
	return s.publish(ctx, false)
}

// Republish publishes every account again, pending or not (a re-sync of
// the topic from the table, e.g. after the topic was recreated).
func (s *Store) Republish(ctx context.Context) (int, error) {
	return s.publish(ctx, true)
}

func (s *Store) publish(ctx context.Context, all bool) (int, error) {
	if s.pub == nil {
		return 0, errors.New("accounts store: no publisher for kraite.accounts")
	}
	q := "SELECT account FROM accounts WHERE version > published_version ORDER BY account"
	if all {
		q = "SELECT account FROM accounts ORDER BY account"
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return 0, fmt.Errorf("finding the accounts to publish: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("finding the accounts to publish: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("finding the accounts to publish: %w", err)
	}
	n := 0
	var stuck []error
	for _, id := range ids {
		did, err := s.publishOne(ctx, id, all)
		if be := (brokerError{}); errors.As(err, &be) || ctx.Err() != nil {
			return n, errors.Join(append(stuck, err)...)
		}
		if err != nil {
			// A row that cannot be published (a v1 row with an id on two
			// exchanges or no exchange) stays pending and is named; the
			// accounts after it are still published.
			stuck = append(stuck, err)
		}
		if did {
			n++
		}
	}
	if n > 0 {
		s.log.Info("accounts published to kraite.accounts", "records", n)
	}
	return n, errors.Join(stuck...)
}

// brokerError marks a failed publication (the broker, not the row): the
// round stops there rather than waiting on the broker for every account.
type brokerError struct{ error }

func (e brokerError) Unwrap() error { return e.error }

// publishOne publishes the current state of one account under its row
// lock and records the acknowledged version (or deletes the row of a
// removed account once its tombstone is acknowledged).
func (s *Store) publishOne(ctx context.Context, id string, force bool) (bool, error) {
	did := false
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		cur, _, ok, err := s.get(ctx, tx, id)
		if err != nil || !ok {
			return err
		}
		if !force && cur.PublishedVersion >= cur.Version {
			return nil
		}
		var value []byte
		if !cur.Removed {
			var at int64 // a v1 row has no updated_at
			if !cur.UpdatedAt.IsZero() {
				at = max(cur.UpdatedAt.UnixMilli(), 0)
			}
			value, err = Change{ID: cur.ID, Exchange: cur.Exchange, Enabled: cur.Enabled, Version: cur.Version,
				ChangedAt: at}.Encode()
			if err != nil {
				return err
			}
		}
		if err := s.pub.Publish(ctx, []byte(id), value); err != nil {
			return brokerError{fmt.Errorf("publishing account %s version %d: %w", id, cur.Version, err)}
		}
		did = true
		if cur.Removed {
			_, err = tx.ExecContext(ctx, s.db.Rebind("DELETE FROM accounts WHERE account = ? AND version = ? AND removed = ?"), id, cur.Version, true)
		} else {
			_, err = tx.ExecContext(ctx, s.db.Rebind("UPDATE accounts SET published_version = ? WHERE account = ? AND version = ?"), cur.Version, id, cur.Version)
		}
		if err != nil {
			return fmt.Errorf("recording the publication of account %s: %w", id, err)
		}
		return nil
	})
	return did, err
}

// RunPublisher publishes pending changes every interval until ctx ends (a
// long-running process's repair of a change whose publication a crash or a
// broker outage interrupted, without waiting for an operator's next
// command). A failed round is logged and retried at the next tick.
func (s *Store) RunPublisher(ctx context.Context, every time.Duration) error {
	if every <= 0 {
		every = 30 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		n, err := s.PublishPending(ctx)
		switch {
		case err != nil && ctx.Err() == nil:
			if !failing {
				s.log.Warn("accounts: publishing pending changes to kraite.accounts failed; retrying", "err", err, "every", every)
			}
			failing = true
		case err == nil:
			if failing || n > 0 {
				s.log.Info("accounts: pending changes published", "records", n)
			}
			failing = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
