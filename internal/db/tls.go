package db

// # Database TLS and URL options
//
// KRAITE_DATABASE_URL may carry options in its query. For MySQL/MariaDB
// only the go-sql-driver options below are accepted: any other key used to
// be sent to the server as a session variable (`?password=X` became
// `SET password=X` on every connection), so an unknown key is now an error
// that names the key (never its value). For PostgreSQL the query goes to
// pgx unchanged (sslmode, sslrootcert, sslcert, sslkey, ...).
//
// TLS:
//
//   - MySQL: tls=true (verify the server against the system roots, or the
//     CA of KRAITE_DATABASE_TLS_CA_FILE), tls=skip-verify (encrypt, verify
//     nothing), tls=preferred (TLS when the server offers it, else plain,
//     verify nothing), tls=false. KRAITE_DATABASE_TLS_CA_FILE, _CERT_FILE
//     and _KEY_FILE (a client certificate) make a verifying TLS config
//     registered with the driver; setting them implies tls=true.
//   - PostgreSQL: sslmode (pgx's default is prefer: TLS when offered,
//     unverified), sslrootcert, sslcert, sslkey in the URL. The same
//     KRAITE_DATABASE_TLS_* files fill sslrootcert/sslcert/sslkey when the
//     URL does not name them, a CA file without an sslmode means
//     sslmode=verify-full, and one with sslmode=allow or prefer (which
//     verify nothing) is refused.

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/go-sql-driver/mysql"
)

// The environment variables of the database's TLS files.
const (
	EnvTLSCAFile   = "KRAITE_DATABASE_TLS_CA_FILE"
	EnvTLSCertFile = "KRAITE_DATABASE_TLS_CERT_FILE"
	EnvTLSKeyFile  = "KRAITE_DATABASE_TLS_KEY_FILE"
)

// TLSFiles are the PEM files of a database TLS connection: the CA that
// signs the server's certificate, and a client certificate and key.
type TLSFiles struct {
	CA   string `env:"KRAITE_DATABASE_TLS_CA_FILE"`
	Cert string `env:"KRAITE_DATABASE_TLS_CERT_FILE"`
	Key  string `env:"KRAITE_DATABASE_TLS_KEY_FILE"`
}

func (f TLSFiles) set() bool { return f.CA != "" || f.Cert != "" || f.Key != "" }

var processTLS atomic.Pointer[TLSFiles]

// SetTLSFiles makes files the TLS files of every database URL this process
// parses from now on (the application sets them from its configuration:
// KRAITE_DATABASE_TLS_CA_FILE, _CERT_FILE and _KEY_FILE).
func SetTLSFiles(files TLSFiles) { processTLS.Store(&files) }

// tlsFiles are the files SetTLSFiles set (none before).
func tlsFiles() TLSFiles {
	if f := processTLS.Load(); f != nil {
		return *f
	}
	return TLSFiles{}
}

// mysqlOptions are the go-sql-driver DSN options a URL may set. Options
// Kraite fixes (parseTime, loc, time_zone, interpolateParams,
// multiStatements, clientFoundRows, columnsWithAlias) are not among them.
var mysqlOptions = []string{"tls", "timeout", "readTimeout", "writeTimeout", "charset", "collation",
	"maxAllowedPacket", "allowCleartextPasswords", "allowNativePasswords", "connectionAttributes",
	"rejectReadOnly", "checkConnLiveness"}

// mysqlApplyOptions applies the URL's query to cfg: known options only,
// each given once, validated by the driver; the TLS mode with files.
func mysqlApplyOptions(cfg *mysql.Config, q url.Values, files TLSFiles) (string, error) {
	var unknown, twice []string
	opts := url.Values{}
	for k, vs := range q {
		switch {
		case !slices.Contains(mysqlOptions, k):
			unknown = append(unknown, k)
		case len(vs) != 1:
			twice = append(twice, k)
		default:
			opts.Set(k, vs[0])
		}
	}
	sort.Strings(unknown)
	sort.Strings(twice)
	if len(unknown) > 0 {
		// The names only: a value may be a secret (?password=...).
		return "", fmt.Errorf("parsing database url: unknown mysql option(s) %s (known: %s; a password belongs in the user info: mysql://user:password@host/db)",
			strings.Join(unknown, ", "), strings.Join(mysqlOptions, ", "))
	}
	if len(twice) > 0 {
		return "", fmt.Errorf("parsing database url: mysql option(s) %s given more than once", strings.Join(twice, ", "))
	}
	mode := strings.ToLower(opts.Get("tls"))
	opts.Del("tls")
	if err := mysqlTLS(cfg, mode, files); err != nil {
		return "", err
	}
	dsn := cfg.FormatDSN()
	if len(opts) > 0 {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		dsn += sep + opts.Encode()
	}
	// The driver parses and validates the options (durations, sizes,
	// booleans) as it will when it connects.
	if _, err := mysql.ParseDSN(dsn); err != nil {
		return "", fmt.Errorf("parsing database url: mysql options: %w", err)
	}
	return dsn, nil
}

func mysqlTLS(cfg *mysql.Config, mode string, files TLSFiles) error {
	switch mode {
	case "", "true", "1":
		if mode == "" && !files.set() {
			return nil
		}
		tc, err := clientTLS(files, cfg.Addr)
		if err != nil {
			return err
		}
		name, err := registerMySQLTLS(tc, files, cfg.Addr)
		if err != nil {
			return err
		}
		cfg.TLSConfig = name
	case "skip-verify", "preferred":
		if files.CA != "" {
			return fmt.Errorf("parsing database url: tls=%s verifies nothing, but %s is set: use tls=true to verify the server with it", mode, EnvTLSCAFile)
		}
		if files.Cert != "" || files.Key != "" {
			return fmt.Errorf("parsing database url: tls=%s with a client certificate: use tls=true", mode)
		}
		cfg.TLSConfig = mode
	case "false", "0":
		if files.set() {
			return fmt.Errorf("parsing database url: tls=false, but KRAITE_DATABASE_TLS_* files are set")
		}
	default:
		return fmt.Errorf("parsing database url: tls=%q: want true, skip-verify, preferred or false", mode)
	}
	return nil
}

// clientTLS is a verifying client config: the CA file's roots (else the
// system's), the server name of addr, and the client certificate.
func clientTLS(files TLSFiles, addr string) (*tls.Config, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if files.CA != "" {
		pem, err := os.ReadFile(files.CA)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", EnvTLSCAFile, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: %s holds no PEM certificate", EnvTLSCAFile, files.CA)
		}
		tc.RootCAs = pool
	}
	switch {
	case files.Cert != "" && files.Key != "":
		cert, err := tls.LoadX509KeyPair(files.Cert, files.Key)
		if err != nil {
			return nil, fmt.Errorf("%s/%s: %w", EnvTLSCertFile, EnvTLSKeyFile, err)
		}
		tc.Certificates = []tls.Certificate{cert}
	case files.Cert != "" || files.Key != "":
		return nil, fmt.Errorf("%s and %s go together: set both or neither", EnvTLSCertFile, EnvTLSKeyFile)
	}
	return tc, nil
}

// registerMySQLTLS registers tc with the driver under a name derived from
// the files and the server, so the same configuration opened twice shares
// one name and the DSN stays a string.
func registerMySQLTLS(tc *tls.Config, files TLSFiles, addr string) (string, error) {
	h := sha256.Sum256([]byte(files.CA + "\x00" + files.Cert + "\x00" + files.Key + "\x00" + addr))
	name := "kraite-" + hex.EncodeToString(h[:8])
	if err := mysql.RegisterTLSConfig(name, tc); err != nil {
		return "", fmt.Errorf("registering the database TLS config: %w", err)
	}
	return name, nil
}

// postgresDSN adds the KRAITE_DATABASE_TLS_* files to a postgres URL that
// does not name its own, and verify-full when a CA is given without an
// sslmode.
func postgresDSN(u *url.URL, files TLSFiles) (string, error) {
	if !files.set() {
		return u.String(), nil
	}
	if (files.Cert == "") != (files.Key == "") {
		return "", fmt.Errorf("%s and %s go together: set both or neither", EnvTLSCertFile, EnvTLSKeyFile)
	}
	q := u.Query()
	switch m := q.Get("sslmode"); {
	case m == "disable":
		return "", fmt.Errorf("parsing database url: sslmode=disable, but KRAITE_DATABASE_TLS_* files are set")
	case (m == "allow" || m == "prefer") && files.CA != "":
		// pgx verifies nothing in these modes (and falls back to plain
		// text): the CA would be ignored, as MySQL's tls=preferred is
		// refused with one.
		return "", fmt.Errorf("parsing database url: sslmode=%s verifies nothing, but %s is set: use sslmode=verify-full (or verify-ca) to verify the server with it", m, EnvTLSCAFile)
	}
	for k, v := range map[string]string{"sslrootcert": files.CA, "sslcert": files.Cert, "sslkey": files.Key} {
		if v != "" && !q.Has(k) {
			q.Set(k, v)
		}
	}
	if files.CA != "" && !q.Has("sslmode") {
		q.Set("sslmode", "verify-full")
	}
	v := *u
	v.RawQuery = q.Encode()
	return v.String(), nil
}

// secretKey reports whether a URL query key holds a secret.
func secretKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "pass") || strings.Contains(k, "secret") || strings.Contains(k, "token") || k == "pwd"
}

// tlsFailure names TLS in a connection error caused by the handshake or
// the server's certificate.
func tlsFailure(err error) error {
	var unk x509.UnknownAuthorityError
	var host x509.HostnameError
	var inv x509.CertificateInvalidError
	var verr *tls.CertificateVerificationError
	var rec tls.RecordHeaderError
	if errors.As(err, &unk) || errors.As(err, &host) || errors.As(err, &inv) || errors.As(err, &verr) || errors.As(err, &rec) ||
		strings.Contains(err.Error(), "tls:") || strings.Contains(err.Error(), "x509:") ||
		errors.Is(err, mysql.ErrNoTLS) || strings.Contains(err.Error(), "server refused TLS") {
		return fmt.Errorf("database TLS failed (%w): check the tls/sslmode option of KRAITE_DATABASE_URL and %s (the CA that signed the server's certificate)", err, EnvTLSCAFile)
	}
	return err
}
