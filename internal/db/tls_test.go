package db_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kraite/stream/internal/db"
	"github.com/kraite/stream/internal/db/dbtest"
	"github.com/kraite/stream/internal/testkit"
)

// pki is a throw-away CA with a server certificate (127.0.0.1, localhost)
// and a client certificate, as PEM files in a temp dir.
type pki struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newPKI(t *testing.T, name string) pki {
	t.Helper()
	dir := t.TempDir()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name + " CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	p := pki{CA: filepath.Join(dir, "ca.pem"), ServerCert: filepath.Join(dir, "server.pem"), ServerKey: filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"), ClientKey: filepath.Join(dir, "client-key.pem")}
	writePEM(t, p.CA, "CERTIFICATE", caDER)
	leaf := func(serial int64, cn string, usage x509.ExtKeyUsage, certFile, keyFile string, server bool) {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		if server {
			tmpl.IPAddresses, tmpl.DNSNames = []net.IP{net.ParseIP("127.0.0.1")}, []string{"localhost"}
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		writePEM(t, certFile, "CERTIFICATE", der)
		writePEM(t, keyFile, "PRIVATE KEY", kd)
	}
	leaf(2, "127.0.0.1", x509.ExtKeyUsageServerAuth, p.ServerCert, p.ServerKey, true)
	leaf(3, "kraite", x509.ExtKeyUsageClientAuth, p.ClientCert, p.ClientKey, false)
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startMariaDBTLS starts a throw-away mariadbd with TLS (the server
// certificate of p) on a free port in a temp dir: the shared server has
// TLS disabled, and it is never reconfigured. Grant tables are skipped (any
// user, no password: it listens on 127.0.0.1 for this test only). It
// returns the port; the server is stopped when the test ends.
func startMariaDBTLS(t *testing.T, p pki) int {
	t.Helper()
	bin, err := exec.LookPath("mariadbd")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/mariadbd"); err != nil {
			t.Skip("mariadbd is not installed: cannot start a TLS MariaDB")
		}
	}
	dir := t.TempDir()
	port := freePort(t)
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--port=" + fmt.Sprint(port),
		"--bind-address=127.0.0.1", "--socket=" + filepath.Join(dir, "s.sock"), "--pid-file=" + filepath.Join(dir, "m.pid"),
		"--skip-grant-tables", "--skip-log-bin", "--innodb-buffer-pool-size=16M", "--innodb-log-file-size=8M",
		"--log-error=" + filepath.Join(dir, "err.log"),
		"--ssl-ca=" + p.CA, "--ssl-cert=" + p.ServerCert, "--ssl-key=" + p.ServerKey}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	plain, err := sql.Open("mysql", fmt.Sprintf("root@tcp(127.0.0.1:%d)/", port))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	answered := false
	t.Cleanup(func() {
		if !answered {
			log, _ := os.ReadFile(filepath.Join(dir, "err.log"))
			t.Logf("mariadbd's error log:\n%s", log)
		}
	})
	testkit.Eventually(t, 60*time.Second, "mariadbd to answer", func() error {
		err := plain.Ping()
		select {
		case <-done:
			if err != nil {
				t.Fatalf("mariadbd ended: %v", err)
			}
		default:
		}
		return err
	})
	answered = true
	if _, err := plain.Exec("CREATE DATABASE kraite_tls"); err != nil {
		t.Fatal(err)
	}
	return port
}

// cipher is the TLS cipher of one connection of d ("" = plaintext).
func cipher(t *testing.T, d *db.DB) string {
	t.Helper()
	ctx := context.Background()
	conn, err := d.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var name, v string
	switch d.Dialect {
	case db.MySQL:
		err = conn.QueryRowContext(ctx, "SHOW STATUS LIKE 'Ssl_cipher'").Scan(&name, &v)
	case db.Postgres:
		err = conn.QueryRowContext(ctx, "SELECT COALESCE(cipher, '') FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&v)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// setTLSFiles sets the process's database TLS files until the test ends.
func setTLSFiles(t *testing.T, ca, cert, key string) {
	db.SetTLSFiles(db.TLSFiles{CA: ca, Cert: cert, Key: key})
	t.Cleanup(func() { db.SetTLSFiles(db.TLSFiles{}) })
}

// TestMySQLTLS: against a MariaDB that speaks TLS, tls=true verifies the
// server with KRAITE_DATABASE_TLS_CA_FILE (and presents a client
// certificate), migrations run over it, skip-verify and preferred encrypt,
// and the wrong CA is refused with an error that names TLS and the
// variable.
func TestMySQLTLS(t *testing.T) {
	good := newPKI(t, "good")
	port := startMariaDBTLS(t, good)
	base := fmt.Sprintf("mysql://root@127.0.0.1:%d/kraite_tls", port)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	open := func(t *testing.T, u string) (*db.DB, error) {
		t.Helper()
		d, err := db.Open(ctx, u)
		if err == nil {
			t.Cleanup(func() { d.Close() })
		}
		return d, err
	}
	t.Run("verified with the CA file and a client certificate", func(t *testing.T) {
		setTLSFiles(t, good.CA, good.ClientCert, good.ClientKey)
		for _, u := range []string{base + "?tls=true", base} { // the files imply tls=true
			d, err := open(t, u)
			if err != nil {
				t.Fatalf("%s: %v", u, err)
			}
			if c := cipher(t, d); c == "" {
				t.Fatalf("%s: the connection is not encrypted", u)
			}
		}
		d, _ := open(t, base)
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatalf("migrating over TLS: %v", err)
		}
	})
	t.Run("skip-verify and preferred encrypt without a CA", func(t *testing.T) {
		setTLSFiles(t, "", "", "")
		for _, mode := range []string{"skip-verify", "preferred"} {
			d, err := open(t, base+"?tls="+mode)
			if err != nil {
				t.Fatalf("%s: %v", mode, err)
			}
			if cipher(t, d) == "" {
				t.Errorf("tls=%s: not encrypted", mode)
			}
		}
		d, err := open(t, base)
		if err != nil || cipher(t, d) != "" {
			t.Errorf("without tls: %v (plaintext expected, as before)", err)
		}
	})
	t.Run("the wrong CA is refused and the error names TLS", func(t *testing.T) {
		wrong := newPKI(t, "wrong")
		setTLSFiles(t, wrong.CA, "", "")
		_, err := open(t, base+"?tls=true")
		if err == nil || !strings.Contains(err.Error(), "database TLS failed") || !strings.Contains(err.Error(), db.EnvTLSCAFile) ||
			!strings.Contains(err.Error(), "certificate") {
			t.Fatalf("wrong CA: %v", err)
		}
	})
	t.Run("system roots do not know the test CA", func(t *testing.T) {
		setTLSFiles(t, "", "", "")
		if _, err := open(t, base+"?tls=true"); err == nil || !strings.Contains(err.Error(), "database TLS failed") {
			t.Fatalf("tls=true without the CA: %v", err)
		}
	})
}

// TestPostgresTLS: the shared PostgreSQL speaks TLS (ssl = on, its
// self-signed localhost certificate): sslmode=require encrypts, verify-full
// with the server's certificate as the CA file verifies, a wrong CA is
// refused naming TLS, and sslmode=disable with TLS files is refused.
func TestPostgresTLS(t *testing.T) {
	d := dbtest.Postgres(t)
	var ssl, certFile string
	if err := d.QueryRowContext(context.Background(), "SHOW ssl").Scan(&ssl); err != nil {
		t.Fatal(err)
	}
	if ssl != "on" {
		t.Skip("the PostgreSQL server has ssl = off")
	}
	if err := d.QueryRowContext(context.Background(), "SHOW ssl_cert_file").Scan(&certFile); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dbtest.URL(d))
	if err != nil {
		t.Fatal(err)
	}
	with := func(host, sslmode string) string {
		v := *u
		v.Host = net.JoinHostPort(host, u.Port())
		q := v.Query()
		q.Del("sslmode")
		if sslmode != "" {
			q.Set("sslmode", sslmode)
		}
		v.RawQuery = q.Encode()
		return v.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	setTLSFiles(t, "", "", "")
	p, err := db.Open(ctx, with("127.0.0.1", "require"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if cipher(t, p) == "" {
		t.Fatal("sslmode=require: not encrypted")
	}

	if _, err := os.Stat(certFile); err == nil {
		// The server's self-signed certificate is its own CA (CN localhost).
		setTLSFiles(t, certFile, "", "")
		v, err := db.Open(ctx, with("localhost", ""))
		if err != nil {
			t.Fatalf("verify-full with the server's certificate: %v", err)
		}
		if cipher(t, v) == "" {
			t.Error("verify-full: not encrypted")
		}
		v.Close()
	}

	wrong := newPKI(t, "wrong")
	setTLSFiles(t, wrong.CA, "", "")
	if _, err := db.Open(ctx, with("localhost", "")); err == nil || !strings.Contains(err.Error(), "database TLS failed") ||
		!strings.Contains(err.Error(), db.EnvTLSCAFile) {
		t.Fatalf("wrong CA: %v", err)
	}
	if _, err := db.Open(ctx, with("127.0.0.1", "disable")); err == nil || !strings.Contains(err.Error(), "sslmode=disable") {
		t.Fatalf("sslmode=disable with a CA file: %v", err)
	}
}
