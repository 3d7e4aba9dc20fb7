package chaos

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/kraite/stream/internal/db"
)

// DB is the database of a run: the pipeline reaches it through a proxy
// (when it has a server), the comparison directly.
type DB struct {
	// Direct is a connection of its own, for the comparison and probes.
	Direct *db.DB
	// PipelineURL is what the pipeline connects to: through the proxy
	// when there is one.
	PipelineURL string
	// Masked is the database's URL without its password, for reports.
	Masked string
	// Created is the database this run created, dropped by Close ("" when
	// the run was given one).
	Created  string
	proxy    *Proxy // nil for SQLite or without a proxy
	adminURL string
}

// OpenDB opens the database of a run: url, or when it is empty a fresh
// MariaDB database kraite_chaos_<unix>_<hex> created on the server of
// adminURL. With proxy (and a server to cut), the pipeline reaches it
// through a Proxy.
func OpenDB(ctx context.Context, rawURL, adminURL string, proxy bool) (*DB, error) {
	cd := &DB{adminURL: adminURL}
	raw := rawURL
	if raw == "" {
		admin, err := db.Open(ctx, adminURL)
		if err != nil {
			return nil, fmt.Errorf("connecting to the MariaDB server (--mysql-admin-url): %w", err)
		}
		b := make([]byte, 2)
		_, _ = rand.Read(b)
		// The name is generated here, never taken from outside.
		name := fmt.Sprintf("kraite_chaos_%d_%s", time.Now().Unix(), hex.EncodeToString(b))
		_, err = admin.ExecContext(ctx, "CREATE DATABASE "+name)
		admin.Close()
		if err != nil {
			return nil, fmt.Errorf("creating database %s: %w", name, err)
		}
		cd.Created = name
		u, err := url.Parse(adminURL)
		if err != nil {
			return nil, fmt.Errorf("parsing --mysql-admin-url: %w", err)
		}
		u.Path = "/" + name
		raw = u.String()
	}
	t, err := db.ParseURL(raw)
	if err != nil {
		cd.Close(ctx, false)
		return nil, err
	}
	cd.PipelineURL = raw
	if proxy && t.Dialect != db.SQLite {
		u, err := url.Parse(raw)
		if err != nil {
			cd.Close(ctx, false)
			return nil, fmt.Errorf("parsing the database url: %w", err)
		}
		host := u.Host
		if _, _, err := net.SplitHostPort(host); err != nil {
			port := "3306"
			if t.Dialect == db.Postgres {
				port = "5432"
			}
			host = net.JoinHostPort(u.Hostname(), port)
		}
		if cd.proxy, err = StartProxy(host); err != nil {
			cd.Close(ctx, false)
			return nil, err
		}
		u.Host = cd.proxy.Addr()
		cd.PipelineURL = u.String()
	}
	cd.Masked = db.MaskURL(raw)
	if cd.Direct, err = db.Open(ctx, raw); err != nil {
		cd.Close(ctx, false)
		return nil, err
	}
	return cd, nil
}

// Close closes the connection and the proxy and drops the database the run
// created, unless keep.
func (cd *DB) Close(ctx context.Context, keep bool) error {
	if cd.Direct != nil {
		cd.Direct.Close()
	}
	if cd.proxy != nil {
		cd.proxy.Close()
	}
	if cd.Created == "" || keep {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	admin, err := db.Open(ctx, cd.adminURL)
	if err != nil {
		return fmt.Errorf("dropping database %s: %w", cd.Created, err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+cd.Created); err != nil {
		return fmt.Errorf("dropping database %s: %w", cd.Created, err)
	}
	return nil
}
