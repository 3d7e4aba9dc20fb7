package ops

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

func TestReadyURLProbesTheLoopbackOfAWildcardAddress(t *testing.T) {
	for addr, want := range map[string]string{
		"0.0.0.0:8080":   "http://127.0.0.1:8080/readyz",
		":8080":          "http://127.0.0.1:8080/readyz",
		"[::]:9000":      "http://[::1]:9000/readyz",
		"127.0.0.1:8080": "http://127.0.0.1:8080/readyz",
		"athena:8080":    "http://athena:8080/readyz",
		"[::1]:1":        "http://[::1]:1/readyz",
	} {
		got, err := ReadyURL(addr)
		if err != nil || got != want {
			t.Errorf("ReadyURL(%q) = %q, %v; want %q", addr, got, err, want)
		}
	}
	for _, bad := range []string{"", "8080", "host", "0.0.0.0:", "0.0.0.0:http", "0.0.0.0:80/x", "a:b:c",
		"\x1b[2J<b>:80", "\x1b]0;x\a", strings.Repeat("a", 1<<20) + ":80"} {
		got, err := ReadyURL(bad)
		if err == nil {
			t.Errorf("ReadyURL(%q) = %q, want an error", bad, got)
			continue
		}
		// The error goes to a terminal or the engine's log: no control
		// character, and not the whole of a huge value.
		if strings.ContainsFunc(err.Error(), unicode.IsControl) || len(err.Error()) > 4<<10 {
			t.Errorf("ReadyURL(%.40q): error %.300q", bad, err)
		}
	}
}

func TestCheckProbeURLRefusesWhatIsNotAnHTTPURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/readyz", "https://box:8443/readyz", "http://[::1]:1/x?y=1"} {
		if err := CheckProbeURL(ok); err != nil {
			t.Errorf("CheckProbeURL(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "readyz", "/readyz", "127.0.0.1:8080/readyz", "file:///etc/passwd",
		"gopher://x/", "http://", "http://user:secret@127.0.0.1/readyz", "http://%zz/", "unix:///run/x.sock",
		// Refused for another reason first, or unparsable: still no password.
		"ftp://user:secret@h/", "//user:secret@h/x", "user:secret@h/x", "http://user:secret@%zz/", "http://user:secret@h:xx/",
		"http://user:secret@h\x00/", "mailto:user:secret@h", "http://" + strings.Repeat("a", 1<<20) + "/readyz"} {
		err := CheckProbeURL(bad)
		if err == nil {
			t.Errorf("CheckProbeURL(%.60q): accepted", bad)
			continue
		}
		if strings.Contains(err.Error(), "secret") || len(err.Error()) > 4<<10 {
			t.Errorf("CheckProbeURL(%.60q) repeats the password or the URL: %.300v", bad, err)
		}
	}
}

// TestProbeOfARealOpsServer: a box's own /readyz, ready and then not, with
// the failing check's reason in the error.
func TestProbeOfARealOpsServer(t *testing.T) {
	s := NewServer(slog.New(slog.DiscardHandler))
	var down error
	s.Ready("orders-sink", func() error { return down })
	s.Ready("kafka-producer", func() error { return nil })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	u, err := ReadyURL("0.0.0.0:" + strings.TrimPrefix(ln.Addr().String(), "127.0.0.1:"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := Probe(ctx, u)
	if err != nil || !strings.Contains(body, "orders-sink: ok") {
		t.Fatalf("ready server: %q, %v", body, err)
	}
	down = errors.New("database unreachable for 40s")
	_, err = Probe(ctx, u)
	if err == nil || !strings.Contains(err.Error(), "503 Service Unavailable") ||
		!strings.Contains(err.Error(), "orders-sink: database unreachable for 40s") ||
		!strings.Contains(err.Error(), "kafka-producer: ok") {
		t.Fatalf("not-ready server: %v", err)
	}
}

func TestProbeRefusesGarbageHugeRedirectsAndSilence(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/huge", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	})
	mux.HandleFunc("/hugeok", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("y", 1<<20)))
	})
	mux.HandleFunc("/control", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("bad\x1b[2J\x00\xff\xfe line\n"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()

	if body, err := Probe(ctx, srv.URL+"/ok"); err != nil || body != "ok\n" {
		t.Errorf("/ok: %q, %v", body, err)
	}
	body, err := Probe(ctx, srv.URL+"/huge")
	if err == nil || len(body) > maxProbeBody+64 || len(err.Error()) > maxProbeBody+256 || !strings.HasSuffix(body, "cut at 4 KiB]") {
		t.Errorf("/huge: %d bytes of body, error of %d bytes: %v", len(body), len(errString(err)), err != nil)
	}
	if body, err := Probe(ctx, srv.URL+"/hugeok"); err != nil || len(body) > maxProbeBody+64 {
		t.Errorf("/hugeok: %d bytes, %v", len(body), err)
	}
	_, err = Probe(ctx, srv.URL+"/control")
	if err == nil || strings.ContainsAny(err.Error(), "\x1b\x00") || !strings.Contains(err.Error(), "500") {
		t.Errorf("/control: %q", errString(err))
	}
	if _, err := Probe(ctx, srv.URL+"/redirect"); err == nil || !strings.Contains(err.Error(), "302") {
		t.Errorf("/redirect is followed or ready: %v", err)
	}
	if _, err := Probe(ctx, srv.URL+"/nothing-here"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: %v", err)
	}
	sctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := Probe(sctx, srv.URL+"/slow"); err == nil || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("/slow: %v", err)
	}
	// Nothing listens: the reason is the connection error.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Probe(ctx, "http://"+addr+"/readyz"); err == nil || !strings.Contains(err.Error(), "not reachable") ||
		!strings.Contains(err.Error(), "refused") {
		t.Errorf("closed port: %v", err)
	}
	if _, err := Probe(ctx, "file:///etc/passwd"); err == nil {
		t.Error("a file URL is probed")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzPrintable: whatever a probed server answers, what is reported is
// valid UTF-8 without control characters other than newline and tab.
func FuzzPrintable(f *testing.F) {
	for _, s := range []string{"orders-sink: ok\n", "gate: database unreachable\n", "bad\x1b[2J\x00\xff\xfe", "\r\n\t\u2028é", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := printable(s)
		if !utf8.ValidString(out) {
			t.Fatalf("printable(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if unicode.IsControl(r) && r != '\n' && r != '\t' {
				t.Fatalf("printable(%q) = %q: control character %U", s, out, r)
			}
		}
	})
}

// FuzzReadyURL: any KRAITE_HTTP_ADDR is refused or becomes a URL the probe
// accepts, on the address's own port.
func FuzzReadyURL(f *testing.F) {
	for _, s := range []string{"0.0.0.0:8080", ":8080", "[::]:9000", "127.0.0.1:8080", "athena:8080", "", "host", "a:b:c", "[::1", "0.0.0.0:80/x", "user@host:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, addr string) {
		u, err := ReadyURL(addr)
		if err != nil {
			return
		}
		if err := CheckProbeURL(u); err != nil {
			t.Fatalf("ReadyURL(%q) = %q, which the probe refuses: %v", addr, u, err)
		}
		_, port, _ := net.SplitHostPort(addr)
		if !strings.HasSuffix(u, ":"+port+"/readyz") {
			t.Fatalf("ReadyURL(%q) = %q: not port %s", addr, u, port)
		}
	})
}
